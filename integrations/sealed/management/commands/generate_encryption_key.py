"""Print a new random key as a ready keyring entry, ``N:<base64url>``.

The only output on stdout is the entry, so scripts can capture it
(``make run`` writes it to `.env`). This is the one command whose purpose is to
output key material: it comes from the OS CSPRNG and is never stored or logged.
"""

from django.core.management.base import BaseCommand, CommandError

from integrations.crypto import CryptoError, generate_key
from integrations.sealed.conf import app_settings


class Command(BaseCommand):
    help = "Print a new 32-byte encryption key as an 'N:<base64>' keyring entry."
    # Must work before any key exists, and while the configured ones are broken.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--key-version",
            dest="key_version",
            type=int,
            help="Version number for the key (default: one above the highest configured "
            "version, or 1 when none is configured).",
        )

    def handle(self, *args, key_version=None, **options):
        if key_version is None:
            key_version = self._next_version()
        try:
            entry = generate_key(key_version)
        except CryptoError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(entry)
        self.stderr.write(
            f"Put this entry first in INTEGRATIONS['ENCRYPTION_KEYS'] to make key version "
            f"{key_version} the primary; keep the older entries after it until "
            "`manage.py rotate_keys` has re-sealed everything. (The demo project reads "
            "the list from INTEGRATIONS_ENCRYPTION_KEYS.)"
        )

    def _next_version(self):
        try:
            versions = app_settings.keyring.versions
        except (CryptoError, Exception):
            return 1
        return max(versions) + 1
