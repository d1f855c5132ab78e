from django.apps import AppConfig
from django.db.models.signals import pre_migrate
from django.utils.translation import gettext_lazy as _


class SealedConfig(AppConfig):
    """Sealed fields, checks and key commands; creates no table."""

    name = "integrations.sealed"
    label = "integrations_sealed"
    verbose_name = _("Sealed values")

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
        from .migration_defaults import on_pre_migrate

        # Seal sealed fields' migration defaults into existing rows, per row.
        pre_migrate.connect(on_pre_migrate, sender=self, dispatch_uid="integrations.seal_defaults")
