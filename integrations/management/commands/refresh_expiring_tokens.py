"""Refresh the access tokens that expire soon, before anyone asks for them.

Run it from cron or a task queue, e.g. every five minutes with ``--within 900``.
Several copies may run at once: each integration is refreshed exactly once
(a row another process is refreshing is skipped; one refreshed meanwhile is
found fresh). One row's failure never stops the run. Prints counts and, for each
row that failed, its id and an error code; never a token. Exits 1 when a refresh
failed for a passing reason (network, provider 5xx, an absurd response), a
stored token could not be opened, or a row failed unexpectedly, so that
monitoring notices; integrations that need the user to reconnect are counted,
not failures of the job.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from integrations import tokens

_ORDER = (
    "refreshed",
    "fresh",
    "skipped",
    "needs_reauth",
    "expired",
    "revoked",
    "error",
    "unreadable",
    "failed",
)
# Outcomes that mean the job (or the data it reads) needs an operator's attention.
_JOB_FAILURES = ("error", "unreadable", "failed")


class Command(BaseCommand):
    help = "Refresh OAuth access tokens that expire within a window (safe in several processes)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--within",
            type=int,
            default=600,
            metavar="SECONDS",
            help="refresh tokens that expire within this many seconds (default 600)",
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=None,
            metavar="N",
            help="refresh at most N integrations in this run (soonest expiry first)",
        )
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print the counts as JSON"
        )

    def handle(self, *args, within, limit, as_json=False, **options):
        if within < 0:
            raise CommandError("--within must be 0 or more seconds")
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1")
        report = tokens.refresh_expiring(within=within, limit=limit)
        counts = report.counts
        if as_json:
            self.stdout.write(_json_dumps(report))
        else:
            total = sum(counts.values())
            parts = [f"{name}: {counts[name]}" for name in _ORDER if counts.get(name)]
            parts += [f"{name}: {n}" for name, n in sorted(counts.items()) if name not in _ORDER]
            self.stdout.write(
                f"{total} integration(s) expiring within {within} s"
                + (f" — {', '.join(parts)}" if parts else "")
            )
            for pk, outcome, code in report.failures:
                self.stdout.write(f"  integration {pk}: {outcome} ({code})")
        if any(counts.get(name) for name in _JOB_FAILURES):
            raise SystemExit(1)


def _json_dumps(report):
    counts = report.counts
    body = {name: counts.get(name, 0) for name in (*_ORDER, *sorted(set(counts) - set(_ORDER)))}
    body["failures"] = [
        {"integration": pk, "outcome": outcome, "code": code}
        for pk, outcome, code in report.failures
    ]
    return json.dumps(body)
