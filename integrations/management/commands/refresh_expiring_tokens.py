"""Refresh the access tokens that expire soon, before anyone asks for them.

Run it from cron or a task queue, e.g. every five minutes with ``--within 900``.
Several copies may run at once: each integration is refreshed exactly once
(rows another process is refreshing are skipped on PostgreSQL; a row refreshed
meanwhile is found fresh after locking). Prints counts, never a token. Exits 1
when a refresh failed for a passing reason (network, provider 5xx), so that
monitoring notices; integrations that need the user to reconnect are counted,
not failures of the job.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from integrations import tokens

_ORDER = ("refreshed", "fresh", "skipped", "needs_reauth", "expired", "revoked", "error")


class Command(BaseCommand):
    help = "Refresh OAuth access tokens that expire within a window (safe in several processes)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--within", type=int, default=600, metavar="SECONDS",
            help="refresh tokens that expire within this many seconds (default 600)",
        )
        parser.add_argument(
            "--limit", type=int, default=None, metavar="N",
            help="refresh at most N integrations in this run (soonest expiry first)",
        )
        parser.add_argument("--json", dest="as_json", action="store_true",
                            help="print the counts as JSON")

    def handle(self, *args, within, limit, as_json=False, **options):
        if within < 0:
            raise CommandError("--within must be 0 or more seconds")
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1")
        counts = tokens.refresh_expiring(within=within, limit=limit)
        if as_json:
            self.stdout.write(_json_dumps(counts))
        else:
            total = sum(counts.values())
            parts = [f"{name}: {counts[name]}" for name in _ORDER if counts.get(name)]
            parts += [f"{name}: {n}" for name, n in sorted(counts.items()) if name not in _ORDER]
            self.stdout.write(
                f"{total} integration(s) expiring within {within} s"
                + (f" — {', '.join(parts)}" if parts else "")
            )
        if counts.get("error"):
            raise SystemExit(1)


def _json_dumps(counts):
    return json.dumps({name: counts.get(name, 0) for name in (*_ORDER, *sorted(set(counts) - set(_ORDER)))})
