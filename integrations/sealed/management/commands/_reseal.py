"""What rotate_keys and encrypt_legacy share: options, progress, the summary table.

(A leading underscore keeps Django from listing this module as a command.)
"""

import getpass
import json
import sys

from django.core.management.base import BaseCommand, CommandError

from integrations.crypto import CryptoError
from integrations.sealed.resealing import (
    count_work,
    reseal_field,
    reseal_run_finished,
    sealed_columns,
)

COLUMNS = (
    "model.field",
    "re-sealed",
    "current",
    "plaintext",
    "empty/null",
    "changed",
    "remaining",
    "unreadable",
)


class ResealCommand(BaseCommand):
    mode: str  # set by subclasses
    command_name: str  # set by subclasses: the name the audit log shows
    verb = "re-sealed"

    def add_arguments(self, parser):
        parser.add_argument(
            "--model",
            action="append",
            dest="models",
            metavar="app_label.Model",
            help="Only this model (repeatable). Default: every sealed field of every "
            "installed model.",
        )
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Rows per transaction (default 500)."
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Open every value and count what would change; write nothing.",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print a machine-readable summary instead of the table.",
        )
        parser.add_argument(
            "--actor",
            metavar="NAME",
            help="Who runs this, for the audit log (default: the OS user).",
        )

    def handle(
        self, *args, models=None, batch_size=500, dry_run=False, json=False, actor=None, **options
    ):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            columns = sealed_columns(models)
        except (LookupError, ValueError) as exc:
            raise CommandError(f"unknown model: {exc}") from None
        reports = []
        completed = False
        try:
            for model, sealed_field in columns:
                reports.append(self._run_one(model, sealed_field, batch_size, dry_run))
            completed = True
        except CryptoError as exc:  # the keyring itself is unusable
            raise CommandError(str(exc)) from None
        finally:
            # Every run opens values: it is audited whether it finished or not.
            reseal_run_finished.send(
                sender=type(self),
                command=self.command_name,
                initiator=initiator_label(actor),
                reports=reports,
                dry_run=dry_run,
                completed=completed,
            )
        if json:
            self.stdout.write(_json_dump(self.mode, dry_run, reports))
        else:
            self._print_table(reports, dry_run)
        unreadable = [(r, item) for r in reports for item in r.unreadable]
        if unreadable:
            for report, item in unreadable:
                version = f" (key version {item.key_version})" if item.key_version else ""
                self.stderr.write(
                    f"unreadable: {report.model}.{report.field} pk={item.pk}: {item.error}{version}"
                )
            raise CommandError(
                f"{len(unreadable)} value(s) could not be opened and were left as they are; "
                "see docs/KEYS.md, 'When a value is unreadable'."
            )

    def _run_one(self, model, sealed_field, batch_size, dry_run):
        label = f"{model._meta.label}.{sealed_field.name}"
        total = count_work(model, sealed_field, mode=self.mode)
        progress = _progress(label, total, self.stderr)
        try:
            return reseal_field(
                model,
                sealed_field,
                mode=self.mode,
                batch_size=batch_size,
                dry_run=dry_run,
                progress=progress.update,
            )
        finally:
            progress.close()

    def _print_table(self, reports, dry_run):
        rows: list[tuple[object, ...]] = [
            (
                f"{r.model}.{r.field}",
                r.resealed,
                r.current,
                r.plaintext,
                r.empty,
                r.changed,
                r.remaining,
                len(r.unreadable),
            )
            for r in reports
        ]
        header = list(COLUMNS)
        if dry_run:
            header[1] = "would re-seal"
        if any(r.reindexed for r in reports):
            # Searchable fields: blind indexes recomputed (in the same batches).
            header.append("re-indexed")
            rows = [(*row, r.reindexed) for row, r in zip(rows, reports, strict=True)]
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            cells = [str(row[0]).ljust(widths[0])]
            cells += [
                str(value).rjust(width) for value, width in zip(row[1:], widths[1:], strict=True)
            ]
            self.stdout.write("  ".join(cells).rstrip())
        if not rows:
            self.stdout.write("No sealed fields found.")


def initiator_label(actor):
    """A label for who ran the command: ``--actor``, else the OS account."""
    if actor:
        return actor
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name and no passwd entry (containers)
        return "os:unknown"


def _json_dump(mode, dry_run, reports):
    return json.dumps(
        {"mode": mode, "dry_run": dry_run, "fields": [r.as_dict() for r in reports]}, indent=2
    )


class _PlainProgress:
    """Progress as occasional lines, for logs and pipes (no TTY)."""

    def __init__(self, label, total, stream):
        self.label, self.total, self.stream = label, total, stream
        self.done = 0
        self.next_report = 0

    def update(self, count):
        self.done += count
        if self.done >= self.next_report:
            self.stream.write(f"{self.label}: {self.done}/{self.total}")
            self.next_report = self.done + max(self.total // 10, 1)

    def close(self):
        pass


def _progress(label, total, stream):
    """A tqdm bar on a terminal when the ``progress`` extra is installed; lines otherwise."""
    if total and getattr(stream, "isatty", lambda: False)():
        try:
            from tqdm import tqdm
        except ImportError:  # optional: pip install sealed-integrations[progress]
            return _PlainProgress(label, total, stream)
        return tqdm(total=total, desc=label, unit="row", file=sys.stderr, leave=False)
    return _PlainProgress(label, total, stream)
