"""System checks of the integrations layer: what the full app needs around it.

The sealed-values checks (keys, plaintext reads, purposes, the error reporter)
live in :mod:`integrations.sealed.checks` and are re-exported here.
"""

from django.apps import apps
from django.core import checks
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .sealed.checks import (  # noqa: F401  (the public names of the checks)
    KEY_HINT,
    check_exception_reporter,
    check_keyring,
    check_plaintext_reads,
    check_unique_purposes,
)

# What the integrations app cannot work without, and why.
REQUIRED_APPS = {
    "integrations.sealed": gettext_lazy("the sealed fields, the keyring and the key commands"),
    "django.contrib.auth": gettext_lazy("owners of integrations and credentials"),
    "django.contrib.contenttypes": gettext_lazy("permissions"),
    "django.contrib.sessions": gettext_lazy(
        "the OAuth state and PKCE verifier between connect and callback"
    ),
    "django.contrib.messages": gettext_lazy("the outcome messages of the user pages"),
}


@checks.register()
def check_required_apps(app_configs=None, **kwargs):
    """The full app is installed without what it builds on."""
    return [
        checks.Error(
            _("'integrations' needs %(app)r in INSTALLED_APPS (%(why)s).")
            % {"app": name, "why": why},
            hint=_(
                'INSTALLED_APPS = [..., "integrations.sealed", "integrations"]; a project '
                'that only wants sealed fields lists "integrations.sealed" alone.'
            ),
            id="integrations.E020",
        )
        for name, why in REQUIRED_APPS.items()
        if not apps.is_installed(name)
    ]


def _webhook_engine_available(engine):
    from importlib.util import find_spec

    if engine == "celery":
        return find_spec("celery") is not None
    return any(_spec_exists(name) for name in ("django.tasks", "django_tasks"))


def _spec_exists(name):
    from importlib.util import find_spec

    try:
        return find_spec(name) is not None
    except ModuleNotFoundError:
        return False


@checks.register()
def check_webhook_settings(app_configs=None, **kwargs):
    """The webhooks' task engine exists and their retry schedule is a list of waits."""
    from .conf import app_settings

    errors = []
    engine = app_settings.WEBHOOK_TASK_ENGINE
    if engine is not None and (
        engine not in ("celery", "django") or not _webhook_engine_available(engine)
    ):
        errors.append(
            checks.Error(
                _(
                    "INTEGRATIONS['WEBHOOK_TASK_ENGINE'] is %(engine)r: not an engine that "
                    "is installed."
                )
                % {"engine": engine},
                hint=_(
                    '"celery" (the celery extra), "django" (Django 6, or django-tasks on '
                    "5.2), or None: the deliver_webhooks sweep alone."
                ),
                id="integrations.E060",
            )
        )
    schedule = app_settings.WEBHOOK_RETRY_SCHEDULE_SECONDS
    if not all(
        isinstance(wait, int | float) and not isinstance(wait, bool) and wait >= 0
        for wait in schedule
    ):
        errors.append(
            checks.Error(
                _("INTEGRATIONS['WEBHOOK_RETRY_SCHEDULE_SECONDS'] must list seconds >= 0."),
                id="integrations.E061",
            )
        )
    return errors
