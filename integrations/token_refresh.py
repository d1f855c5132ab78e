"""Refreshing an integration's tokens exactly once however many workers ask."""

import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any, cast

import tenacity
from django.db import (
    transaction,
)
from django.db.models import Field, Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from . import audit, oauth, provider_urls, ratelimit, refresh_outbox
from ._typing import User
from .backoff import call_with_backoff
from .conf import app_settings
from .credential_store import read_client_secret
from .db_failures import DATABASE_ERRORS, reset_connection, typed_database_failures
from .models import AuditEvent, Integration, Provider
from .outages import CacheUnavailable
from .provider_data import (
    TokenResponseError,
    salvage_refresh_token,
)
from .signals import (
    integration_needs_reauth,
    integration_recovered,
    integration_refresh_failed,
    integration_refreshed,
    send_on_commit,
)
from .token_errors import (
    DatabaseUnavailable,
    ReauthorizationRequired,
    RefreshFailed,
    RefreshLimitUnavailable,
    RefreshRateLimited,
    TokenUnavailable,
    TokenUnreadable,
)
from .token_store import (
    RECOVERABLE,
    UNUSABLE,
    apply_token_response,
    clear_lease,
    database_alias,
    integration_row,
    mark_oauth1_unreadable,
    open_token,
    readable,
    usable,
)

Action = AuditEvent.Action
logger = logging.getLogger("integrations.tokens")


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
# blocks it.
#
# Once the provider has answered, the answer is the only copy of the grant (a
# rotating provider retired the refresh token we sent). It is kept, sealed, in
# the refresh outbox (:mod:`integrations.refresh_outbox`) before the row is
# written; a write that meets a database failure is tried again on a new
# connection (``REFRESH_STORE_RETRY_SECONDS``); and while the answer may be
# unstored the lease is not released, so no other worker sends the retired
# refresh token: the next lease holder (once the lease expires) stores the
# outbox's answer instead of asking the provider.
#
# Writing new tokens any other way (connect, ``store_token_response``) or
# disconnecting clears the lease: a refresh still in flight then stores
# nothing, and its waiters find the new state.
#
# Call these outside a transaction: inside one, the lease is only visible to the
# other workers once the caller commits (and on PostgreSQL they queue on the
# row lock of the UPDATE until then).

# Token-endpoint errors that mean the grant itself is gone: only the user can fix it.
REAUTH_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})
# The columns a token response may change (see apply_token_response).
_TOKEN_FIELDS = ("access_token", "refresh_token", "token_type", "expires_at", "granted_scopes")
# Waiters poll the row: first after _POLL_FIRST seconds, then less often, up to _POLL_MAX.
_POLL_FIRST, _POLL_MAX = 0.02, 0.25


class Outcome:
    """What ``refresh_integration`` did."""

    FRESH = "fresh"  # the token was valid (perhaps refreshed meanwhile by another worker)
    REFRESHED = "refreshed"
    SKIPPED = "skipped"  # another worker is refreshing it (only with skip_busy)


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
    """Give the lease back; with the database down it expires by itself."""
    try:
        Integration.objects.using(db).filter(pk=pk, refresh_lease=lease).update(
            refresh_lease=None, refresh_lease_expires_at=None
        )
    except DATABASE_ERRORS:
        reset_connection(db)


def _log_store_retry(retry_state):
    if retry_state.attempt_number == 1:
        logger.warning(
            "Storing a refresh of integration %s failed (%s); trying again for up to %s s",
            retry_state.args[0] if retry_state.args else "?",
            type(retry_state.outcome.exception()).__name__,
            app_settings.REFRESH_STORE_RETRY_SECONDS,
        )


