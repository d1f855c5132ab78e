"""One run of rotate_keys / encrypt_legacy over its columns, and how it ended.

The command asks this for its outcome: an exit status, a status word for
``--json`` and one line for stderr that says what stopped the run, how far it
got and what to do next. A script may retire an old key only on exit status 0.
"""

from dataclasses import dataclass

from integrations.sealed.dberrors import DatabaseErrorSummary
from integrations.sealed.resealing import LEGACY, FieldReport, count_work

# Exit statuses (documented in docs/reference/commands.md and in --help); 2 is
# argparse's, for a bad command line.
EXIT_DONE = 0
EXIT_UNREADABLE = 1  # values that cannot be opened: a person must look (also: bad input)
EXIT_INCOMPLETE = 3  # values remain that another run would do: locked, or the run stopped
EXIT_DATABASE = 4  # the database failed: the run stopped; nothing is lost


@dataclass(frozen=True)
class Outcome:
    status: str  # done, unreadable, incomplete, interrupted, database_error, audit_failed
    exit_code: int
    remaining: int  # values still to do (an estimate when remaining_exact is False)
    remaining_exact: bool
    error: DatabaseErrorSummary | None
    audit_error: DatabaseErrorSummary | None
    message: str  # the line for stderr ("" when all is done)


class CommandRun:
    """The columns of one command run, their reports, and what stopped it."""

    def __init__(self, command, columns, batch_size, batch_bytes, dry_run):
        self.command = command
        self.columns = columns
        self.batch_size, self.batch_bytes, self.dry_run = batch_size, batch_bytes, dry_run
        self.reports = [
            FieldReport(model._meta.label, field.name, dry_run=dry_run) for model, field in columns
        ]
        self.totals: list[int | None] = [None] * len(columns)  # rows to do, counted first
        self.visited = [0] * len(columns)  # rows handled in committed batches
        self.finished = [False] * len(columns)
        self.current: int | None = None  # the column in hand
        self.started = 0  # columns the run reached
        self.completed = False
        self.database_error: DatabaseErrorSummary | None = None
        self.interrupted = False

    def run(self):
        # Counted first, so that a run stopped half-way can say what is left.
        for index, (model, field) in enumerate(self.columns):
            self.totals[index] = count_work(model, field, mode=self.command.mode)
        for index, (model, field) in enumerate(self.columns):
            self.current, self.started = index, index + 1

            def tally(count, index=index):
                self.visited[index] += count

            self.command._run_one(
                model,
                field,
                self.totals[index],
                self.reports[index],
                self.batch_size,
                self.batch_bytes,
                self.dry_run,
                tally,
            )
            self.finished[index] = True
        self.current = None
        self.completed = True

    def started_reports(self):
        """The reports of the columns the run reached (what the audit names)."""
        return self.reports[: self.started]

    def remaining(self):
        """``(values still to do, exact?)``: counted after a column finished;
        for one stopped half-way or never reached, its count before the run
        minus the rows handled since (also set as that column's ``remaining``,
        for the table and ``--json``)."""
        remaining, exact = 0, True
        for index, report in enumerate(self.reports):
            if self.finished[index]:
                remaining += report.remaining
            else:
                exact = False
                total = self.totals[index]
                if total is not None:
                    remaining += max(total - self.visited[index], 0)
                    report.remaining = max(total - self.visited[index], 0)
        return remaining, exact and self.totals.count(None) == 0

    def outcome(self, audit_error):
        name = self.command.command_name
        remaining, exact = self.remaining()
        unreadable = sum(len(r.unreadable) for r in self.reports)
        done = sum(r.resealed for r in self.reports)
        what = "plaintext value(s)" if self.command.mode == LEGACY else "value(s) on an old key"
        counted = all(total is not None for total in self.totals)
        about = "" if exact else "about "
        left = f"{about}{remaining:,} {what} still to do" if counted else ""
        progress = ", ".join(
            part
            for part in (
                f"{done:,} {'would be ' if self.dry_run else ''}{self.command.verb}",
                f"{unreadable:,} unreadable" if unreadable else "",
                left,
            )
            if part
        )
        audit = (
            f"; the audit record of this run could not be written ({audit_error}): "
            "nothing else records it"
            if audit_error is not None
            else ""
        )
        if self.database_error is not None:
            where = ""
            if self.current is not None:
                report = self.reports[self.current]
                where = f" in {report.model}.{report.field}"
            elif not any(t is not None for t in self.totals):
                where = " before any work"
            status, code = "database_error", EXIT_DATABASE
            message = (
                f"{name} stopped by a database error{where}: {self.database_error}; "
                f"{progress}: nothing is lost, run again to continue{audit}"
            )
        elif self.interrupted:
            status, code = "interrupted", EXIT_INCOMPLETE
            message = f"{name} interrupted; {progress}: run again to continue{audit}"
        elif unreadable:
            status, code = "unreadable", EXIT_UNREADABLE
            others = remaining - unreadable
            message = (
                f"{unreadable} value(s) could not be opened and were left as they are; "
                "see docs/KEYS.md, 'When a value is unreadable'"
                + (f"; {others:,} other {what} still to do: run again" if others > 0 else "")
                + f"{audit}."
            )
        elif remaining and not self.dry_run:
            status, code = "incomplete", EXIT_INCOMPLETE
            message = (
                f"{name} incomplete: {progress} (rows another process held locked, or "
                f"written meanwhile): run again to continue; do not retire an old key "
                f"yet{audit}"
            )
        elif audit_error is not None:
            status, code = "audit_failed", EXIT_DATABASE
            message = f"{name} done ({progress}){audit}"
        else:
            status, code, message = "done", EXIT_DONE, ""
        return Outcome(status, code, remaining, exact, self.database_error, audit_error, message)
