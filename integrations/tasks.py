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

Webhooks (:mod:`integrations.webhooks`) the same way: ``deliver_webhook(delivery_id)``
attempts one delivery (queued after the event's transaction commits when
``INTEGRATIONS["WEBHOOK_TASK_ENGINE"]`` is ``"celery"``, or ``"django"`` for
``django_deliver_webhook``), and ``deliver_webhooks(limit=100)`` is the periodic
sweep (``django_deliver_webhooks``) that delivers whatever is due: retries, and
events no engine took. Any number of them may run at once: each attempt is
made by one worker.
"""

import importlib

from . import tokens, webhooks


def refresh_expiring_now(*, within=600, limit=None):
    """Refresh the integrations expiring within ``within`` seconds (at most
    ``limit``, soonest first) and return the counts per outcome (JSON-ready)."""
    if isinstance(within, bool) or not isinstance(within, int) or within < 0:
        raise ValueError("within must be 0 or more seconds")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError("limit must be at least 1")
    report = tokens.refresh_expiring(within=within, limit=limit)
    return {str(outcome): count for outcome, count in report.counts.items()}


def deliver_webhook_now(delivery_id):
    """Attempt one webhook delivery if it is due and unclaimed; its outcome."""
    return webhooks.deliver(str(delivery_id))


def deliver_webhooks_now(*, limit=100):
    """Attempt up to ``limit`` due webhook deliveries; the counts per outcome."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError("limit must be at least 1")
    return webhooks.deliver_due(limit=limit)


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

    # A failed attempt is rescheduled in the delivery's row (next_attempt_at),
    # where the sweep finds it: never a Celery retry, which would skip the schedule.
    @shared_task(name="integrations.tasks.deliver_webhook", ignore_result=True)
    def deliver_webhook(delivery_id):
        return deliver_webhook_now(delivery_id)

    @shared_task(name="integrations.tasks.deliver_webhooks")
    def deliver_webhooks(*, limit=100):
        return deliver_webhooks_now(limit=limit)

    webhooks.register_task_engine("celery", lambda pk: deliver_webhook.delay(pk))


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

    @django_task
    def django_deliver_webhook(delivery_id):
        return deliver_webhook_now(delivery_id)

    @django_task
    def django_deliver_webhooks(*, limit=100):
        return deliver_webhooks_now(limit=limit)

    webhooks.register_task_engine(
        "django", lambda pk: django_deliver_webhook.enqueue(delivery_id=pk)
    )


def __getattr__(name):
    if name in ("refresh_expiring_tokens", "deliver_webhook", "deliver_webhooks"):
        raise ImportError(
            f"integrations.tasks.{name} is a Celery task: "
            "install Celery with pip install 'sealed-integrations[celery]'"
        )
    if name in (
        "django_refresh_expiring_tokens",
        "django_deliver_webhook",
        "django_deliver_webhooks",
    ):
        raise ImportError(
            f"integrations.tasks.{name} needs Django's "
            "tasks framework (Django 6, or the django-tasks backport on 5.2)"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
