"""Create an API token for a user and print it, once.

The only output on stdout is the token, so scripts can capture it; it is never
stored (the database keeps a digest) and cannot be shown again. Revoke with
``revoke_api_tokens`` or ``POST /api/auth/logout/``. Audited
(``api_token_created``, naming ``--actor`` or the OS account).
"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from ._api import api_tokens
from ._users import initiator_label, user_by_username


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        lifetime = parser.add_mutually_exclusive_group()
        lifetime.add_argument(
            "--expiry-days",
            type=int,
            dest="expiry_days",
            help="Days until the token expires (default: REST_KNOX "
            "TOKEN_TTL, API_TOKEN_TTL_DAYS in this project).",
        )
        lifetime.add_argument(
            "--no-expiry",
            action="store_true",
            help="A token that never expires (revoke it when done).",
        )
        parser.add_argument(
            "--actor",
            help="Who is creating the token, for the audit log (default: the OS account).",
        )

    def handle(self, *args, username, expiry_days=None, no_expiry=False, actor=None, **options):
        tokens = api_tokens()
        user = user_by_username(username)
        if not user.is_active:
            raise CommandError("That user is not active.")
        if no_expiry:
            expiry = None
        elif expiry_days is not None:
            expiry = timedelta(days=expiry_days)
        else:
            expiry = tokens.DEFAULT_EXPIRY
        try:
            token, expires_at = tokens.create_api_token(
                user, expiry=expiry, actor_label=initiator_label(actor), purpose="create_api_token"
            )
        except ValueError:
            raise CommandError("--expiry-days must be at least 1.") from None
        self.stdout.write(token)
        until = f"until {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "with no expiry"
        self.stderr.write(
            f"API token for {user.get_username()}, valid {until}. Send it as "
            "'Authorization: Token <token>'. It is not stored and will not be "
            "shown again."
        )