def _with_store_retries(db, pk, write):
    """``write()`` (a function writing one transaction), written again on a new
    connection after a database failure — a restart, a killed backend, too many
    clients — for up to ``REFRESH_STORE_RETRY_SECONDS``; then
    :class:`DatabaseUnavailable`. Never inside the caller's transaction, which
    a failure has already doomed."""
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(
            lambda exc: isinstance(exc, DATABASE_ERRORS) and reset_connection(db)
        ),
        stop=tenacity.stop_after_delay(app_settings.REFRESH_STORE_RETRY_SECONDS),
        wait=tenacity.wait_exponential(multiplier=0.05, max=1),
        before_sleep=_log_store_retry,
        reraise=True,
    )
    try:
        return retrying(lambda _pk: write(), pk)
    except DATABASE_ERRORS as exc:
        reset_connection(db)
        raise DatabaseUnavailable("database_unavailable") from exc


def _concrete_field(name: str) -> "Field[Any, Any]":
    """A column of Integration (never a relation), for its ``pre_save``."""
    return cast("Field[Any, Any]", Integration._meta.get_field(name))


def _write_if_leased(db, row, lease, fields):
    """Write ``fields`` of ``row`` and release ``lease`` in one UPDATE, only while
    the lease is still ours. True when written."""
    clear_lease(row)
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
    if row.status in UNUSABLE:
        return ReauthorizationRequired(row.last_error or row.status, status=row.status)
    changed = seen is not None and row.updated_at != seen
    if usable(row, margin) and (not force or changed):
        return Outcome.FRESH
    if changed and row.status == Integration.Status.ERROR:
        return RefreshFailed(row.last_error or "error", status=row.status)
    return None


def _record_failure(db, row, lease, failure, *, actor, ip_address, fields=(), detail=""):
    """Store ``failure`` (a TokenUnavailable) on the row, tokens kept (but for
    ``fields`` the caller set on ``row``), and return the outcome to hand back.
    Should the lease have been lost meanwhile (the row reconnected, disconnected
    or refreshed by another), the row's state wins."""
    status = {
        ReauthorizationRequired: Integration.Status.NEEDS_REAUTH,
        TokenUnreadable: Integration.Status.NEEDS_REAUTH,
        RefreshFailed: Integration.Status.ERROR,
    }[type(failure)]
    if failure.code == "no_refresh_token":
        status = Integration.Status.EXPIRED
    previous = row.status
    row.status, row.last_error = status, failure.code[:255]

    def write():
        with transaction.atomic(using=db):
            if not _write_if_leased(db, row, lease, ("status", "last_error", *fields)):
                return False
            audit.record(
                Action.REFRESH,
                actor=actor,
                target=row,
                outcome=AuditEvent.Outcome.FAILURE,
                detail=detail or failure.code,
                ip_address=ip_address,
            )
            send_on_commit(integration_refresh_failed, row, reason=failure.code)
            if (
                status in (Integration.Status.NEEDS_REAUTH, Integration.Status.EXPIRED)
                and previous != status
            ):
                send_on_commit(integration_needs_reauth, row, reason=failure.code)
        return True

    written = _with_store_retries(db, row.pk, write)
    if written:
        failure.status = status
        return failure
    current = integration_row(db, row.pk).first()
    if current is None:
        raise Integration.DoesNotExist("no such integration")
    return _settled(current, margin=0, force=False, seen=row.updated_at) or failure


