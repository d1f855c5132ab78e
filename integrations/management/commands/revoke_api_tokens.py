"""Revoke every API token of a user (a lost laptop, a leaked token, a leaver).

Audited (``api_token_revoked``, naming ``--actor`` or the OS account).
"""

from django.core.management.base import BaseCommand

from ._api import api_tokens
from ._users import initiator_label, user_by_username


class Command(BaseCommand):
    help = "Revoke every API token of USERNAME."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--actor",
            help="Who is revoking the tokens, for the audit log (default: the OS account).",
        )

    def handle(self, *args, username, actor=None, **options):
        user = user_by_username(username)
        count = api_tokens().revoke_api_tokens(
            user, actor_label=initiator_label(actor), purpose="revoke_api_tokens"
        )
        self.stdout.write(
            f"Revoked {count} API token{'s' if count != 1 else ''} of {user.get_username()}."
        )
