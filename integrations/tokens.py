"""The token service: the only code that reads or writes an integration's tokens.

It stores what a provider's token endpoint returns (access and refresh tokens,
type, lifetime, scope) and hands the access token out as a :class:`Secret`, with
an audit event for every read and change. The OAuth flow, refresh and
revocation build on these functions.
"""

import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import connections, router, transaction
from django.db.models import BooleanField, Case, F, Field, Q, QuerySet, When
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from . import audit, oauth, oauth1, ratelimit
from ._typing import User
from .backoff import call_with_backoff
from .conf import app_settings
from .crypto import CryptoError, KeyringError, NotSealedError, UnknownKeyVersionError
from .models import AuditEvent, Integration, Provider
from .provider_data import TokenResponseError, parse_scopes, read_token_response
from .redaction import Secret
from .signals import (
    integration_needs_reauth,
    integration_recovered,
    integration_refreshed,
    send_on_commit,
)

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
    _clear_lease(integration)  # new tokens end any refresh in flight
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
    if not created and previous_status in _RECOVERABLE:
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
    _clear_lease(integration)  # new tokens end any refresh in flight
    integration.save()
    audit.record(action, actor=actor, target=integration, ip_address=ip_address)
    return integration


def _deny_unless_owner(integration, actor, purpose, ip_address):
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
    _deny_unless_owner(integration, actor, purpose, ip_address)
    value = integration.access_token
    audit.record(
        Action.USE, actor=actor, target=integration, purpose=purpose, ip_address=ip_address
    )
    return Secret(value) if value is not None else None


# -- getting a valid token: refresh exactly once ---------------------------------
#
# One mechanism on every database (SQLite, PostgreSQL, MySQL), for processes and
# for threads of one process: a *lease* on the integration's row. A worker that
# must refresh claims the lease with one conditional UPDATE (``WHERE pk = … AND
# the lease is free or expired``); the row count says whether it won. The winner
# reads the row again, asks the provider with no transaction open, and writes the
# outcome (new tokens, or the failure) with an UPDATE conditioned on still
# holding its lease, which releases it in the same statement. The others poll
# the row (short sleeps, a bounded total) and take the winner's outcome: its new
# token, or its failure, so a provider that is down gets one request per expiry,
# not one per waiting worker. A provider that detects refresh-token reuse (and
# revokes the whole grant) therefore never sees a rotated refresh token twice.
#
# A lease expires after ``_lease_seconds()`` (longer than a refresh's requests
# can take), so a worker killed mid-refresh delays the next refresh, never
# blocks it. Writing new tokens any other way (connect, ``store_token_response``)
# or disconnecting clears the lease: a refresh still in flight then stores
# nothing, and its waiters find the new state.
#
# Call these outside a transaction: inside one, the lease is only visible to the
# other workers once the caller commits (and on PostgreSQL they queue on the
# row lock of the UPDATE until then).

_RECOVERABLE = frozenset(
    {
        Integration.Status.ERROR,
        Integration.Status.EXPIRED,
        Integration.Status.NEEDS_REAUTH,
    }
)
_UNUSABLE = frozenset({Integration.Status.REVOKED, Integration.Status.NEEDS_REAUTH})
# Token-endpoint errors that mean the grant itself is gone: only the user can fix it.
REAUTH_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})
# The columns a token response may change (see apply_token_response).
_TOKEN_FIELDS = ("access_token", "refresh_token", "token_type", "expires_at", "granted_scopes")
# Waiters poll the row: first after _POLL_FIRST seconds, then less often, up to _POLL_MAX.
_POLL_FIRST, _POLL_MAX = 0.02, 0.25


class TokenUnavailable(Exception):
    """No valid access token can be handed out; ``code`` says why (never a secret)."""

    def __init__(self, code: str, *, status: str = "") -> None:
        self.code = code
        self.status = status
        super().__init__(f"no valid access token: {code}")


class ReauthorizationRequired(TokenUnavailable):
    """The user must connect the account again (revoked, refused, expired without refresh token)."""


class TokenUnreadable(ReauthorizationRequired):
    """A stored token cannot be opened: tampered or corrupt (``token_unreadable``),
    legacy plaintext while plaintext reads are off (``token_not_sealed``), or sealed
    with a key version the keyring lacks or has retired (``token_key_unknown``).

    The integration is marked ``needs_reauth``: connecting again replaces the
    tokens; an operator who restores the key (or runs ``encrypt_legacy``) can set
    the status back to ``active``.
    """