@sensitive_variables()
def _refresh_leased(db, pk, lease, *, margin, force, seen, actor, ip_address):
    """Refresh while holding ``lease``: Outcome or a TokenUnavailable to raise.

    The lease is released at the end unless a provider's answer may be
    unstored (the database failed to the end): then it runs out by itself, and
    its next holder stores the answer from the refresh outbox."""
    answered = False
    try:
        row = integration_row(db, pk).first()
        if row is None:
            raise Integration.DoesNotExist("no such integration")
        unstored = refresh_outbox.pending(row)
        if unstored is not None:
            # An earlier holder got this answer but could not store it: the
            # refresh token stored here is retired; never send it.
            answered = True
            outcome = _store_answer(
                db, row, lease, unstored, previous=row.status, actor=actor, ip_address=ip_address
            )
            answered = False
            return outcome
        settled = _settled(row, margin=margin, force=force, seen=seen)
        if settled is not None:
            return settled
        try:
            used = open_token(row, "refresh_token")
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
            try:
                usage = ratelimit.hit_key(ratelimit.INTEGRATION_REFRESH_SCOPE, f"integration:{pk}")
            except CacheUnavailable:
                return RefreshLimitUnavailable()
            if not usage.allowed:
                return RefreshRateLimited(usage.retry_after)
        previous = row.status
        client_secret = read_client_secret(
            row.provider, purpose="refresh an access token", actor=actor
        )
        try:
            # Retried after a failure the provider certainly did not act on,
            # within this lease: no try may outlast it.
            answer = call_with_backoff(
                lambda: oauth.refresh_token_request(
                    row.provider,
                    used,
                    client_secret=client_secret,
                    url_values=provider_urls.connection_values(row),
                ),
                budget=_lease_seconds() - 2 * app_settings.HTTP_TIMEOUT_SECONDS - 1,
            )
        except oauth.OAuthFlowError as exc:
            failure = (ReauthorizationRequired if exc.code in REAUTH_ERRORS else RefreshFailed)(
                exc.code
            )
            return _record_failure(
                db,
                row,
                lease,
                failure,
                actor=actor,
                ip_address=ip_address,
                detail=exc.code
                if exc.unsent or not exc.transient
                else f"{exc.code}: outcome unknown",
            )
        answered = True
        kept = refresh_outbox.put(row, answer)  # first: it survives a failed write
        try:
            outcome = _store_answer(
                db, row, lease, answer, previous=previous, actor=actor, ip_address=ip_address
            )
        except DatabaseUnavailable:
            logger.error(
                "The refresh of integration %s is not stored: the database is unavailable; %s",
                pk,
                "the next refresh stores it from the refresh outbox"
                if kept
                else "the refresh outbox failed too, so the grant may have to be connected again",
            )
            raise
        answered = False
        return outcome
    finally:
        if not answered:
            _release(db, pk, lease)  # a no-op once written


@sensitive_variables()
def _store_answer(db, row, lease, answer, *, previous, actor, ip_address):
    """Store the provider's ``answer`` to a refresh of ``row`` while holding
    ``lease`` (a database failure retried), then forget its outbox copy.

    An answer that cannot be stored whole still gives up a sound new refresh
    token: a rotating provider has retired the one we sent."""
    metadata_before = dict(row.metadata)
    try:
        apply_token_response(row, answer)
    except TokenResponseError:
        kept = salvage_refresh_token(answer)
        if kept and readable(row, "refresh_token") and kept == row.refresh_token:
            kept = None  # not rotated (Authlib fills in the token sent when none came)
        if kept:
            row.refresh_token = kept
        outcome = _record_failure(
            db,
            row,
            lease,
            RefreshFailed("invalid_token_response"),
            actor=actor,
            ip_address=ip_address,
            fields=("refresh_token",) if kept else (),
            detail="invalid_token_response: new refresh token kept" if kept else "",
        )
        refresh_outbox.discard(row.pk)
        return outcome
    row.status, row.last_error = Integration.Status.ACTIVE, ""
    row.last_refreshed_at = timezone.now()
    # Fields kept from the answer (token_response.keep) changed: written too.
    fields = (*_TOKEN_FIELDS, "metadata") if row.metadata != metadata_before else _TOKEN_FIELDS

    def write():
        with transaction.atomic(using=db):
            if not _write_if_leased(
                db, row, lease, (*fields, "status", "last_error", "last_refreshed_at")
            ):
                return False
            audit.record(Action.REFRESH, actor=actor, target=row, ip_address=ip_address)
            send_on_commit(integration_refreshed, row)
            if previous in RECOVERABLE:
                send_on_commit(integration_recovered, row, previous_status=previous)
        return True

    if _with_store_retries(db, row.pk, write):
        refresh_outbox.discard(row.pk)
        return Outcome.REFRESHED
    # Lost the lease while the provider answered (it expired and another worker
    # took over, or the row was reconnected or disconnected): the row's state wins.
    current = integration_row(db, row.pk).get()
    return _settled(current, margin=0, force=False, seen=row.updated_at) or RefreshFailed(
        "refresh_lease_lost", status=current.status
    )


