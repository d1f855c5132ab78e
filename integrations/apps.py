from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
        from .audit import record_reseal_run
        from .resealing import reseal_run_finished

        reseal_run_finished.connect(record_reseal_run, dispatch_uid="integrations.audit.reseal_run")