class RefreshFailed(TokenUnavailable):
    """The refresh failed for a reason that may pass (network, provider 5xx); tokens are kept."""


class RefreshRateLimited(RefreshFailed):
    """A forced refresh refused before asking the provider: this integration was
    force-refreshed too often (``INTEGRATION_REFRESH_SCOPE``'s rate, 10/min by
    default). Nothing changes on the row; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("refresh_rate_limited")
        self.retry_after = retry_after


class Outcome:
    """What ``refresh_integration`` did."""

    FRESH = "fresh"  # the token was valid (perhaps refreshed meanwhile by another worker)
    REFRESHED = "refreshed"
    SKIPPED = "skipped"  # another worker is refreshing it (only with skip_busy)


def _unreadable_code(exc):
    if isinstance(exc, NotSealedError):
        return "token_not_sealed"
    if isinstance(exc, UnknownKeyVersionError):
        return "token_key_unknown"
    return "token_unreadable"


@sensitive_variables()
def _open_token(integration, name):
    """The opened token ``name``; an unreadable stored value (a problem of this row,
    not of the configuration) raises :class:`TokenUnreadable`."""
    try:
        return getattr(integration, name)
    except KeyringError:
        raise
    except CryptoError as exc:
        raise TokenUnreadable(_unreadable_code(exc), status=integration.status) from None


def _readable(integration, name):
    try:
        _open_token(integration, name)
    except TokenUnreadable:
        return False
    return True


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


def _lease_seconds():
    """How long a refresh lease holds: longer than a refresh's requests (discovery
    and the token request, each bounded by the HTTP timeout) can take."""
    return 3 * app_settings.HTTP_TIMEOUT_SECONDS + 5


def _claim(db, pk):
    """Take the row's refresh lease if it is free or expired; the lease id, or None."""
    lease = uuid.uuid4()
    now = timezone.now()
    won = (
        Integration.objects.using(db)
        .filter(pk=pk)
        .filter(
            Q(refresh_lease__isnull=True)
            | Q(refresh_lease_expires_at__isnull=True)
            | Q(refresh_lease_expires_at__lte=now)
        )
        .update(
            refresh_lease=lease, refresh_lease_expires_at=now + timedelta(seconds=_lease_seconds())
        )
    )
    return lease if won else None


def _release(db, pk, lease):
    Integration.objects.using(db).filter(pk=pk, refresh_lease=lease).update(
        refresh_lease=None, refresh_lease_expires_at=None
    )


def _clear_lease(integration):
    """Make the next save end any refresh in flight (it then stores nothing)."""
    integration.refresh_lease = None
    integration.refresh_lease_expires_at = None


def _concrete_field(name: str) -> "Field[Any, Any]":
    """A column of Integration (never a relation), for its ``pre_save``."""
    return cast("Field[Any, Any]", Integration._meta.get_field(name))


def _write_if_leased(db, row, lease, fields):
    """Write ``fields`` of ``row`` and release ``lease`` in one UPDATE, only while
    the lease is still ours. True when written."""
    _clear_lease(row)
    names = (*fields, "refresh_lease", "refresh_lease_expires_at", "updated_at")
    values = {name: _concrete_field(name).pre_save(row, False) for name in names}
    return (
        Integration.objects.using(db).filter(pk=row.pk, refresh_lease=lease).update(**values) == 1
    )


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


def _record_failure(db, row, lease, failure, *, actor, ip_address):
    """Store ``failure`` (a TokenUnavailable) on the row, tokens kept, and return
    the outcome to hand back. Should the lease have been lost meanwhile (the row
    reconnected, disconnected or refreshed by another), the row's state wins."""
    status = {
        ReauthorizationRequired: Integration.Status.NEEDS_REAUTH,
        TokenUnreadable: Integration.Status.NEEDS_REAUTH,
        RefreshFailed: Integration.Status.ERROR,
    }[type(failure)]
    if failure.code == "no_refresh_token":
        status = Integration.Status.EXPIRED
    previous = row.status
    row.status, row.last_error = status, failure.code[:255]
    with transaction.atomic(using=db):
        written = _write_if_leased(db, row, lease, ("status", "last_error"))
        if written:
            audit.record(
                Action.REFRESH,
                actor=actor,
                target=row,
                outcome=AuditEvent.Outcome.FAILURE,
                detail=failure.code,
                ip_address=ip_address,
            )
            if (
                status in (Integration.Status.NEEDS_REAUTH, Integration.Status.EXPIRED)
                and previous != status
            ):
                send_on_commit(integration_needs_reauth, row, reason=failure.code)
    if written:
        failure.status = status
        return failure
    current = _queryset(db, row.pk).first()
    if current is None:
        raise Integration.DoesNotExist("no such integration")
    return _settled(current, margin=0, force=False, seen=row.updated_at) or failure


