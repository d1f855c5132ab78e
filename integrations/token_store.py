"""Storing and reading an integration's tokens: what a provider's token endpoint
returns goes in through here (sealed by the model's fields) and the access token
comes out as a :class:`Secret`, every read and change audited. The row helpers
the refresh, reading and revocation services share live here too.
"""

import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import (
    router,
    transaction,
)
from django.db.models import QuerySet
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from . import audit
from ._typing import User
from .crypto import CryptoError, KeyringError, NotSealedError, UnknownKeyVersionError
from .models import AuditEvent, Integration, Provider
from .provider_data import (
    TokenResponseError,
    read_token_response,
)
from .redaction import Secret
from .signals import (
    integration_connected,
    integration_needs_reauth,
    integration_recovered,
    send_on_commit,
)
from .token_answers import KEPT_KEY, kept_fields
from .token_errors import TokenUnreadable

Action = AuditEvent.Action
logger = logging.getLogger("integrations.tokens")


@sensitive_variables()
def apply_token_response(
    integration: Integration, token: Mapping[str, Any], *, now: datetime | None = None
) -> Integration:
    """Copy a token response onto ``integration`` (not saved), after
    :func:`provider_data.read_token_response` checked every field
    (:class:`TokenResponseError` names the first bad one, never its value).

    A response without a refresh token keeps the one stored (RFC 6749 §6: the
    server may keep the old refresh token valid); one without a scope keeps the
    granted scopes, or takes the requested ones on first connect (§5.1).

    The fields the provider's ``token_response.keep`` names (non-secret, checked:
    :func:`token_answers.kept_fields`) are merged into
    ``metadata["token_fields"]``; one a later answer lacks keeps its value.
    """
    response = read_token_response(token, now=now or timezone.now())
    kept = kept_fields(integration.provider.metadata, token)
    integration.access_token = response.access_token
    if response.refresh_token:
        integration.refresh_token = response.refresh_token
    integration.token_type = response.token_type
    integration.expires_at = response.expires_at
    if response.scopes is not None:
        integration.granted_scopes = response.scopes
    elif not integration.granted_scopes:
        integration.granted_scopes = list(integration.requested_scopes)
    if kept:
        before = integration.metadata.get(KEPT_KEY)
        before = before if isinstance(before, dict) else {}
        integration.metadata = {**integration.metadata, KEPT_KEY: {**before, **kept}}
    return integration


@sensitive_variables()
def apply_oauth1_token(integration: Integration, token: Mapping[str, Any]) -> Integration:
    """Copy an OAuth 1.0a access-token response (``oauth_token``,
    ``oauth_token_secret``) onto ``integration`` (not saved). Both are sealed; the
    token never expires and has no refresh token (RFC 5849 leaves expiry to the
    provider, which revokes instead)."""
    token_value = token.get("oauth_token")
    secret = token.get("oauth_token_secret")
    if not isinstance(token_value, str) or not token_value or not isinstance(secret, str):
        raise TokenResponseError("oauth_token and oauth_token_secret must be strings")
    integration.access_token = token_value
    integration.token_secret = secret
    integration.refresh_token = None
    integration.token_type = "OAuth"  # noqa: S105 - the scheme's name, not a secret
    integration.expires_at = None
    if not integration.granted_scopes:
        integration.granted_scopes = list(integration.requested_scopes)
    return integration


def is_oauth1(integration: Integration) -> bool:
    return integration.provider.auth_type == Provider.AuthType.OAUTH1


def list_integrations(user: User) -> QuerySet[Integration]:
    return Integration.objects.filter(owner=user).select_related("provider")


def get_integration(user: User, integration_id: uuid.UUID | str) -> Integration:
    """The user's integration with this id; DoesNotExist for anyone else's."""
    return list_integrations(user).get(pk=integration_id)


RECOVERABLE = frozenset(
    {
        Integration.Status.ERROR,
        Integration.Status.EXPIRED,
        Integration.Status.NEEDS_REAUTH,
    }
)
UNUSABLE = frozenset({Integration.Status.REVOKED, Integration.Status.NEEDS_REAUTH})


@sensitive_variables()
@transaction.atomic
def connect(
    user: User,
    provider: Provider,
    token: Mapping[str, Any],
    *,
    external_account_id: str = "",
    label: str = "",
    requested_scopes: Iterable[str] = (),
    metadata: Mapping[str, Any] | None = None,
    ip_address: str | None = None,
) -> tuple[Integration, bool]:
    """Store a new connection, or update the one for the same external account.

    Returns ``(integration, created)``.
    """
    integration = None
    if external_account_id:
        integration = (
            Integration.objects.select_for_update()
            .filter(owner=user, provider=provider, external_account_id=external_account_id)
            .first()
        )
    created = integration is None
    if integration is None:
        integration = Integration(
            owner=user, provider=provider, external_account_id=external_account_id
        )
    previous_status = integration.status
    integration.requested_scopes = list(requested_scopes)
    if label:
        integration.label = label
    if metadata:
        integration.metadata = {**integration.metadata, **metadata}
    if provider.auth_type == Provider.AuthType.OAUTH1:
        apply_oauth1_token(integration, token)
    else:
        apply_token_response(integration, token)
    integration.status = Integration.Status.ACTIVE
    integration.last_error = ""
    clear_lease(integration)  # new tokens end any refresh in flight
    integration.full_clean(
        exclude=["access_token", "refresh_token", "token_secret", "owner", "provider"]
    )
    integration.save()
    audit.record(
        Action.CONNECT if created else Action.UPDATE,
        actor=user,
        target=integration,
        detail="" if created else "reconnected",
        ip_address=ip_address,
    )
    send_on_commit(integration_connected, integration, created=created)
    if not created and previous_status in RECOVERABLE:
        send_on_commit(integration_recovered, integration, previous_status=previous_status)
    return integration, created


