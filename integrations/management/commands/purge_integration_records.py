"""Delete the records the app keeps only for a while: connect sessions that
expired more than ``CONNECT_SESSION_RETENTION_DAYS`` ago, and webhook
deliveries that are over (succeeded, failed, abandoned) and untouched for
``WEBHOOK_DELIVERY_RETENTION_DAYS``. Pending deliveries are never deleted.

Run it daily. Deletes in batches (``--batch-size`` rows per statement) so that
a large backlog never holds one long transaction. Safe to run twice at once:
a row deleted by the other run is simply not counted again.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from integrations import connect_sessions, webhooks


class Command(BaseCommand):
    help = "Delete expired connect sessions and finished webhook deliveries past retention."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=int,
            default=1000,
            metavar="N",
            help="delete at most N rows per statement (default 1000)",
        )
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print the counts as JSON"
        )

    def handle(self, *args, batch_size, as_json=False, **options):
        if not 1 <= batch_size <= 100_000:
            raise CommandError("--batch-size must be between 1 and 100000")
        counts = {
            "connect_sessions": connect_sessions.purge(batch_size=batch_size),
            "webhook_deliveries": webhooks.purge_deliveries(batch_size=batch_size),
        }
        if as_json:
            self.stdout.write(json.dumps(counts, sort_keys=True))
            return
        self.stdout.write(
            f"deleted {counts['connect_sessions']} connect session(s) and "
            f"{counts['webhook_deliveries']} webhook deliver(y/ies) past retention"
        )
