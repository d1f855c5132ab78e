"""Revoke every API token of a user (a lost laptop, a leaked token, a leaver)."""

from django.core.management.base import BaseCommand

from ._api import api_tokens
from ._users import user_by_username


class Command(BaseCommand):
    help = "Revoke every API token of USERNAME."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = user_by_username(username)
        count = api_tokens().revoke_api_tokens(user)
        self.stdout.write(
            f"Revoked {count} API token{'s' if count != 1 else ''} of {user.get_username()}."
        )
