import json

from django.core.management.base import BaseCommand, CommandError

from integrations.crypto import CryptoError
from integrations.sealed.conf import app_settings
from integrations.sealed.inventory import column_status
from integrations.sealed.resealing import sealed_columns


class Command(BaseCommand):
    help = (
        "Count, per sealed field, the stored values by key version, plaintext, empty and "
        "NULL, and flag key versions missing from the keyring. Reads headers only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", action="append", dest="models", metavar="app_label.Model")
        parser.add_argument("--json", action="store_true", help="Machine-readable output.")

    def handle(self, *args, models=None, json=False, **options):
        try:
            keyring = app_settings.keyring
            columns = sealed_columns(models)
        except CryptoError as exc:
            raise CommandError(str(exc)) from None
        except (LookupError, ValueError) as exc:
            raise CommandError(f"unknown model: {exc}") from None
        statuses = [column_status(model, f) for model, f in columns]
        if json:
            self.stdout.write(_dumps(keyring, statuses))
            return
        self.stdout.write(
            f"Keyring: primary version {keyring.primary_version}; versions "
            f"{', '.join(map(str, keyring.versions))}"
            + (
                f"; minimum decryption version {keyring.min_decryption_version}"
                if keyring.min_decryption_version
                else ""
            )
        )
        for status in statuses:
            versions = ", ".join(f"v{v}: {n}" for v, n in sorted(status.by_version.items())) or "-"
            line = (
                f"{status.model}.{status.field}: {status.total} rows; {versions}; "
                f"plaintext: {status.plaintext}; empty: {status.empty}; null: {status.null}"
            )
            if status.malformed:
                line += f"; malformed: {status.malformed}"
            self.stdout.write(line)
            if status.needs_rotation:
                self.stdout.write(
                    f"  {status.needs_rotation} value(s) not on the primary key: "
                    "run `manage.py rotate_keys`"
                )
            if status.plaintext:
                self.stdout.write("  plaintext values: run `manage.py encrypt_legacy`")
            if status.missing_versions:
                self.stdout.write(
                    self.style.ERROR(
                        f"  key version(s) {', '.join(map(str, status.missing_versions))} are "
                        "not in the keyring: those values cannot be opened"
                    )
                )
            if status.retired_versions:
                self.stdout.write(
                    self.style.WARNING(
                        f"  retired key version(s) {', '.join(map(str, status.retired_versions))} "
                        "still in use"
                    )
                )


def _dumps(keyring, statuses):
    return json.dumps(
        {
            "primary_version": keyring.primary_version,
            "versions": list(keyring.versions),
            "min_decryption_version": keyring.min_decryption_version,
            "fields": [s.as_dict() for s in statuses],
        },
        indent=2,
    )
