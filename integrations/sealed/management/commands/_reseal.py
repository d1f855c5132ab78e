"""What rotate_keys and encrypt_legacy share: options, progress, the summary table,
the exit statuses and the one line that says why a run stopped.

A run stopped by the database, an interruption or rows another process held
still prints its table (or ``--json``), is still audited when the database lets
it, and exits with a status a script can act on (``EPILOG``); no traceback.
(A leading underscore keeps Django from listing this module as a command.)
"""

import getpass
import json
import signal
import sys
import threading
from argparse import ArgumentTypeError
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from django.db import Error as DatabaseError
from django.db import connections

from integrations.crypto import CryptoError
from integrations.sealed.dberrors import summarize
from integrations.sealed.resealing import (
    reseal_field,
    reseal_run_finished,
    sealed_columns,
)

from ._reseal_run import (  # noqa: F401 - the exit statuses are part of this module's API
    EXIT_DATABASE,
    EXIT_DONE,
    EXIT_INCOMPLETE,
    EXIT_UNREADABLE,
)
from ._reseal_run import CommandRun as _CommandRun

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


EPILOG = """exit status:
  0  done: every value it had to do is done (a dry run: nothing unreadable)
  1  some values could not be opened (named on stderr), or bad input (unknown model,
     unusable keyring); the other values were done
  2  bad command line
  3  incomplete: values remain that another run will do (rows held locked by another
     process, values written meanwhile under an old key, or the run was interrupted);
     run again before retiring a key
  4  the database failed (connection lost, server restarted...): the run stopped;
     what was committed stays, nothing is lost; run again to continue
"""


class _HelpFormatter(DjangoHelpFormatter):
    """Django's (the command's own options first), keeping the epilog's lines."""

    def _fill_text(self, text, width, indent):
        if text == EPILOG:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class _Stopped(Exception):
    """SIGTERM while the run goes on: stop as Ctrl-C does (the batch in hand is
    finished or rolled back), and say how far it got."""


class ResealCommand(BaseCommand):
    mode: str  # set by subclasses
    command_name: str  # set by subclasses: the name the audit log shows
    verb = "re-sealed"

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs.setdefault("epilog", EPILOG)
        kwargs.setdefault("formatter_class", _HelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)

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
            "--batch-bytes",
            type=parse_bytes,
            default=None,
            metavar="BYTES",
            help="Stored bytes per batch: a batch also ends once its values reach this "
            "size (a larger value goes alone), so memory stays flat; e.g. 8M, 512k "
            "(default: the RESEAL_BATCH_BYTES setting, 4M).",
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
        self,
        *args,
        models=None,
        batch_size=500,
        batch_bytes=None,
        dry_run=False,
        json=False,
        actor=None,
        **options,
    ):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if batch_bytes is not None and batch_bytes < 1:
            raise CommandError("--batch-bytes must be at least 1")
        try:
            columns = sealed_columns(models)
        except (LookupError, ValueError) as exc:
            raise CommandError(f"unknown model: {exc}") from None
        run = _CommandRun(self, columns, batch_size, batch_bytes, dry_run)
        keyring_error = None
        try:
            with _sigterm_stops():
                run.run()
        except CryptoError as exc:  # the keyring itself is unusable
            keyring_error = str(exc)
        except DatabaseError as exc:
            run.database_error = summarize(exc)
        except (KeyboardInterrupt, _Stopped):
            run.interrupted = True
        # Every run opens values: it is audited whether it finished or not, and a
        # failure to record it never hides why the run stopped.
        audit_error = self._audit(run, actor, dry_run)
        if keyring_error is not None:
            raise CommandError(keyring_error)
        outcome = run.outcome(audit_error)
        if json:
            self.stdout.write(_json_dump(self.mode, dry_run, run, outcome))
        else:
            self._print_table(run.reports, dry_run)
        for report in run.reports:
            for item in report.unreadable:
                version = f" (key version {item.key_version})" if item.key_version else ""
                self.stderr.write(
                    f"unreadable: {report.model}.{report.field} pk={item.pk}: {item.error}{version}"
                )
        if outcome.exit_code:
            raise CommandError(outcome.message, returncode=outcome.exit_code)

    def _audit(self, run, actor, dry_run):
        """Send :data:`reseal_run_finished`; the error's summary if that failed."""
        # After a database failure the connection may be dead: let Django open a
        # new one (the database may be back); outside a transaction only.
        for connection in connections.all(initialized_only=True):
            if not connection.in_atomic_block:
                connection.close_if_unusable_or_obsolete()
        stopped_by = ""
        if run.database_error is not None:
            stopped_by = run.database_error.type
        elif run.interrupted:
            stopped_by = "interrupted"
        try:
            reseal_run_finished.send(
                sender=type(self),
                command=self.command_name,
                initiator=initiator_label(actor),
                reports=run.started_reports(),
                dry_run=dry_run,
                completed=run.completed,
                stopped_by=stopped_by,
            )
        except DatabaseError as exc:
            return summarize(exc)
        return None

    def _run_one(self, model, sealed_field, total, report, batch_size, batch_bytes, dry_run, tally):
        label = f"{model._meta.label}.{sealed_field.name}"
        progress = _progress(label, total, self.stderr)

        def update(count):
            tally(count)
            progress.update(count)

        try:
            return reseal_field(
                model,
                sealed_field,
                mode=self.mode,
                batch_size=batch_size,
                batch_bytes=batch_bytes,
                dry_run=dry_run,
                progress=update,
                report=report,
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


def _json_dump(mode, dry_run, run, outcome):
    fields = []
    for report, finished in zip(run.reports, run.finished, strict=True):
        fields.append({**report.as_dict(), "finished": finished})
    return json.dumps(
        {
            "mode": mode,
            "dry_run": dry_run,
            "status": outcome.status,
            "exit_code": outcome.exit_code,
            "remaining": outcome.remaining,
            "remaining_exact": outcome.remaining_exact,
            "error": outcome.error.as_dict() if outcome.error else None,
            "audit_recorded": outcome.audit_error is None,
            "audit_error": outcome.audit_error.as_dict() if outcome.audit_error else None,
            "message": outcome.message,
            "fields": fields,
        },
        indent=2,
    )


def parse_bytes(text):
    """``8M``, ``512k``, ``1G`` or a number of bytes (binary multiples)."""
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = value[-1:] if value[-1:] in units else ""
    try:
        number = float(value[: len(value) - len(unit)])
    except ValueError:
        raise ArgumentTypeError(f"not a size: {text!r} (e.g. 8M, 512k, 1000000)") from None
    return int(number * units[unit])


@contextmanager
def _sigterm_stops():
    """SIGTERM (a deploy, ``kill``) stops the run as Ctrl-C does, in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise _Stopped()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
