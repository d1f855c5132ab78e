"""Handing out a valid access token: read again, refreshed first when it expires
within the margin, every hand-out audited.
"""

import logging
from datetime import timedelta
from typing import Any, cast

from django.db import (
    connections,
)
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from . import audit
from ._typing import User
from .conf import app_settings
from .db_failures import typed_database_failures
from .models import AuditEvent, Integration
from .redaction import Secret
from .token_errors import ReauthorizationRequired, RefreshFailed, TokenUnreadable
from .token_refresh import refresh_integration
from .token_store import (
    UNUSABLE,
    database_alias,
    deny_unless_owner,
    mark_oauth1_unreadable,
    open_token,
    read_access_token,
    readable,
    usable,
)

Action = AuditEvent.Action
logger = logging.getLogger("integrations.tokens")


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
    :class:`TokenUnavailable` subclass says what the user or operator has to do
    (:class:`DatabaseUnavailable`: try again shortly).
    """
    if not purpose:
        raise ValueError("reading a secret needs a stated purpose")
    with typed_database_failures(database_alias()):
        return _get_valid_token(integration, purpose=purpose, actor=actor, ip_address=ip_address)


@sensitive_variables()
def _get_valid_token(integration, *, purpose, actor, ip_address):
    deny_unless_owner(integration, actor, purpose, ip_address)
    handed_out = _read_again_and_audit(integration, purpose, actor, ip_address)
    if handed_out is not None:
        return handed_out
    if integration.status in UNUSABLE:
        raise ReauthorizationRequired(
            integration.last_error or integration.status, status=integration.status
        )
    opens = readable(integration, "access_token")
    if not opens or not usable(integration, app_settings.REFRESH_MARGIN_SECONDS):
        try:
            refresh_integration(
                integration,
                actor=actor,
                ip_address=ip_address,
                force=not opens,
                _seen=integration.updated_at,
            )
        except RefreshFailed:
            if not usable(integration, 0) or not readable(integration, "access_token"):
                raise
    open_token(integration, "access_token")
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

    Why hand-written SQL: it saves a round trip per hand-out. ``make bench
    --only service`` times it against that ORM path in the same blocks: p50
    0.75x on loopback PostgreSQL, 0.76x (p95 0.66x) through
    ``benchmarks/latency_proxy.py`` adding 0.25 ms each way. Its own tests are
    tests/test_token_read_round_trips.py (every supported Django on PostgreSQL).
    """
    db = database_alias()
    connection = connections[db]
    sealed = integration.__dict__.get("access_token_sealed")
    if (
        connection.vendor != "postgresql"
        or not isinstance(sealed, str)
        or integration.status in UNUSABLE
        or not readable(integration, "access_token")
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
    unusable = ", ".join(["%s"] * len(UNUSABLE))
    attnames, selected, converters = _row_reader(connection)
    sql = (
        f"WITH use AS (INSERT INTO {quote(AuditEvent._meta.db_table)} ({columns}) "
        f"SELECT {values} WHERE EXISTS (SELECT 1 FROM {table} WHERE {pk_column} = %s "
        f"AND {token} = %s AND {status} NOT IN ({unusable}) "
        f"AND ({expires_at} IS NULL OR {expires_at} > %s)) RETURNING 1) "
        f"SELECT {selected}, (SELECT COUNT(*) FROM use) FROM {table} WHERE {pk_column} = %s"
    )
    params = [*event_params, pk, sealed, *sorted(UNUSABLE), usable_until, pk]
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
        secret = open_token(integration, "token_secret")
    except TokenUnreadable as exc:
        mark_oauth1_unreadable(integration, exc, actor=actor, ip_address=ip_address)
        raise
    if token is None or secret is None:
        raise ReauthorizationRequired(integration.status, status=integration.status)
    return token, Secret(secret)