@sensitive_variables()
def _refresh_leased(db, pk, lease, *, margin, force, seen, actor, ip_address):
    """Refresh while holding ``lease``: Outcome or a TokenUnavailable to raise."""
    try:
        row = _queryset(db, pk).first()
        if row is None:
            raise Integration.DoesNotExist("no such integration")
        settled = _settled(row, margin=margin, force=force, seen=seen)
        if settled is not None:
            return settled
        try:
            used = _open_token(row, "refresh_token")
        except TokenUnreadable as exc:
            return _record_failure(db, row, lease, exc, actor=actor, ip_address=ip_address)
        if not used:
            return _record_failure(
                db,
                row,
                lease,
                ReauthorizationRequired("no_refresh_token"),
                actor=actor,
                ip_address=ip_address,
            )
        if force:
            # Whoever forces it (the refresh endpoint, a 401 through tokens.session or
            # Test connection), one integration is refreshed at most so often: a
            # provider answering 401 to every call cannot drive unbounded refreshes.
            usage = ratelimit.hit_key(ratelimit.INTEGRATION_REFRESH_SCOPE, f"integration:{pk}")
            if not usage.allowed:
                return RefreshRateLimited(usage.retry_after)
        previous = row.status
        try:
            # Retried after a passing failure, within this lease: no try may outlast it.
            response = call_with_backoff(
                lambda: oauth.refresh_token_request(row.provider, used, actor=actor),
                budget=_lease_seconds() - 2 * app_settings.HTTP_TIMEOUT_SECONDS - 1,
            )
            apply_token_response(row, response)
        except oauth.OAuthFlowError as exc:
            failure = (ReauthorizationRequired if exc.code in REAUTH_ERRORS else RefreshFailed)(
                exc.code
            )
            return _record_failure(db, row, lease, failure, actor=actor, ip_address=ip_address)
        except TokenResponseError:
            return _record_failure(
                db,
                row,
                lease,
                RefreshFailed("invalid_token_response"),
                actor=actor,
                ip_address=ip_address,
            )
        row.status, row.last_error = Integration.Status.ACTIVE, ""
        row.last_refreshed_at = timezone.now()
        with transaction.atomic(using=db):
            if _write_if_leased(
                db, row, lease, (*_TOKEN_FIELDS, "status", "last_error", "last_refreshed_at")
            ):
                audit.record(Action.REFRESH, actor=actor, target=row, ip_address=ip_address)
                send_on_commit(integration_refreshed, row)
                if previous in _RECOVERABLE:
                    send_on_commit(integration_recovered, row, previous_status=previous)
                return Outcome.REFRESHED
        # Lost the lease while the provider answered (it expired and another worker
        # took over, or the row was reconnected or disconnected): the row's state wins.
        current = _queryset(db, pk).get()
        return _settled(current, margin=0, force=False, seen=row.updated_at) or RefreshFailed(
            "refresh_lease_lost", status=current.status
        )
    finally:
        _release(db, pk, lease)  # a no-op once written


def _refresh_or_wait(db, pk, *, margin, force, seen, skip_busy, actor, ip_address):
    """Claim the lease and refresh, or wait for the worker that holds it and take
    its outcome (claiming the lease ourselves if it expires)."""
    deadline = time.monotonic() + 2 * _lease_seconds()
    pause = _POLL_FIRST
    claimable = True
    while True:
        lease = _claim(db, pk) if claimable else None
        if lease is not None:
            return _refresh_leased(
                db,
                pk,
                lease,
                margin=margin,
                force=force,
                seen=seen,
                actor=actor,
                ip_address=ip_address,
            )
        if skip_busy:
            return Outcome.SKIPPED
        if time.monotonic() > deadline:
            return RefreshFailed("refresh_busy")
        time.sleep(pause)
        pause = min(pause * 1.5, _POLL_MAX)
        row = _queryset(db, pk).first()  # waiting is reading: no writes while polling
        if row is None:
            raise Integration.DoesNotExist("no such integration")
        settled = _settled(row, margin=margin, force=force, seen=seen)
        if settled is not None:
            return settled
        claimable = (
            row.refresh_lease is None
            or row.refresh_lease_expires_at is None
            or row.refresh_lease_expires_at <= timezone.now()
        )


