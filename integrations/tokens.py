"""The token service: the only code that reads or writes an integration's tokens.

It stores what a provider's token endpoint returns (access and refresh tokens,
type, lifetime, scope) and hands the access token out as a :class:`Secret`, with
an audit event for every read and change. The OAuth flow, refresh and
revocation build on these functions.
"""

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import connections, router, transaction
from django.views.decorators.debug import sensitive_variables
from django.utils import timezone

from . import audit, oauth
from .conf import app_settings
from .models import AuditEvent, Integration
from .provider_data import TokenResponseError, parse_scopes, read_token_response
from .redaction import Secret
from .signals import (
    integration_needs_reauth,
    integration_recovered,
    integration_refreshed,
    send_on_commit,
)

Action = AuditEvent.Action


@sensitive_variables()
def apply_token_response(integration, token, *, now=None):
    """Copy a token response onto ``integration`` (not saved), after
    :func:`provider_data.read_token_response` checked every field
    (:class:`TokenResponseError` names the first bad one, never its value).

    A response without a refresh token keeps the one stored (RFC 6749 §6: the
    server may keep the old refresh token valid); one without a scope keeps the
    granted scopes, or takes the requested ones on first connect (§5.1).
    """
    response = read_token_response(token, now=now or timezone.now())
    integration.access_token = response.access_token
    if response.refresh_token:
        integration.refresh_token = response.refresh_token
    integration.token_type = response.token_type
    integration.expires_at = response.expires_at
    if response.scopes is not None:
        integration.granted_scopes = response.scopes
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
    previous_status = integration.status
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
    if not created and previous_status in _RECOVERABLE:
        send_on_commit(integration_recovered, integration, previous_status=previous_status)
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


def _deny_unless_owner(integration, actor, purpose, ip_address):
    if actor is not None and getattr(actor, "is_authenticated", False):
        if integration.owner_id != actor.pk:
            audit.record(
                Action.REVEAL_DENIED, actor=actor, target_type=Integration._meta.label_lower,
                target_id=integration.pk, purpose=purpose, outcome=AuditEvent.Outcome.DENIED,
                ip_address=ip_address,
            )
            raise Integration.DoesNotExist("no such integration for this user")


@sensitive_variables()
def read_access_token(integration, *, purpose, actor=None, ip_address=None):
    """The stored access token as a :class:`Secret` (not refreshed), audited.

    ``purpose`` says why, e.g. ``"sync calendar"``. Returns ``None`` when the
    integration holds no token (revoked).
    """
    if not purpose:
        raise ValueError("reading a secret needs a stated purpose")
    _deny_unless_owner(integration, actor, purpose, ip_address)
    value = integration.access_token
    audit.record(Action.USE, actor=actor, target=integration, purpose=purpose,
                 ip_address=ip_address)
    return Secret(value) if value is not None else None


# -- getting a valid token: refresh exactly once ---------------------------------
#
# On PostgreSQL (any database with row locks) a refresh runs inside a
# transaction that holds the integration's row lock (SELECT ... FOR UPDATE), and
# the row is read again after locking: of many workers that find the same
# expired token, the first refreshes and the others wait for it and then find
# the new token. A worker that waited for another's refresh takes that
# refresh's outcome, failure included, so a provider that is down gets one
# request per expiry, not one per waiting worker. (Letting the waiters wake
# together with FOR SHARE instead of queueing for the exclusive lock was
# measured: with the waiters' reads and audit writes it was slower, not faster.)
#
# SQLite has no row locks: a refresh there never holds a transaction across the
# HTTP call (so the database is never locked while the provider answers); two
# processes can then both refresh, and the one a rotating provider refuses
# (invalid_grant) reads the row again, finds the winner's new refresh token and
# uses its token instead of marking the integration for re-authorization.

_RECOVERABLE = frozenset({
    Integration.Status.ERROR, Integration.Status.EXPIRED, Integration.Status.NEEDS_REAUTH,
})
_UNUSABLE = frozenset({Integration.Status.REVOKED, Integration.Status.NEEDS_REAUTH})
# Token-endpoint errors that mean the grant itself is gone: only the user can fix it.
REAUTH_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})


