from importlib.util import find_spec

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

# The integrations layer's keys of the INTEGRATIONS dict exist before any
# setting is read or validated.
from . import conf  # noqa: F401

# What the `app` extra installs (pyproject.toml), by import name. Fields-only mode
# ("integrations.sealed" alone) needs none of them, so a plain
# `pip install sealed-integrations` leaves them out.
APP_EXTRA_MODULES = (
    "authlib",
    "oauthlib",
    "joserfc",
    "requests",
    "httpx",
    "django_ratelimit",
    "tenacity",
    "jsonschema",
    "standardwebhooks",
)


def require_app_extra():
    """Stop a project that installs the integrations app without its extra, with one
    message naming the pip line, before any module of the app fails on its own
    (deep in the admin's autodiscovery, the URLconf or a model import)."""
    missing = [name for name in APP_EXTRA_MODULES if find_spec(name) is None]
    if missing:
        raise ImproperlyConfigured(
            '"integrations" in INSTALLED_APPS needs the app\'s dependencies (missing: '
            f'{", ".join(missing)}): pip install "sealed-integrations[app]". Only sealed '
            'fields? Install "integrations.sealed" alone instead (fields-only mode).'
        )


# Before any module that needs the extra: this module is the first Django loads
# (conf above needs nothing but Django).
require_app_extra()


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("Integrations")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.core import checks as django_checks

        from . import checks  # noqa: F401  (registers the system checks)
        from .providers.checks import check_provider_catalog

        django_checks.register(check_provider_catalog)
        from .audit import record_reseal_action, record_reseal_run
        from .sealed.resealing import reseal_action_finished, reseal_run_finished

        # Every rotate_keys / encrypt_legacy run becomes an audit event.
        reseal_run_finished.connect(record_reseal_run, dispatch_uid="integrations.audit.reseal_run")
        # So is every admin "Re-seal selected" action, whichever model's admin.
        reseal_action_finished.connect(
            record_reseal_action, dispatch_uid="integrations.audit.reseal_action"
        )
        from django.db.backends.signals import connection_created

        from .outages import database_connected

        # A new database connection ends an outage of that database (one log line).
        connection_created.connect(
            database_connected, dispatch_uid="integrations.outages.database_connected"
        )
        from .notifications import email_owner_to_reconnect
        from .signals import integration_needs_reauth

        # NOTIFY_REAUTH_BY_EMAIL: the owner hears when a connection must be made again.
        integration_needs_reauth.connect(
            email_owner_to_reconnect, dispatch_uid="integrations.notifications.reauth"
        )
        from . import tasks  # noqa: F401  (registers the webhooks' task engines)
        from .signals import change_recorded
        from .webhooks import on_change_recorded, on_reseal_run

        # Webhooks: each change's events are written in its transaction (an outbox),
        # and every finished key rotation is one too.
        change_recorded.connect(on_change_recorded, dispatch_uid="integrations.webhooks.changes")
        reseal_run_finished.connect(on_reseal_run, dispatch_uid="integrations.webhooks.reseal")
