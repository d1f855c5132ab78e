from django.apps import AppConfig
from django.db.models.signals import pre_migrate


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
        from .audit import record_reseal_run
        from .migration_defaults import on_pre_migrate
        from .resealing import reseal_run_finished

        reseal_run_finished.connect(record_reseal_run, dispatch_uid="integrations.audit.reseal_run")
        # Seal sealed fields' migration defaults into existing rows, per row.
        pre_migrate.connect(on_pre_migrate, sender=self, dispatch_uid="integrations.seal_defaults")