def refresh_integration(
    integration: Integration | uuid.UUID | str,
    *,
    actor: User | None = None,
    ip_address: str | None = None,
    margin: float | None = None,
    force: bool = False,
    skip_busy: bool = False,
    _seen: datetime | None = None,
) -> str:
    """Refresh the integration's tokens unless they are valid beyond ``margin``
    seconds (``force`` refreshes anyway, unless another worker refreshed them
    since), exactly once however many workers ask.

    Returns an :class:`Outcome` value; ``integration`` (an instance or a primary
    key) is updated in place. Raises :class:`ReauthorizationRequired` when the
    provider refused the grant (status ``needs_reauth``, tokens kept) or there is
    no refresh token, :class:`TokenUnreadable` when the stored refresh token
    cannot be opened (status ``needs_reauth``), and :class:`RefreshFailed` on
    network errors and 5xx (status ``error``, tokens kept). With ``skip_busy`` a
    row another worker is refreshing is skipped instead of waited for.
    """
    margin = app_settings.REFRESH_MARGIN_SECONDS if margin is None else margin
    pk = cast("uuid.UUID | str", getattr(integration, "pk", integration))
    db = _db()
    oauth1_row = _queryset(db, pk).filter(provider__auth_type=Provider.AuthType.OAUTH1).first()
    if oauth1_row is not None:
        # OAuth 1.0a tokens do not expire and cannot be refreshed: nothing to do,
        # and nothing is marked expired (the provider revokes them instead).
        if oauth1_row.status in _UNUSABLE:
            raise ReauthorizationRequired(
                oauth1_row.last_error or oauth1_row.status, status=oauth1_row.status
            )
        for name in ("access_token", "token_secret"):
            try:
                _open_token(oauth1_row, name)
            except TokenUnreadable as exc:
                _oauth1_unreadable(oauth1_row, exc, actor=actor, ip_address=ip_address)
                if isinstance(integration, Integration):
                    integration.refresh_from_db()
                raise
        return Outcome.FRESH
    seen = _seen
    if seen is None:
        seen = Integration.objects.using(db).values_list("updated_at", flat=True).get(pk=pk)
    result = _refresh_or_wait(
        db,
        pk,
        margin=margin,
        force=force,
        seen=seen,
        skip_busy=skip_busy,
        actor=actor,
        ip_address=ip_address,
    )
    if isinstance(integration, Integration):
        integration.refresh_from_db()
    if isinstance(result, TokenUnavailable):
        raise result
    return result


@sensitive_variables()
def get_valid_token(
    integration: Integration,
    *,
    purpose: str,
    actor: User | None = None,
    ip_address: str | None = None,
) -> Secret | None:
    """A valid access token for ``integration`` as a :class:`Secret`, audited.

    The token is returned when it stays valid for more than
    ``REFRESH_MARGIN_SECONDS``; otherwise it is refreshed first, exactly once
    however many workers ask at the same moment (see above). A stored access
    token that cannot be opened is replaced by a refresh too. When a refresh
    fails for a passing reason (network, 5xx) the current token is still
    returned while it has not actually expired; otherwise the
    :class:`TokenUnavailable` subclass says what the user or operator has to do.
    """
    if not purpose:
        raise ValueError("reading a secret needs a stated purpose")
    _deny_unless_owner(integration, actor, purpose, ip_address)
    handed_out = _read_again_and_audit(integration, purpose, actor, ip_address)
    if handed_out is not None:
        return handed_out
    if integration.status in _UNUSABLE:
        raise ReauthorizationRequired(
            integration.last_error or integration.status, status=integration.status
        )
    readable = _readable(integration, "access_token")
    if not readable or not _usable(integration, app_settings.REFRESH_MARGIN_SECONDS):
        try:
            refresh_integration(
                integration,
                actor=actor,
                ip_address=ip_address,
                force=not readable,
                _seen=integration.updated_at,
            )
        except RefreshFailed:
            if not _usable(integration, 0) or not _readable(integration, "access_token"):
                raise
    _open_token(integration, "access_token")
    return read_access_token(integration, purpose=purpose, actor=actor, ip_address=ip_address)