class TokenUnavailable(Exception):
    """No valid access token can be handed out; ``code`` says why (never a secret)."""

    def __init__(self, code, *, status=""):
        self.code = code
        self.status = status
        super().__init__(f"no valid access token: {code}")


class ReauthorizationRequired(TokenUnavailable):
    """The user must connect the account again (revoked, refused, expired without refresh token)."""


class RefreshFailed(TokenUnavailable):
    """The refresh failed for a reason that may pass (network, provider 5xx); tokens are kept."""


class Outcome:
    """What ``refresh_integration`` did."""

    FRESH = "fresh"  # the token was valid (perhaps refreshed meanwhile by another worker)
    REFRESHED = "refreshed"
    SKIPPED = "skipped"  # another worker holds the row (only with skip_locked)


def _usable(integration, margin, *, now=None):
    if integration.status in _UNUSABLE or integration.access_token_sealed is None:
        return False
    if integration.expires_at is None:
        return True
    now = now or timezone.now()
    return integration.expires_at > now + timedelta(seconds=margin)


def _db():
    return router.db_for_write(Integration)


def _queryset(db, pk):
    return Integration.objects.using(db).select_related("provider").filter(pk=pk)


@contextmanager
def _row(pk, *, skip_locked=False):
    """The integration's row, locked until the block ends where the database can
    lock rows; elsewhere a plain read outside any transaction."""
    db = _db()
    queryset = _queryset(db, pk)
    if connections[db].features.has_select_for_update:
        with transaction.atomic(using=db):
            yield queryset.select_for_update(of=("self",), skip_locked=skip_locked).first()
    else:
        yield queryset.first()


@transaction.atomic
def _mark_failed(integration, status, code, *, actor=None, ip_address=None):
    """Record a failed refresh; the stored tokens are kept as they are."""
    previous = integration.status
    integration.status = status
    integration.last_error = code[:255]
    integration.save(update_fields=["status", "last_error", "updated_at"])
    audit.record(Action.REFRESH, actor=actor, target=integration,
                 outcome=AuditEvent.Outcome.FAILURE, detail=code, ip_address=ip_address)
    if status in (Integration.Status.NEEDS_REAUTH, Integration.Status.EXPIRED) and previous != status:
        send_on_commit(integration_needs_reauth, integration, reason=code)


def _settled(row, *, margin, force, seen):
    """The outcome for ``row`` without asking the provider, or None to refresh.

    ``seen`` is the row's ``updated_at`` when the caller decided to refresh: a
    different one means another worker acted meanwhile, and its outcome stands.
    """
    if row.status in _UNUSABLE:
        return ReauthorizationRequired(row.last_error or row.status, status=row.status)
    changed = seen is not None and row.updated_at != seen
    if _usable(row, margin) and (not force or changed):
        return Outcome.FRESH
    if changed and row.status == Integration.Status.ERROR:
        return RefreshFailed(row.last_error or "error", status=row.status)
    return None


@sensitive_variables()
def _refresh_row(row, *, margin, force, actor, ip_address, seen=None):
    """Refresh ``row`` unless it is (now) usable. Returns an Outcome or a
    TokenUnavailable to raise once the row lock is released (raising inside the
    locked block would roll back the failure it records)."""
    settled = _settled(row, margin=margin, force=force, seen=seen)
    if settled is not None:
        return settled
    used = row.refresh_token
    if not used:
        _mark_failed(row, Integration.Status.EXPIRED, "no_refresh_token",
                     actor=actor, ip_address=ip_address)
        return ReauthorizationRequired("no_refresh_token", status=row.status)
    previous = row.status
    try:
        response = oauth.refresh_token_request(row.provider, used, actor=actor)
        with transaction.atomic(using=_db()):
            store_token_response(row, response, actor=actor, ip_address=ip_address)
    except oauth.OAuthFlowError as exc:
        if exc.code in REAUTH_ERRORS:
            # Refused: unless another worker rotated the refresh token meanwhile
            # (a race lost without a row lock), the user must connect again.
            current = Integration.objects.using(_db()).select_related("provider").get(pk=row.pk)
            if current.refresh_token != used and _usable(current, 0):
                return Outcome.FRESH
            _mark_failed(current, Integration.Status.NEEDS_REAUTH, exc.code,
                         actor=actor, ip_address=ip_address)
            return ReauthorizationRequired(exc.code, status=current.status)
        _mark_failed(row, Integration.Status.ERROR, exc.code, actor=actor, ip_address=ip_address)
        return RefreshFailed(exc.code, status=row.status)
    except TokenResponseError:
        _mark_failed(row, Integration.Status.ERROR, "invalid_token_response",
                     actor=actor, ip_address=ip_address)
        return RefreshFailed("invalid_token_response", status=row.status)
    send_on_commit(integration_refreshed, row)
    if previous in _RECOVERABLE:
        send_on_commit(integration_recovered, row, previous_status=previous)
    return Outcome.REFRESHED


