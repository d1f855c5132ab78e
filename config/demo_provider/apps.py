from django.apps import AppConfig


class DemoProviderConfig(AppConfig):
    name = "config.demo_provider"
    label = "demo_provider"
    verbose_name = "Demo OAuth provider"
