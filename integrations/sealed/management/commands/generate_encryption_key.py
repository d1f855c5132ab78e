"""Print a new random key as a ready keyring entry, ``N:<base64url>``.

With ``--wrap``, the new key is wrapped by ``INTEGRATIONS["KEY_WRAPPER"]`` and
the entry is ``N:wrapped:<base64url>``: the plaintext key then exists only in
this process's memory for the moment it takes to wrap it, and is never printed.
With ``--index-key`` it is wrapped as an ``INDEX_KEYS`` entry (its own wrap
purpose: it does not unwrap as a data key).

The only output on stdout is the entry, so scripts can capture it
(``make run`` writes it to `.env`). This is the one command whose purpose is to
output key material: it comes from the OS CSPRNG and is never stored or logged.
"""

import os

from django.core.management.base import BaseCommand, CommandError

from integrations.crypto import KEY_SIZE, CryptoError, generate_key
from integrations.crypto.wrapping import INDEX_PURPOSE, PURPOSE, wrap_entry
from integrations.sealed.conf import app_settings
from integrations.sealed.redaction import register_key_material


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
        parser.add_argument(
            "--wrap",
            action="store_true",
            help="Wrap the new key with INTEGRATIONS['KEY_WRAPPER'] (a KMS or HSM) and print "
            "an 'N:wrapped:<base64url>' entry; the plaintext key is never printed.",
        )
        parser.add_argument(
            "--index-key",
            dest="index_key",
            action="store_true",
            help="A key for INTEGRATIONS['INDEX_KEYS'] (with --wrap: wrapped as an index "
            "key, which does not unwrap as an encryption key).",
        )

    def handle(self, *args, key_version=None, wrap=False, index_key=False, **options):
        if key_version is None:
            key_version = self._next_version(index_key)
        try:
            if wrap:
                entry = self._wrapped(key_version, INDEX_PURPOSE if index_key else PURPOSE)
            else:
                entry = generate_key(key_version)
        except CryptoError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(entry)
        if index_key:
            self.stderr.write(
                f"Put this entry first in INTEGRATIONS['INDEX_KEYS'] to make index key version "
                f"{key_version} the primary; `manage.py rotate_keys` re-indexes the searchable "
                "fields."
            )
            return
        self.stderr.write(
            f"Put this entry first in INTEGRATIONS['ENCRYPTION_KEYS'] to make key version "
            f"{key_version} the primary; keep the older entries after it until "
            "`manage.py rotate_keys` has re-sealed everything. Read the setting from an "
            "environment variable or your secret store, never from source control."
        )

    def _wrapped(self, key_version, purpose):
        generate_key(key_version)  # validates the version before the KMS/HSM is called
        wrapper = app_settings.key_wrapper
        if wrapper is None:
            raise CommandError(
                "--wrap needs INTEGRATIONS['KEY_WRAPPER'] (the KMS or HSM that wraps the key)"
            )
        key = os.urandom(KEY_SIZE)
        register_key_material(key)  # whatever the wrapper's libraries log, redacted
        return wrap_entry(wrapper, key_version, key, purpose=purpose)

    def _next_version(self, index_key=False):
        try:
            if index_key:
                versions = app_settings.index_keys.versions if app_settings.INDEX_KEYS else ()
            else:
                versions = app_settings.keyring.versions
        except (CryptoError, Exception):
            return 1
        return max(versions, default=0) + 1