@sensitive_variables()
@transaction.atomic
def store_token_response(
    integration: Integration,
    token: Mapping[str, Any],
    *,
    action: str = Action.REFRESH,
    actor: User | None = None,
    ip_address: str | None = None,
) -> Integration:
    """Save a new token response (a refresh) onto an existing integration."""
    apply_token_response(integration, token)
    integration.status = Integration.Status.ACTIVE
    integration.last_error = ""
    if action == Action.REFRESH:
        integration.last_refreshed_at = timezone.now()
    clear_lease(integration)  # new tokens end any refresh in flight
    integration.save()
    audit.record(action, actor=actor, target=integration, ip_address=ip_address)
    return integration


def deny_unless_owner(integration, actor, purpose, ip_address):
    if actor is not None and getattr(actor, "is_authenticated", False):
        if integration.owner_id != actor.pk:
            audit.record(
                Action.REVEAL_DENIED,
                actor=actor,
                target_type=Integration._meta.label_lower,
                target_id=integration.pk,
                purpose=purpose,
                outcome=AuditEvent.Outcome.DENIED,
                ip_address=ip_address,
            )
            raise Integration.DoesNotExist("no such integration for this user")


@sensitive_variables()
def read_access_token(
    integration: Integration,
    *,
    purpose: str,
    actor: User | None = None,
    ip_address: str | None = None,
) -> Secret | None:
    """The stored access token as a :class:`Secret` (not refreshed), audited.

    ``purpose`` says why, e.g. ``"sync calendar"``. Returns ``None`` when the
    integration holds no token (revoked).
    """
    if not purpose:
        raise ValueError("reading a secret needs a stated purpose")
    deny_unless_owner(integration, actor, purpose, ip_address)
    value = integration.access_token
    audit.record(
        Action.USE, actor=actor, target=integration, purpose=purpose, ip_address=ip_address
    )
    return Secret(value) if value is not None else None


def unreadable_code(exc):
    if isinstance(exc, NotSealedError):
        return "token_not_sealed"
    if isinstance(exc, UnknownKeyVersionError):
        return "token_key_unknown"
    return "token_unreadable"


@sensitive_variables()
def open_token(integration, name):
    """The opened token ``name``; an unreadable stored value (a problem of this row,
    not of the configuration) raises :class:`TokenUnreadable`."""
    try:
        return getattr(integration, name)
    except KeyringError:
        raise
    except CryptoError as exc:
        raise TokenUnreadable(unreadable_code(exc), status=integration.status) from None


def readable(integration, name):
    try:
        open_token(integration, name)
    except TokenUnreadable:
        return False
    return True


def usable(integration, margin, *, now=None):
    if integration.status in UNUSABLE or integration.access_token_sealed is None:
        return False
    if integration.expires_at is None:
        return True
    now = now or timezone.now()
    return integration.expires_at > now + timedelta(seconds=margin)


def database_alias():
    return router.db_for_write(Integration)


def integration_row(db, pk):
    return Integration.objects.using(db).select_related("provider").filter(pk=pk)


def clear_lease(integration):
    """Make the next save end any refresh in flight (it then stores nothing)."""
    integration.refresh_lease = None
    integration.refresh_lease_expires_at = None


@sensitive_variables()
def mark_oauth1_unreadable(row, failure, *, actor, ip_address):
    """An OAuth 1.0a token or secret that cannot be opened: nothing can refresh
    it, so the user must connect again (``needs_reauth``, audited, notified), as
    for an OAuth 2 row whose refresh token cannot be opened."""
    db = database_alias()
    failure.status = Integration.Status.NEEDS_REAUTH
    # One transaction: the status, its audit event and the webhooks' event.
    with transaction.atomic(using=db):
        changed = (
            Integration.objects.using(db)
            .filter(pk=row.pk, status=row.status)
            .update(
                status=Integration.Status.NEEDS_REAUTH,
                last_error=failure.code[:255],
                updated_at=timezone.now(),
            )
        )
        if not changed:
            return  # already marked, or changed meanwhile: its state wins
        row.status, row.last_error = Integration.Status.NEEDS_REAUTH, failure.code[:255]
        audit.record(
            Action.USE,
            actor=actor,
            target=row,
            outcome=AuditEvent.Outcome.FAILURE,
            detail=failure.code,
            ip_address=ip_address,
        )
        send_on_commit(integration_needs_reauth, row, reason=failure.code)
