"""Register the local demo OAuth provider as the ``demo`` Provider (``make run`` does)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.demo_provider.registration import register_demo_provider


class Command(BaseCommand):
    help = "Create or update the demo OAuth application and its 'demo' Provider (DEBUG only)."

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
        self.stdout.write(
            f"Demo provider ready: log in, then open {base_url.rstrip('/')}"
            f"/integrations/connect/{provider.slug}/ (or the home page's 'Connect Demo')."
        )
