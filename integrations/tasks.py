"""Background refresh on a task engine: a Celery task, and a Django task.

``refresh_expiring_tokens(within=600, limit=None)`` does what the
``refresh_expiring_tokens`` command does (:func:`tokens.refresh_expiring`) and
returns its counts, e.g. ``{"refreshed": 3, "fresh": 1}``. Many workers may run
it at once: each row's refresh lease lets one of them refresh it, the others
skip it or find it fresh. Schedule it with Celery beat (see ``config/celery.py``
and the docs' "Refresh tokens on a schedule").

Celery is an optional extra (``sealed-integrations[celery]``): without it this
module still imports (Django's tasks framework, Celery's autodiscovery), and only
the Celery task's name fails, with an ImportError that says what to install.
On Django 6 (or with the ``django-tasks`` backport on 5.2) the same function is
also ``django_refresh_expiring_tokens``, a task of Django's tasks framework.
"""

import importlib

from . import tokens


def refresh_expiring_now(*, within=600, limit=None):
    """Refresh the integrations expiring within ``within`` seconds (at most
    ``limit``, soonest first) and return the counts per outcome (JSON-ready)."""
    if isinstance(within, bool) or not isinstance(within, int) or within < 0:
        raise ValueError("within must be 0 or more seconds")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError("limit must be at least 1")
    report = tokens.refresh_expiring(within=within, limit=limit)
    return {str(outcome): count for outcome, count in report.counts.items()}


try:
    from celery import shared_task
except ImportError:  # the celery extra is not installed
    shared_task = None
else:
    # Provider failures that may pass are retried inside the refresh (tenacity,
    # within the row's lease); a Celery retry would run the whole batch again.
    @shared_task(name="integrations.tasks.refresh_expiring_tokens")
    def refresh_expiring_tokens(*, within=600, limit=None):
        return refresh_expiring_now(within=within, limit=limit)


def _django_task_decorator():
    """``task`` of Django's tasks framework: Django 6's, else the 5.2 backport's."""
    for module in ("django.tasks", "django_tasks"):
        try:
            return importlib.import_module(module).task
        except ImportError:
            continue
    return None


django_task = _django_task_decorator()
if django_task is not None:

    @django_task
    def django_refresh_expiring_tokens(*, within=600, limit=None):
        return refresh_expiring_now(within=within, limit=limit)


def __getattr__(name):
    if name == "refresh_expiring_tokens":
        raise ImportError(
            "integrations.tasks.refresh_expiring_tokens is a Celery task: "
            "install Celery with pip install 'sealed-integrations[celery]'"
        )
    if name == "django_refresh_expiring_tokens":
        raise ImportError(
            "integrations.tasks.django_refresh_expiring_tokens needs Django's "
            "tasks framework (Django 6, or the django-tasks backport on 5.2)"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
