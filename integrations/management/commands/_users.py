"""Finding the user a command names."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


def user_by_username(username):
    User = get_user_model()
    try:
        return User._default_manager.get_by_natural_key(username)
    except User.DoesNotExist:
        raise CommandError("No such user.") from None