@sensitive_variables()
def _read_again_and_audit(integration, purpose, actor, ip_address):
    """Read the row again and, if the caller's token is still the stored, usable
    one, record its use: one statement, so one round trip and one commit.

    Returns the token (its use recorded) when that held; otherwise ``None``,
    with ``integration`` read again either way, for the general path to decide.
    The audit row is inserted by the same statement that checks the stored
    token (a data-modifying ``WITH`` on PostgreSQL, all or nothing): a token is
    never handed out without its record. Elsewhere: ``refresh_from_db()``, then
    the general path records the use.
    """
    db = _db()
    connection = connections[db]
    sealed = integration.__dict__.get("access_token_sealed")
    if (
        connection.vendor != "postgresql"
        or not isinstance(sealed, str)
        or integration.status in _UNUSABLE
        or not _readable(integration, "access_token")
    ):
        integration.refresh_from_db(using=db)
        return None
    now = timezone.now()
    usable_until = now + timedelta(seconds=app_settings.REFRESH_MARGIN_SECONDS)
    event = audit.build(
        Action.USE, actor=actor, target=integration, purpose=purpose, ip_address=ip_address
    )
    columns, values, event_params = audit.insert_sql(event, connection)
    quote = connection.ops.quote_name
    table = quote(Integration._meta.db_table)
    pk_field = cast("Any", Integration._meta.pk)
    pk_column = quote(pk_field.column)
    pk = pk_field.get_db_prep_value(integration.pk, connection)
    token = quote(cast("Any", Integration._meta.get_field("access_token")).column)
    status, expires_at = quote("status"), quote("expires_at")
    unusable = ", ".join(["%s"] * len(_UNUSABLE))
    attnames, selected, converters = _row_reader(connection)
    sql = (
        f"WITH use AS (INSERT INTO {quote(AuditEvent._meta.db_table)} ({columns}) "
        f"SELECT {values} WHERE EXISTS (SELECT 1 FROM {table} WHERE {pk_column} = %s "
        f"AND {token} = %s AND {status} NOT IN ({unusable}) "
        f"AND ({expires_at} IS NULL OR {expires_at} > %s)) RETURNING 1) "
        f"SELECT {selected}, (SELECT COUNT(*) FROM use) FROM {table} WHERE {pk_column} = %s"
    )
    params = [*event_params, pk, sealed, *sorted(_UNUSABLE), usable_until, pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise Integration.DoesNotExist("Integration matching query does not exist.")
    values_read = list(row[:-1])
    for index, functions, column in converters:
        for function in functions:
            values_read[index] = function(values_read[index], column, connection)
    _take_state(integration, Integration.from_db(db, attnames, values_read))
    if not row[-1]:
        return None
    value = integration.access_token
    return Secret(value) if value is not None else None


_ROW_READERS: dict[str, tuple[list[str], str, list[tuple[int, list[Any], Any]]]] = {}


def _row_reader(connection):
    """Integration's columns for a hand-written SELECT, and the converters the
    ORM would apply to them (JSON, for instance), computed once per database."""
    reader = _ROW_READERS.get(connection.alias)
    if reader is None:
        fields: list[Any] = list(Integration._meta.concrete_fields)
        converters = []
        for index, column in enumerate(field.cached_col for field in fields):
            functions = connection.ops.get_db_converters(column) + column.get_db_converters(
                connection
            )
            if functions:
                converters.append((index, functions, column))
        selected = ", ".join(connection.ops.quote_name(field.column) for field in fields)
        reader = ([field.attname for field in fields], selected, converters)
        _ROW_READERS[connection.alias] = reader
    return reader


def _take_state(instance, fresh):
    """``refresh_from_db()`` from a row already read (Django's steps, in order).

    An unchanged string keeps its object, so a sealed value opened already is
    not opened again."""
    opts = Integration._meta
    column: Any
    for column in opts.fields:
        if column.concrete:
            value = fresh.__dict__[column.attname]
            old = instance.__dict__.get(column.attname)
            if not (type(value) is str and type(old) is str and old == value):
                setattr(instance, column.attname, value)
        if column.is_relation:
            if column.is_cached(fresh):
                column.set_cached_value(instance, column.get_cached_value(fresh))
            elif column.is_cached(instance):
                column.delete_cached_value(instance)
    rel: Any
    for rel in [*opts.related_objects, *opts.private_fields]:
        if rel.is_relation and rel.is_cached(instance):
            rel.delete_cached_value(instance)
    instance._state.db = fresh._state.db


@sensitive_variables()
def refresh_rejected(integration, rejected, *, actor=None, ip_address=None):
    """The provider answered 401 to the access token ``rejected`` (its plain
    value): refresh once, exactly once across workers, unless another worker
    already replaced that token (its token is then the one to use). Returns an
    :class:`Outcome`; raises like :func:`refresh_integration` (without a refresh
    token: :class:`ReauthorizationRequired`, status ``expired``)."""
    integration.refresh_from_db()
    try:
        stored = _open_token(integration, "access_token")
    except TokenUnreadable:
        stored = None
    if stored and stored != rejected and _usable(integration, 0):
        return Outcome.FRESH
    # The row's updated_at when the rejected token was still stored: a refresh
    # by another worker from here on changes it, and its token is taken instead.
    return refresh_integration(
        integration, actor=actor, ip_address=ip_address, force=True, _seen=integration.updated_at
    )


@sensitive_variables()
def _oauth1_unreadable(row, failure, *, actor, ip_address):
    """An OAuth 1.0a token or secret that cannot be opened: nothing can refresh
    it, so the user must connect again (``needs_reauth``, audited, notified), as
    for an OAuth 2 row whose refresh token cannot be opened."""
    db = _db()
    changed = (
        Integration.objects.using(db)
        .filter(pk=row.pk, status=row.status)
        .update(
            status=Integration.Status.NEEDS_REAUTH,
            last_error=failure.code[:255],
            updated_at=timezone.now(),
        )
    )
    failure.status = Integration.Status.NEEDS_REAUTH
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


def get_signing_credentials(
    integration: Integration,
    *,
    purpose: str,
    actor: User | None = None,
    ip_address: str | None = None,
) -> tuple[Secret, Secret]:
    """OAuth 1.0a: the access token and its token secret, each a :class:`Secret`,
    handed out (and audited as a ``use``) once. :class:`ReauthorizationRequired`
    when the integration holds none (disconnected)."""
    token = get_valid_token(integration, purpose=purpose, actor=actor, ip_address=ip_address)
    try:
        secret = _open_token(integration, "token_secret")
    except TokenUnreadable as exc:
        _oauth1_unreadable(integration, exc, actor=actor, ip_address=ip_address)
        raise
    if token is None or secret is None:
        raise ReauthorizationRequired(integration.status, status=integration.status)
    return token, Secret(secret)


def session(integration, *, purpose, actor=None):
    """A ``requests.Session`` whose requests carry a valid access token, refreshed
    before it expires and once after a 401 (see :mod:`integrations.provider_calls`).
    For an OAuth 1.0a integration each request is signed (RFC 5849) with the
    access token and its secret instead; nothing is refreshed."""
    from .provider_calls import IntegrationTokens, ProviderCallSession

    return ProviderCallSession(IntegrationTokens(integration, purpose=purpose, actor=actor))


def httpx_auth(integration, *, purpose, actor=None):
    """An ``httpx.Auth`` doing what :func:`session` does, for ``httpx.Client`` and
    ``httpx.AsyncClient``."""
    from .provider_calls import IntegrationTokens, ProviderCallAuth

    return ProviderCallAuth(IntegrationTokens(integration, purpose=purpose, actor=actor))


# Async twins for async views: the sync service runs in Django's thread-sensitive
# executor, so the lease and refresh logic stays in one place and the ORM is never
# called from the event loop.


async def aget_valid_token(integration, *, purpose, actor=None, ip_address=None):
    """:func:`get_valid_token` for async code."""
    return await sync_to_async(get_valid_token, thread_sensitive=True)(
        integration, purpose=purpose, actor=actor, ip_address=ip_address
    )


async def aread_access_token(integration, *, purpose, actor=None, ip_address=None):
    """:func:`read_access_token` for async code."""
    return await sync_to_async(read_access_token, thread_sensitive=True)(
        integration, purpose=purpose, actor=actor, ip_address=ip_address
    )


async def arefresh_integration(integration, **options):
    """:func:`refresh_integration` for async code (same keyword options)."""
    return await sync_to_async(refresh_integration, thread_sensitive=True)(integration, **options)


@dataclass
class RefreshReport:
    """What ``refresh_expiring`` did: ``counts`` per outcome, and each row that
    failed as ``(integration id, outcome, code)`` (codes only, never a secret)."""

    counts: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, outcome: str, pk: object = None, code: str | None = None) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        if code is not None:
            self.failures.append((str(pk), outcome, code))


