"""Print every keyring entry wrapped under the KEK configured now, primary first.

After a KEK rotation (a new ``KEY_LABEL`` or ``KEY_ID``), or to wrap plaintext
entries for the first time: the printed lines replace ``ENCRYPTION_KEYS`` in the
secret store, and once deployed the old KEK can be destroyed. The data keys do
not change, so no value in the database does. Only the wrapped entries go to
stdout (one per line, for a script to capture); a wrapped blob is useless without
the KEK, an unwrapped key is never printed. ``--index-keys`` does the same for
``INDEX_KEYS``, wrapping them as index keys (their own wrap purpose; entries
wrapped before it existed, under the data keys' purpose, are read and re-wrapped).
"""

from django.core.management.base import BaseCommand, CommandError

from integrations.crypto import CryptoError
from integrations.crypto.entries import rewrap_entries
from integrations.sealed.conf import app_settings


class Command(BaseCommand):
    help = (
        "Print every ENCRYPTION_KEYS entry re-wrapped under the KEK now configured in "
        "INTEGRATIONS['KEY_WRAPPER'], primary first, one per line. Nothing in the database "
        "changes."
    )
    # Its own errors name the entry that fails; the keyring check would only repeat them.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--index-keys",
            dest="index_keys",
            action="store_true",
            help="Re-wrap INTEGRATIONS['INDEX_KEYS'] instead, as index keys.",
        )

    def handle(self, *args, index_keys=False, **options):
        if index_keys and not app_settings.INDEX_KEYS:
            raise CommandError(
                "INTEGRATIONS['INDEX_KEYS'] is not set: the index keys are derived from the "
                "encryption keys, which rewrap_keys (without --index-keys) re-wraps"
            )
        if not index_keys and app_settings.KEY_PROVIDER:
            raise CommandError(
                "INTEGRATIONS['KEY_PROVIDER'] supplies the keys: rewrap_keys works on "
                "ENCRYPTION_KEYS only"
            )
        setting = "INDEX_KEYS" if index_keys else "ENCRYPTION_KEYS"
        try:
            wrapper = app_settings.key_wrapper
            if wrapper is None:
                raise CommandError(
                    "rewrap_keys needs INTEGRATIONS['KEY_WRAPPER'] (the KMS or HSM whose KEK "
                    "wraps the keys)"
                )
            if not index_keys:
                _ = app_settings.keyring  # duplicates, a retired primary: refused first
            entries = rewrap_entries(getattr(app_settings, setting), wrapper, index_keys=index_keys)
            kek = wrapper.describe()
        except CryptoError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write("\n".join(entries))
        what = "key version(s) wrapped"
        if index_keys:
            what = "index key version(s) wrapped as index keys"
        self.stderr.write(
            f"{len(entries)} {what} under the {wrapper.backend} KEK {kek}. "
            f"Replace INTEGRATIONS['{setting}'] with these entries, in this order, and "
            "deploy; the old KEK can be destroyed once no configuration uses the old entries."
        )
