"""Deliver the webhook deliveries that are due: new events no task engine took,
and retries whose wait is over.

Run it every minute from cron or a scheduler (or schedule the
``integrations.tasks.deliver_webhooks`` task). Several copies may run at once:
each attempt is made by one of them. Prints counts per outcome; never a payload,
a URL's path or a secret. Exits 0 whatever the receivers answered: a failed
attempt is retried on the schedule and shows in the delivery log.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from integrations import webhooks


class Command(BaseCommand):
    help = "Deliver the webhook deliveries that are due (safe in several processes)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit",
            type=int,
            default=100,
            metavar="N",
            help="attempt at most N deliveries in this run (default 100)",
        )
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print the counts as JSON"
        )

    def handle(self, *args, limit, as_json=False, **options):
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        counts = webhooks.deliver_due(limit=limit)
        if as_json:
            self.stdout.write(json.dumps(counts, sort_keys=True))
            return
        parts = [f"{name}: {count}" for name, count in sorted(counts.items())]
        total = sum(counts.values())
        self.stdout.write(
            f"{total} webhook deliver{'y' if total == 1 else 'ies'} attempted"
            + (f" — {', '.join(parts)}" if parts else "")
        )