def refresh_integration(integration, *, actor=None, ip_address=None, margin=None, force=False,
                        skip_locked=False, _seen=None):
    """Refresh the integration's tokens unless they are valid beyond ``margin``
    seconds (``force`` refreshes anyway), exactly once however many workers ask.

    Returns an :class:`Outcome` value; ``integration`` (an instance or a primary
    key) is updated in place. Raises :class:`ReauthorizationRequired` when the
    provider refused the grant (status ``needs_reauth``, tokens kept) or there is
    no refresh token, and :class:`RefreshFailed` on network errors and 5xx
    (status ``error``, tokens kept). With ``skip_locked`` (PostgreSQL) a row
    another worker is refreshing is skipped instead of waited for.
    """
    margin = app_settings.REFRESH_MARGIN_SECONDS if margin is None else margin
    pk = getattr(integration, "pk", integration)
    with _row(pk, skip_locked=skip_locked) as row:
        if row is None:
            if skip_locked and Integration.objects.using(_db()).filter(pk=pk).exists():
                return Outcome.SKIPPED
            raise Integration.DoesNotExist("no such integration")
        result = _refresh_row(row, margin=margin, force=force, actor=actor,
                              ip_address=ip_address, seen=_seen)
    if isinstance(integration, Integration):
        integration.refresh_from_db()
    if isinstance(result, TokenUnavailable):
        raise result
    return result


@sensitive_variables()
def get_valid_token(integration, *, purpose, actor=None, ip_address=None):
    """A valid access token for ``integration`` as a :class:`Secret`, audited.

    The token is returned when it stays valid for more than
    ``REFRESH_MARGIN_SECONDS``; otherwise it is refreshed first, exactly once
    however many workers ask at the same moment (see above). When a refresh
    fails for a passing reason (network, 5xx) the current token is still
    returned while it has not actually expired; otherwise the
    :class:`TokenUnavailable` subclass says what the user or operator has to do.
    """
    if not purpose:
        raise ValueError("reading a secret needs a stated purpose")
    _deny_unless_owner(integration, actor, purpose, ip_address)
    integration.refresh_from_db()  # another worker may have refreshed it already
    if integration.status in _UNUSABLE:
        raise ReauthorizationRequired(integration.last_error or integration.status,
                                      status=integration.status)
    if not _usable(integration, app_settings.REFRESH_MARGIN_SECONDS):
        try:
            refresh_integration(integration, actor=actor, ip_address=ip_address,
                                _seen=integration.updated_at)
        except RefreshFailed:
            if not _usable(integration, 0):
                raise
    return read_access_token(integration, purpose=purpose, actor=actor, ip_address=ip_address)


def refresh_expiring(*, within, limit=None, actor=None):
    """Refresh every active integration whose token expires within ``within``
    seconds (for cron or a task queue). Safe in several processes at once: rows
    another process is refreshing are skipped (PostgreSQL), and a row refreshed
    meanwhile is found fresh after locking. Returns ``{outcome: count}``, with
    ``needs_reauth``, ``expired`` and ``error`` for failures."""
    cutoff = timezone.now() + timedelta(seconds=within)
    candidates = (
        Integration.objects.filter(
            status__in=[Integration.Status.ACTIVE, Integration.Status.ERROR],
            refresh_token__isnull=False,
            expires_at__isnull=False,
            expires_at__lte=cutoff,
        )
        .order_by("expires_at")
        .values_list("pk", flat=True)
    )
    if limit:
        candidates = candidates[:limit]
    counts = {}
    for pk in list(candidates):
        try:
            outcome = refresh_integration(pk, actor=actor, margin=within, skip_locked=True)
        except ReauthorizationRequired as exc:
            outcome = exc.status or Integration.Status.NEEDS_REAUTH
        except RefreshFailed:
            outcome = Integration.Status.ERROR
        except Integration.DoesNotExist:
            continue  # deleted meanwhile
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


