"""Finding the user a command names; naming who ran the command."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

# The audit log's name for whoever ran a command: --actor, else the OS account.
from integrations.sealed.management.commands._reseal import initiator_label

__all__ = ["initiator_label", "user_by_username"]


def user_by_username(username):
    User = get_user_model()
    try:
        return User._default_manager.get_by_natural_key(username)
    except User.DoesNotExist:
        raise CommandError("No such user.") from None
