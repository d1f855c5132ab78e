"""Register the local demo OAuth providers as the ``demo`` (OAuth 2) and
``demo-oauth1`` (OAuth 1.0a) Providers (``make run`` does)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.demo_provider.registration import (
    register_demo_oauth1_provider,
    register_demo_provider,
)


class Command(BaseCommand):
    help = (
        "Create or update the demo OAuth 2 and OAuth 1.0a applications and their "
        "'demo' and 'demo-oauth1' Providers (DEBUG only)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="where the site runs (default http://127.0.0.1:8000)",
        )

    def handle(self, *args, base_url, **options):
        if not settings.DEBUG:
            raise CommandError("the demo provider is for local development: set DEBUG=true")
        provider, _ = register_demo_provider(base_url)
        oauth1_provider, _ = register_demo_oauth1_provider(base_url)
        base = base_url.rstrip("/")
        self.stdout.write(
            f"Demo providers ready: log in, then open {base}/integrations/connect/"
            f"{provider.slug}/ (OAuth 2) or {base}/integrations/connect/"
            f"{oauth1_provider.slug}/ (OAuth 1.0a), or connect them from My connections."
        )