# -- disconnect: revoke at the provider, then erase ---------------------------------

@dataclass
class Disconnection:
    """What disconnecting did at the provider; codes only, never a token."""

    integration: Integration
    revocation_supported: bool = False
    revoked: list = field(default_factory=list)  # token type hints revoked at the provider
    failed: dict = field(default_factory=dict)  # token type hint -> error code

    @property
    def fully_revoked(self):
        return self.revocation_supported and not self.failed


@sensitive_variables()
def _revoke_at_provider(row, result, *, actor, ip_address):
    stored = [(hint, value) for hint, value in
              (("refresh_token", row.refresh_token), ("access_token", row.access_token)) if value]
    if not stored:
        return
    try:
        url = oauth.endpoints(row.provider).revocation_url
    except oauth.OAuthFlowError as exc:
        url, failure = "", exc.code
    else:
        failure = "no_revocation_endpoint"
    if not url:
        audit.record(Action.REVOKE, actor=actor, target=row, outcome=AuditEvent.Outcome.FAILURE,
                     detail=f"not revoked at the provider: {failure}", ip_address=ip_address)
        return
    result.revocation_supported = True
    for hint, value in stored:
        try:
            oauth.revoke_token_request(row.provider, value, hint, revocation_url=url, actor=actor)
        except oauth.OAuthFlowError as exc:
            result.failed[hint] = exc.code
            audit.record(Action.REVOKE, actor=actor, target=row,
                         outcome=AuditEvent.Outcome.FAILURE, detail=f"{hint}: {exc.code}",
                         ip_address=ip_address)
        else:
            result.revoked.append(hint)
            audit.record(Action.REVOKE, actor=actor, target=row,
                         detail=f"{hint} revoked at the provider", ip_address=ip_address)


def disconnect(user, integration, *, ip_address=None, actor=None):
    """Disconnect the user's integration: revoke its refresh and access tokens at
    the provider's RFC 7009 endpoint when it has one (each outcome audited), then
    mark it ``revoked`` and erase its sealed tokens whatever the provider said.

    ``actor`` is who acts, when not the owner (staff in the admin); the audit
    events name them. Returns a :class:`Disconnection`. Another user's
    integration is ``Integration.DoesNotExist``.
    """
    pk = getattr(integration, "pk", integration)
    get_integration(user, pk)  # ownership
    actor = actor or user
    with _row(pk) as row:
        if row is None:
            raise Integration.DoesNotExist("no such integration for this user")
        result = Disconnection(integration=row)
        _revoke_at_provider(row, result, actor=actor, ip_address=ip_address)
        with transaction.atomic(using=_db()):
            row.access_token = None
            row.refresh_token = None
            row.expires_at = None
            row.status = Integration.Status.REVOKED
            row.last_error = ""
            row.save(update_fields=["access_token", "refresh_token", "expires_at", "status",
                                    "last_error", "updated_at"])
            audit.record(Action.DISCONNECT, actor=actor, target=row, ip_address=ip_address,
                         detail="revoked at the provider" if result.fully_revoked else
                         "tokens erased; not (fully) revoked at the provider")
    if isinstance(integration, Integration):
        integration.refresh_from_db()
    return result


__all__ = [
    "Disconnection",
    "Outcome",
    "ReauthorizationRequired",
    "RefreshFailed",
    "TokenResponseError",
    "TokenUnavailable",
    "ValidationError",
    "apply_token_response",
    "connect",
    "disconnect",
    "get_integration",
    "get_valid_token",
    "list_integrations",
    "parse_scopes",
    "read_access_token",
    "refresh_expiring",
    "refresh_integration",
    "store_token_response",
]