def refresh_expiring(
    *, within: float, limit: int | None = None, actor: User | None = None
) -> RefreshReport:
    """Refresh every active integration whose token expires within ``within``
    seconds (for cron or a task queue). Safe in several processes at once: a row
    another process is refreshing is skipped, and one refreshed meanwhile is
    found fresh. One row's failure, whatever it is, never stops the others.

    Returns a :class:`RefreshReport`; outcomes are ``refreshed``, ``fresh``,
    ``skipped``, the status a failure left (``needs_reauth``, ``expired``,
    ``error``), ``unreadable`` (a stored token cannot be opened; the row is
    marked ``needs_reauth``) and ``failed`` (an unexpected error; logged by type).

    With ``REFRESH_IDLE_AFTER_DAYS`` set, grants not refreshed (nor connected)
    for that many days are refreshed too, valid or not: some providers let an
    unused refresh token die.
    """
    now = timezone.now()
    due = Q(expires_at__isnull=False, expires_at__lte=now + timedelta(seconds=within))
    idle_days = app_settings.REFRESH_IDLE_AFTER_DAYS
    idle = Q(pk__in=[])
    if idle_days:
        idle_since = now - timedelta(days=idle_days)
        idle = Q(last_refreshed_at__lte=idle_since) | Q(
            last_refreshed_at__isnull=True, created_at__lte=idle_since
        )
    candidates = (
        Integration.objects.filter(
            due | idle,
            status__in=[Integration.Status.ACTIVE, Integration.Status.ERROR],
            refresh_token__isnull=False,
        )
        # OAuth 1.0a tokens never expire and have nothing to refresh.
        .exclude(provider__auth_type=Provider.AuthType.OAUTH1)
        .annotate(
            idle=Case(When(~due & idle, then=True), default=False, output_field=BooleanField())
        )
        .order_by(F("expires_at").asc(nulls_last=True))
        .values_list("pk", "updated_at", "idle")
    )
    if limit:
        candidates = candidates[:limit]
    report = RefreshReport()
    for pk, seen, force in list(candidates):
        try:
            # ``seen`` as selected: a row another worker refreshed since is fresh,
            # even when an idle one is forced.
            report.add(
                refresh_integration(
                    pk, actor=actor, margin=within, skip_busy=True, force=force, _seen=seen
                )
            )
        except TokenUnreadable as exc:
            report.add("unreadable", pk, exc.code)
        except ReauthorizationRequired as exc:
            report.add(exc.status or Integration.Status.NEEDS_REAUTH, pk, exc.code)
        except RefreshFailed as exc:
            report.add(Integration.Status.ERROR, pk, exc.code)
        except Integration.DoesNotExist:
            continue  # deleted meanwhile
        except Exception as exc:  # noqa: BLE001 - one bad row must not stop the run
            # The type only: an unexpected exception's text may quote a response.
            logger.error("Refreshing integration %s failed: %s", pk, type(exc).__name__)
            report.add("failed", pk, type(exc).__name__)
    return report


