"""API tokens: created for a user and shown once, revoked all at once.

django-rest-knox keeps each token as a digest with an expiry; the token itself
exists only in the value returned here, which the caller shows once.
"""

from datetime import timedelta

from knox.models import get_token_model
from knox.settings import knox_settings

DEFAULT_EXPIRY = object()


def create_api_token(user, *, expiry=DEFAULT_EXPIRY):
    """A new token for ``user``: ``(token, expires_at)``. ``expiry`` is a
    ``timedelta``, ``None`` for a token that never expires, or knox's
    ``TOKEN_TTL`` when not given."""
    if expiry is DEFAULT_EXPIRY:
        expiry = knox_settings.TOKEN_TTL
    if expiry is not None and expiry <= timedelta(0):
        raise ValueError("a token's lifetime must be positive")
    instance, token = get_token_model().objects.create(user=user, expiry=expiry)
    return token, instance.expiry


def revoke_api_tokens(user):
    """Revoke every token of ``user``; how many there were."""
    deleted, _ = get_token_model().objects.filter(user=user).delete()
    return deleted
