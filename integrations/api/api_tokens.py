"""API tokens: created for a user and shown once, revoked, every change audited.

django-rest-knox keeps each token as a digest with an expiry; the token itself
exists only in the value returned here, which the caller shows once. Every
creation and revocation goes through this module (the commands, the logout
endpoints, the admin's revocation) and leaves an ``api_token_created`` /
``api_token_revoked`` audit event naming the token's user, who did it and the
first characters of the token's digest (what the admin lists), never the token.
"""

from datetime import timedelta

from django.db import transaction
from knox.models import get_token_model
from knox.settings import knox_settings

from .. import audit
from ..models import AuditEvent

DEFAULT_EXPIRY = object()
# How much of a token's digest (SHA-512, hex) names it in the audit log and the admin.
DIGEST_SHOWN = 16


def token_label(instance) -> str:
    """The name of a stored token: the start of its digest (never the token)."""
    return f"digest {instance.digest[:DIGEST_SHOWN]}…"


def create_api_token(user, *, expiry=DEFAULT_EXPIRY, **who):
    """A new token for ``user``: ``(token, expires_at)``. ``expiry`` is a
    ``timedelta``, ``None`` for a token that never expires, or knox's
    ``TOKEN_TTL`` when not given.

    Audited as ``api_token_created``, in the same transaction as the token; ``who``
    says who did it: ``actor`` (a user) or ``actor_label`` (a command's operator),
    ``ip_address``, ``purpose`` (how: "create_api_token", "logout", "admin"...).
    """
    if expiry is DEFAULT_EXPIRY:
        expiry = knox_settings.TOKEN_TTL
    if expiry is not None and expiry <= timedelta(0):
        raise ValueError("a token's lifetime must be positive")
    model = get_token_model()
    with transaction.atomic(using=model.objects.db):
        instance, token = model.objects.create(user=user, expiry=expiry)
        until = instance.expiry
        expires = f"expires {until:%Y-%m-%d %H:%M} UTC" if until else "no expiry"
        _record(
            AuditEvent.Action.API_TOKEN_CREATED, user, f"{token_label(instance)}, {expires}", who
        )
    return token, instance.expiry


def revoke_api_token(instance, **who):
    """Revoke one stored token (a knox ``AuthToken`` row), audited (``who``: as
    for :func:`create_api_token`)."""
    with transaction.atomic(using=instance._state.db):
        _record(AuditEvent.Action.API_TOKEN_REVOKED, instance.user, token_label(instance), who)
        instance.delete()


def revoke_api_tokens(user, **who):
    """Revoke every token of ``user``, audited once; how many there were."""
    model = get_token_model()
    with transaction.atomic(using=model.objects.db):
        deleted, _ = model.objects.filter(user=user).delete()
        _record(AuditEvent.Action.API_TOKEN_REVOKED, user, f"all tokens: {deleted} revoked", who)
    return deleted


def _record(action, user, detail, who):
    """One event about ``user``'s tokens; ``detail`` names a token by its digest.
    ``who``: ``actor``, ``actor_label``, ``ip_address``, ``purpose`` (audit.record's)."""
    audit.record(action, target=user, detail=detail, **who)