def _refresh_or_wait(db, pk, *, margin, force, seen, skip_busy, actor, ip_address):
    """Claim the lease and refresh, or wait for the worker that holds it and take
    its outcome (claiming the lease ourselves if it expires). A waiter rides out
    a database blip: it polls again on a new connection until its deadline."""
    deadline = time.monotonic() + 2 * _lease_seconds()
    pause = _POLL_FIRST
    claimable = True
    database_failed = False
    while True:
        lease = None
        if claimable:
            try:
                lease = _claim(db, pk)
            except DATABASE_ERRORS:
                if skip_busy or not reset_connection(db):
                    raise
                database_failed = True
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
            if database_failed:
                return DatabaseUnavailable("database_unavailable")
            return RefreshFailed("refresh_busy")
        time.sleep(pause)
        pause = min(pause * 1.5, _POLL_MAX)
        try:
            row = integration_row(db, pk).first()  # waiting is reading: no writes while polling
        except DATABASE_ERRORS:
            if not reset_connection(db):
                raise
            database_failed = claimable = True
            continue
        database_failed = False
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
    network errors and 5xx (status ``error``, tokens kept), and
    :class:`DatabaseUnavailable` when the database cannot be reached. With
    ``skip_busy`` a row another worker is refreshing is skipped instead of
    waited for.
    """
    with typed_database_failures(database_alias()):
        return _refresh_integration(
            integration,
            actor=actor,
            ip_address=ip_address,
            margin=margin,
            force=force,
            skip_busy=skip_busy,
            seen=_seen,
        )


def _refresh_integration(integration, *, actor, ip_address, margin, force, skip_busy, seen):
    margin = app_settings.REFRESH_MARGIN_SECONDS if margin is None else margin
    pk = cast("uuid.UUID | str", getattr(integration, "pk", integration))
    db = database_alias()
    oauth1_row = (
        integration_row(db, pk).filter(provider__auth_type=Provider.AuthType.OAUTH1).first()
    )
    if oauth1_row is not None:
        # OAuth 1.0a tokens do not expire and cannot be refreshed: nothing to do,
        # and nothing is marked expired (the provider revokes them instead).
        if oauth1_row.status in UNUSABLE:
            raise ReauthorizationRequired(
                oauth1_row.last_error or oauth1_row.status, status=oauth1_row.status
            )
        for name in ("access_token", "token_secret"):
            try:
                open_token(oauth1_row, name)
            except TokenUnreadable as exc:
                mark_oauth1_unreadable(oauth1_row, exc, actor=actor, ip_address=ip_address)
                if isinstance(integration, Integration):
                    integration.refresh_from_db()
                raise
        return Outcome.FRESH
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
def refresh_rejected(integration, rejected, *, actor=None, ip_address=None):
    """The provider answered 401 to the access token ``rejected`` (its plain
    value): refresh once, exactly once across workers, unless another worker
    already replaced that token (its token is then the one to use). Returns an
    :class:`Outcome`; raises like :func:`refresh_integration` (without a refresh
    token: :class:`ReauthorizationRequired`, status ``expired``)."""
    with typed_database_failures(database_alias()):
        integration.refresh_from_db()
    try:
        stored = open_token(integration, "access_token")
    except TokenUnreadable:
        stored = None
    if stored and stored != rejected and usable(integration, 0):
        return Outcome.FRESH
    # The row's updated_at when the rejected token was still stored: a refresh
    # by another worker from here on changes it, and its token is taken instead.
    return refresh_integration(
        integration, actor=actor, ip_address=ip_address, force=True, _seen=integration.updated_at
    )