# -- disconnect: revoke at the provider, then erase ---------------------------------


@dataclass
class Disconnection:
    """What disconnecting did at the provider; codes only, never a token."""

    integration: Integration
    revocation_supported: bool = False
    revoked: list[str] = field(default_factory=list)  # token type hints revoked at the provider
    failed: dict[str, str] = field(default_factory=dict)  # token type hint -> error code

    @property
    def fully_revoked(self) -> bool:
        return self.revocation_supported and not self.failed


@sensitive_variables()
def _revocable_tokens(row, result, *, actor, ip_address):
    """The stored tokens that can be opened, as ``(hint, value)``; one that cannot
    (tampered, legacy plaintext, unknown key) is skipped and the skip audited."""
    stored = []
    for hint in ("refresh_token", "access_token"):
        try:
            value = _open_token(row, hint)
        except TokenUnreadable as exc:
            result.failed[hint] = exc.code
            _record_revocation(row, f"{hint}: not revoked: {exc.code}", actor, ip_address)
            continue
        if value:
            stored.append((hint, value))
    return stored


def _record_revocation(row, detail, actor, ip_address, *, succeeded=False):
    """One ``revoke`` audit event about ``row``; ``detail`` names tokens and codes only."""
    audit.record(
        Action.REVOKE,
        actor=actor,
        target=row,
        outcome=AuditEvent.Outcome.SUCCESS if succeeded else AuditEvent.Outcome.FAILURE,
        detail=detail,
        ip_address=ip_address,
    )


def _revocation_url(row, endpoints, actor, ip_address):
    """The provider's revocation URL, or ``""`` with the reason audited."""
    try:
        url = endpoints(row.provider).revocation_url
    except oauth.OAuthFlowError as exc:
        url, failure = "", exc.code
    else:
        failure = "no_revocation_endpoint"
    if not url:
        _record_revocation(row, f"not revoked at the provider: {failure}", actor, ip_address)
    return url


