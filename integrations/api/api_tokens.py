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


def create_api_token(
    user, *, expiry=DEFAULT_EXPIRY, actor=None, actor_label=None, ip_address=None, purpose=""
):
    """A new token for ``user``: ``(token, expires_at)``. ``expiry`` is a
    ``timedelta``, ``None`` for a token that never expires, or knox's
    ``TOKEN_TTL`` when not given.

    Audited as ``api_token_created`` by ``actor`` (a user) or ``actor_label`` (a
    command's operator), in the same transaction as the token.
    """
    if expiry is DEFAULT_EXPIRY:
        expiry = knox_settings.TOKEN_TTL
    if expiry is not None and expiry <= timedelta(0):
        raise ValueError("a token's lifetime must be positive")
    model = get_token_model()
    with transaction.atomic(using=model.objects.db):
        instance, token = model.objects.create(user=user, expiry=expiry)
        expires = (
            f"expires {instance.expiry:%Y-%m-%d %H:%M} UTC" if instance.expiry else "no expiry"
        )
        audit.record(
            AuditEvent.Action.API_TOKEN_CREATED,
            actor=actor,
            actor_label=actor_label,
            target=user,
            purpose=purpose,
            detail=f"{token_label(instance)}, {expires}",
            ip_address=ip_address,
        )
    return token, instance.expiry


def revoke_api_token(instance, *, actor=None, actor_label=None, ip_address=None, purpose=""):
    """Revoke one stored token (a knox ``AuthToken`` row), audited."""
    with transaction.atomic(using=instance._state.db):
        audit.record(
            AuditEvent.Action.API_TOKEN_REVOKED,
            actor=actor,
            actor_label=actor_label,
            target=instance.user,
            purpose=purpose,
            detail=token_label(instance),
            ip_address=ip_address,
        )
        instance.delete()


def revoke_api_tokens(user, *, actor=None, actor_label=None, ip_address=None, purpose=""):
    """Revoke every token of ``user``, audited once; how many there were."""
    model = get_token_model()
    with transaction.atomic(using=model.objects.db):
        deleted, _ = model.objects.filter(user=user).delete()
        audit.record(
            AuditEvent.Action.API_TOKEN_REVOKED,
            actor=actor,
            actor_label=actor_label,
            target=user,
            purpose=purpose,
            detail=f"all tokens: {deleted} revoked",
            ip_address=ip_address,
        )
    return deleted
