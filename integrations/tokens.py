"""The token service: the only code that reads or writes an integration's tokens.

It stores what a provider's token endpoint returns (access and refresh tokens,
type, lifetime, scope) and hands the access token out as a :class:`Secret`, with
an audit event for every read and change. The OAuth flow, refresh and
revocation build on these functions.
"""

from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.views.decorators.debug import sensitive_variables
from django.utils import timezone

from . import audit
from .models import AuditEvent, Integration
from .redaction import Secret

Action = AuditEvent.Action


class TokenResponseError(ValueError):
    """A token response that cannot be stored; the message names fields only."""


def parse_scopes(scope):
    if scope is None:
        return None
    if isinstance(scope, str):
        return [part for part in scope.replace(",", " ").split() if part]
    if isinstance(scope, (list, tuple)) and all(isinstance(s, str) for s in scope):
        return list(scope)
    raise TokenResponseError("token response field 'scope' must be a string or a list of strings")


def _expiry(token, now):
    expires_in = token.get("expires_in")
    if expires_in not in (None, ""):
        try:
            seconds = int(expires_in)
        except (TypeError, ValueError):
            raise TokenResponseError("token response field 'expires_in' is not a number") from None
        return now + timedelta(seconds=max(seconds, 0))
    expires_at = token.get("expires_at")
    if expires_at not in (None, ""):
        if isinstance(expires_at, datetime):
            return expires_at
        try:
            return datetime.fromtimestamp(int(expires_at), tz=UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            raise TokenResponseError("token response field 'expires_at' is not a timestamp") from None
    return None


@sensitive_variables()
def apply_token_response(integration, token, *, now=None):
    """Copy a token response onto ``integration`` (not saved).

    A response without a refresh token keeps the one stored (RFC 6749 §6: the
    server may keep the old refresh token valid); one without a scope keeps the
    granted scopes, or takes the requested ones on first connect (§5.1).
    """
    if not isinstance(token, dict):
        raise TokenResponseError("token response must be a JSON object")
    access = token.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenResponseError("token response has no access_token")
    refresh = token.get("refresh_token")
    if refresh is not None and not isinstance(refresh, str):
        raise TokenResponseError("token response field 'refresh_token' must be a string")
    token_type = token.get("token_type") or "Bearer"
    if not isinstance(token_type, str) or len(token_type) > 40:
        raise TokenResponseError("token response field 'token_type' is invalid")
    now = now or timezone.now()
    scopes = parse_scopes(token.get("scope"))

    integration.access_token = access
    if refresh:
        integration.refresh_token = refresh
    integration.token_type = token_type
    integration.expires_at = _expiry(token, now)
    if scopes is not None:
        integration.granted_scopes = scopes
    elif not integration.granted_scopes:
        integration.granted_scopes = list(integration.requested_scopes)
    return integration


def list_integrations(user):
    return Integration.objects.filter(owner=user).select_related("provider")


def get_integration(user, integration_id):
    """The user's integration with this id; DoesNotExist for anyone else's."""
    return list_integrations(user).get(pk=integration_id)


@sensitive_variables()
@transaction.atomic
def connect(user, provider, token, *, external_account_id="", label="", requested_scopes=(),
            metadata=None, ip_address=None):
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
    if created:
        integration = Integration(owner=user, provider=provider,
                                  external_account_id=external_account_id)
    integration.requested_scopes = list(requested_scopes)
    if label:
        integration.label = label
    if metadata:
        integration.metadata = {**integration.metadata, **metadata}
    apply_token_response(integration, token)
    integration.status = Integration.Status.ACTIVE
    integration.last_error = ""
    integration.full_clean(exclude=["access_token", "refresh_token", "owner", "provider"])
    integration.save()
    audit.record(Action.CONNECT if created else Action.UPDATE, actor=user, target=integration,
                 detail="" if created else "reconnected", ip_address=ip_address)
    return integration, created


@sensitive_variables()
@transaction.atomic
def store_token_response(integration, token, *, action=Action.REFRESH, actor=None, ip_address=None):
    """Save a new token response (a refresh) onto an existing integration."""
    apply_token_response(integration, token)
    integration.status = Integration.Status.ACTIVE
    integration.last_error = ""
    if action == Action.REFRESH:
        integration.last_refreshed_at = timezone.now()
    integration.save()
    audit.record(action, actor=actor, target=integration, ip_address=ip_address)
    return integration


@sensitive_variables()
def read_access_token(integration, *, purpose, actor=None, ip_address=None):
    """The stored access token as a :class:`Secret` (not refreshed), audited.

    ``purpose`` says why, e.g. ``"sync calendar"``. Returns ``None`` when the
    integration holds no token (revoked).
    """
    if not purpose:
        raise ValueError("reading a secret needs a stated purpose")
    if actor is not None and getattr(actor, "is_authenticated", False):
        if integration.owner_id != actor.pk:
            audit.record(
                Action.REVEAL_DENIED, actor=actor, target_type=Integration._meta.label_lower,
                target_id=integration.pk, purpose=purpose, outcome=AuditEvent.Outcome.DENIED,
                ip_address=ip_address,
            )
            raise Integration.DoesNotExist("no such integration for this user")
    value = integration.access_token
    audit.record(Action.USE, actor=actor, target=integration, purpose=purpose,
                 ip_address=ip_address)
    return Secret(value) if value is not None else None


__all__ = [
    "TokenResponseError",
    "ValidationError",
    "apply_token_response",
    "connect",
    "get_integration",
    "list_integrations",
    "read_access_token",
    "store_token_response",
]