@sensitive_variables()
def _revoke_oauth1(row, result, *, actor, ip_address):
    """OAuth 1.0a has no standard revocation: a signed POST to the revocation URL
    a preset names (X's ``invalidate_token``), with the access token and secret."""
    try:
        token = _open_token(row, "access_token")
        secret = _open_token(row, "token_secret")
    except TokenUnreadable as exc:
        result.failed["access_token"] = exc.code
        _record_revocation(row, f"access_token: not revoked: {exc.code}", actor, ip_address)
        return
    if not token:
        return
    url = _revocation_url(row, oauth1.endpoints, actor, ip_address)
    if not url:
        return
    result.revocation_supported = True
    try:
        oauth1.revoke_token_request(
            row.provider, token, secret or "", revocation_url=url, actor=actor
        )
    except oauth.OAuthFlowError as exc:
        result.failed["access_token"] = exc.code
        _record_revocation(row, f"access_token: {exc.code}", actor, ip_address)
    else:
        result.revoked.append("access_token")
        _record_revocation(
            row, "access_token revoked at the provider", actor, ip_address, succeeded=True
        )


@sensitive_variables()
def _revoke_at_provider(row, result, *, actor, ip_address):
    if row.provider.auth_type == Provider.AuthType.OAUTH1:
        _revoke_oauth1(row, result, actor=actor, ip_address=ip_address)
        return
    stored = _revocable_tokens(row, result, actor=actor, ip_address=ip_address)
    if not stored:
        return
    url = _revocation_url(row, oauth.endpoints, actor, ip_address)
    if not url:
        return
    result.revocation_supported = True
    for hint, value in stored:
        try:
            oauth.revoke_token_request(row.provider, value, hint, revocation_url=url, actor=actor)
        except oauth.OAuthFlowError as exc:
            result.failed[hint] = exc.code
            _record_revocation(row, f"{hint}: {exc.code}", actor, ip_address)
        else:
            result.revoked.append(hint)
            _record_revocation(
                row, f"{hint} revoked at the provider", actor, ip_address, succeeded=True
            )


def disconnect(
    user: User,
    integration: Integration | uuid.UUID | str,
    *,
    ip_address: str | None = None,
    actor: User | None = None,
) -> Disconnection:
    """Disconnect the user's integration: revoke its refresh and access tokens at
    the provider's RFC 7009 endpoint when it has one (each outcome audited), then
    mark it ``revoked`` and erase its sealed tokens whatever the provider said.

    ``actor`` is who acts, when not the owner (staff in the admin); the audit
    events name them. Returns a :class:`Disconnection`. Another user's
    integration is ``Integration.DoesNotExist``.
    """
    pk = cast("uuid.UUID | str", getattr(integration, "pk", integration))
    get_integration(user, pk)  # ownership
    actor = actor or user
    db = _db()
    row = _queryset(db, pk).first()  # no transaction is held while the provider answers
    if row is None:
        raise Integration.DoesNotExist("no such integration for this user")
    result = Disconnection(integration=row)
    _revoke_at_provider(row, result, actor=actor, ip_address=ip_address)
    with transaction.atomic(using=db):
        row.access_token = None
        row.refresh_token = None
        row.token_secret = None
        row.expires_at = None
        row.status = Integration.Status.REVOKED
        row.last_error = ""
        _clear_lease(row)  # a refresh in flight stores nothing
        row.save(
            update_fields=[
                "access_token",
                "refresh_token",
                "token_secret",
                "expires_at",
                "status",
                "last_error",
                "refresh_lease",
                "refresh_lease_expires_at",
                "updated_at",
            ]
        )
        audit.record(
            Action.DISCONNECT,
            actor=actor,
            target=row,
            ip_address=ip_address,
            detail="revoked at the provider"
            if result.fully_revoked
            else "tokens erased; not (fully) revoked at the provider",
        )
    if isinstance(integration, Integration):
        integration.refresh_from_db()
    return result


__all__ = [
    "Disconnection",
    "Outcome",
    "ReauthorizationRequired",
    "RefreshFailed",
    "RefreshRateLimited",
    "RefreshReport",
    "TokenResponseError",
    "TokenUnavailable",
    "TokenUnreadable",
    "ValidationError",
    "apply_oauth1_token",
    "apply_token_response",
    "aget_valid_token",
    "aread_access_token",
    "arefresh_integration",
    "connect",
    "disconnect",
    "get_integration",
    "get_signing_credentials",
    "get_valid_token",
    "httpx_auth",
    "list_integrations",
    "parse_scopes",
    "read_access_token",
    "refresh_expiring",
    "refresh_integration",
    "refresh_rejected",
    "session",
    "store_token_response",
]
