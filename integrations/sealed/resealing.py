"""The one re-sealing engine, used by ``rotate_keys``, ``encrypt_legacy`` and the admin.

For one sealed column it walks the table in primary-key order, a batch at a time:

1. selects the rows that need work, judged from the stored header alone (no
   decryption), in one query per batch: sealed under a key other than the
   primary (``ROTATE``) or not sealed at all (``LEGACY``). On PostgreSQL the
   batch is locked with ``FOR UPDATE SKIP LOCKED``, so several processes can
   share a table, each taking rows the others have not locked;
2. opens each value with its context (purpose and row), seals it again under the
   primary key with the same context, and proves the new value opens to the same
   bytes before using it (``Keyring.reseal``: the new ciphertext's AEAD tag is
   checked with the primary key before encoding, instead of a second full
   decrypt of the text; see docs/KEYS.md);
3. writes the batch in one transaction with one set-based ``UPDATE ... FROM``
   whose ``WHERE`` also compares the old stored value, so a value another writer
   changed in the meantime is never overwritten (it is counted as ``changed``).
   Columns the field derives from the value (``reseal_columns``, e.g. a blind
   index) are set by the same statement.

A crash loses at most the batch in flight; running again resumes, because work
is selected by what is stored, not by a saved position. Values that cannot be
opened are reported by primary key and left untouched; nothing here ever prints,
logs or raises with a value.
"""

import dataclasses
import threading
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from django.apps import apps
from django.db import IntegrityError, connections, router, transaction
from django.dispatch import Signal
from django.views.decorators.debug import sensitive_variables

from ..crypto import PREFIX, CryptoError
from .conf import app_settings
from .fields import PENDING_DEFAULT, sealed_fields

ROTATE = "rotate"
LEGACY = "legacy"
# Searchable fields only: fill or refresh the blind index, re-seal nothing (a
# migration that makes a column searchable; see migration_defaults).
REINDEX = "reindex"

# Sent once per run of a re-sealing command, finished or aborted, so that whoever
# keeps an audit log records who opened which columns (the integrations app
# writes an AuditEvent; this layer knows nothing of it). Arguments: ``command``
# ("rotate_keys", "encrypt_legacy"), ``initiator`` (a label: who ran it),
# ``reports`` (the FieldReports of the columns handled), ``dry_run``,
# ``completed`` (False when the run stopped on an error), ``stopped_by`` (what
# stopped it: an error's type such as "OperationalError", "interrupted", or "";
# receivers written before it take it through ``**kwargs``). Never a value.
reseal_run_finished = Signal()
# Sent after the admin's "Re-seal selected" action (SealedFieldsAdminMixin), for
# the same reason. ``sender`` is the model; arguments: ``request`` (who, from
# where), ``pks`` (the rows selected), ``reports`` (FieldReports). Never a value.
reseal_action_finished = Signal()
# SQLite allows 32766 bound parameters per statement (999 before 3.32); three or
# more per row.
_SQLITE_VALUES_PER_STATEMENT = 900
# PostgreSQL: a batch's columns travel as one separator-joined string each and are
# split by the server; adapting a Python list of 1,000 strings costs several times
# more than the UPDATE itself. The ASCII unit separator is not in any sealed value.
_SEPARATOR = "\x1f"


def _pack(values):
    """One string for a list of strings, or None if one contains the separator."""
    if any(_SEPARATOR in value for value in values):
        return None
    return _SEPARATOR.join(values)


@dataclass(frozen=True)
class Unreadable:
    pk: str
    error: str
    key_version: int | None = None


@dataclass
class FieldReport:
    """What one run did to one column."""

    model: str
    field: str
    resealed: int = 0
    current: int = 0
    plaintext: int = 0
    empty: int = 0
    changed: int = 0
    remaining: int = 0
    reindexed: int = 0
    unreadable: list[Unreadable] = dataclasses.field(default_factory=list)
    dry_run: bool = False

    def as_dict(self):
        data = asdict(self)
        data["unreadable"] = [asdict(item) for item in self.unreadable]
        return data


def sealed_columns(labels=None):
    """``(model, field)`` for every sealed column of every installed model.

    ``labels`` limits it to models named ``app_label.ModelName``; an unknown
    label raises ``LookupError``.
    """
    if labels:
        models = [apps.get_model(label) for label in labels]
    else:
        models = [m for m in apps.get_models() if m._meta.managed and not m._meta.proxy]
    return [(model, f) for model in models for f in sealed_fields(model)]


class _Column:
    """SQL fragments for one sealed column, quoted for its database."""

    def __init__(self, model, sealed_field):
        self.model = model
        self.field = sealed_field
        self.using = router.db_for_write(model)
        self.connection = connections[self.using]
        quote = self.connection.ops.quote_name
        self.table = quote(model._meta.db_table)
        self.pk_field = model._meta.pk
        self.pk = quote(self.pk_field.column)
        self.column = quote(sealed_field.column)
        self.vendor = self.connection.vendor
        self.pk_is_uuid = self.pk_field.get_internal_type() == "UUIDField"
        # A binary column (binary=True) holds bytes: its headers are compared as
        # bytes, its arrays are bytea[], and an empty value is zero bytes.
        self.binary = bool(getattr(sealed_field, "binary", False))
        self.prefix: str | bytes = PREFIX.encode("ascii") if self.binary else PREFIX
        self.array_type = "bytea" if self.binary else "text"
        # Columns the field writes beside the sealed one (e.g. a blind index).
        self.extra_columns = [quote(name) for name in sealed_field.reseal_columns()]
        self.extra_types = [
            model._meta.get_field(name).db_type(self.connection)
            if any(f.column == name for f in model._meta.concrete_fields)
            else "text"
            for name in sealed_field.reseal_columns()
        ]
        self.context_for = self._context_function()

    def _context_function(self):
        """``pk -> context``: the field's, or a quicker one for UUID keys the
        database already returned as text (PostgreSQL formats them)."""
        sealed_field = self.field
        if self.vendor == "postgresql" and self.pk_is_uuid and sealed_field.binds_to_row:
            prefix = sealed_field.context_for_pk(uuid.UUID(int=0))[: -len(str(uuid.UUID(int=0)))]

            def context(pk):
                if isinstance(pk, str):
                    return prefix + pk.encode("ascii")
                return sealed_field.context_for_pk(pk)

            return context
        return sealed_field.context_for_pk

    @contextmanager
    def raw_cursor(self):
        """A psycopg cursor binding parameters on the server (PostgreSQL).

        Django's cursors bind on the client (the query text is built in
        Python, quoting every value); this one sends the values as they are.
        It shares the connection, hence the transaction. The driver's errors
        become Django's (``OperationalError``...), as from Django's own cursors,
        and a broken connection is marked so that Django replaces it.
        """
        self.connection.ensure_connection()
        import psycopg

        with self.connection.wrap_database_errors:
            with psycopg.Cursor(self.connection.connection) as cursor:
                yield cursor

    def needs_work(self, mode, primary_header, qualifier=""):
        """A WHERE condition selecting rows to process, plus its parameters.

        Prefixes are compared with SUBSTR and '=' rather than LIKE, which is
        case-insensitive on SQLite.
        """
        column, n = qualifier + self.column, len(PREFIX)
        if mode == ROTATE:
            return (
                f"SUBSTR({column}, 1, {n}) = %s "
                f"AND SUBSTR({column}, 1, {len(primary_header)}) <> %s",
                [self.prefix, self.header(primary_header)],
            )
        return f"NOT {self.is_empty(column)} AND SUBSTR({column}, 1, {n}) <> %s", [self.prefix]

    def header(self, header):
        """A header (``str``) as this column stores it."""
        return header.encode("ascii") if self.binary else header

    def is_empty(self, column):
        """SQL: the stored value is empty ('' or zero bytes; NULL is not)."""
        return f"LENGTH({column}) = 0" if self.binary else f"{column} = ''"

    def pk_filter(self, pks, qualifier=""):
        if pks is None:
            return "", []
        values = [self.pk_field.get_db_prep_value(pk, self.connection) for pk in pks]
        return f" AND {qualifier}{self.pk} IN ({', '.join(['%s'] * len(values))})", values


def reseal_field(
    model,
    sealed_field,
    *,
    mode=ROTATE,
    batch_size=500,
    batch_bytes=None,
    dry_run=False,
    pks=None,
    progress=None,
    report=None,
):
    """Re-seal one column; returns a :class:`FieldReport`.

    A batch ends at ``batch_size`` rows or once its stored values reach
    ``batch_bytes`` (default: the ``RESEAL_BATCH_BYTES`` setting), whichever
    comes first; a value larger than the budget goes through alone. On
    PostgreSQL the batch's rows are still selected and locked by one query, but
    only the values within the budget come with it: the rest are read in
    byte-bounded chunks in the same transaction. So memory stays flat whatever
    the value sizes.

    ``pks`` limits the run to those rows (the admin action). ``progress`` is
    called with the number of rows handled after every batch. ``report``: a
    :class:`FieldReport` to fill in instead of a new one, so that a caller still
    has the counts of the batches committed when the run stops on an error.

    Outside a transaction on PostgreSQL, two workers (threads, each with its
    own connection) take turns: while one waits for the database (its batch's
    SELECT or UPDATE), the other seals its batch, so the crypto overlaps the
    database's work. Each batch is still its own transaction with its own row
    locks, exactly as with one worker.
    """
    if mode not in (ROTATE, LEGACY, REINDEX):
        raise ValueError(f"unknown mode {mode!r}")
    if mode == LEGACY and getattr(sealed_field, "binary", False):
        # A binary column never holds legacy plaintext (docs/FORMAT.md): nothing
        # to seal; what is not sealed there is damage, which rotate_keys reports.
        if report is None:
            report = FieldReport(model._meta.label, sealed_field.name, dry_run=dry_run)
        column = _Column(model, sealed_field)
        only, only_params = column.pk_filter(pks)
        primary_header = f"{PREFIX}{app_settings.keyring.primary_version}$"
        _count_the_rest(column, LEGACY, primary_header, only, only_params, report)
        return report
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    if batch_bytes is None:
        batch_bytes = app_settings.RESEAL_BATCH_BYTES
    if batch_bytes < 1:
        raise ValueError("batch_bytes must be positive")
    run = _Run(model, sealed_field, mode, batch_size, dry_run, pks, progress)
    run.batch_bytes = batch_bytes
    if report is not None:
        run.report = report
    if run.can_pipeline():
        run.pipelined()
    else:
        run.serial()
    _count_the_rest(
        run.column,
        ROTATE if mode == REINDEX else mode,
        run.primary_header,
        run.only,
        run.only_params,
        run.report,
    )
    return run.report


class _Run:
    """One column's run: the batch query, and the loop over batches."""

    workers = 2
    batch_bytes = 4 * 2**20

    def __init__(self, model, sealed_field, mode, batch_size, dry_run, pks, progress):
        self.keyring = app_settings.keyring
        self.column = _Column(model, sealed_field)
        self.mode, self.batch_size, self.dry_run = mode, batch_size, dry_run
        self.progress = progress
        self.primary_header = f"{PREFIX}{self.keyring.primary_version}$"
        self.report = FieldReport(model._meta.label, sealed_field.name, dry_run=dry_run)
        # A searchable column's rows are also visited when their blind index is
        # missing or under an older index key (see _IndexColumn).
        self.searchable = bool(getattr(sealed_field, "searchable", False))
        self.condition, self.condition_params = _condition(
            self.column, self.searchable, mode, self.primary_header
        )
        self.only, self.only_params = self.column.pk_filter(pks)
        self.only_in_window = self.column.pk_filter(pks, qualifier="s.")
        self._lock = threading.Lock()

    def can_pipeline(self):
        column = self.column
        return (
            column.vendor == "postgresql"
            and not self.dry_run
            and not column.connection.in_atomic_block
            and self.workers > 1
        )

    def serial(self):
        last_pk, done = None, False
        while not done:
            last_pk, done = self._batch(self.column, last_pk, None)

    def pipelined(self):
        """The batches shared by ``workers`` threads, in key order.

        A worker holds the turn only while its batch's SELECT runs (the next
        batch starts after the last key that SELECT returns); it then seals and
        writes while the next worker selects.
        """
        turn = threading.Lock()
        state = {"last": None, "done": False}
        errors: list[BaseException] = []
        using = self.column.using

        def work():
            try:
                column = _Column(self.column.model, self.column.field)
                while self._one_turn(column, turn, state):
                    pass
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)
            finally:
                connections[using].close()

        threads = [threading.Thread(target=work) for _ in range(self.workers)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except BaseException:
            # Interrupted (Ctrl-C): the workers finish the batch in hand, no more.
            state["done"] = True
            for thread in threads:
                thread.join()
            raise
        if errors:
            raise errors[0]

    def _one_turn(self, column, turn, state):
        """Wait for the turn, run one batch; False once the table is done."""
        held = True

        def selected(last_pk, done):
            nonlocal held
            state["last"], state["done"] = last_pk, done
            held = False
            turn.release()

        turn.acquire()
        try:
            if state["done"]:
                return False
            self._batch(column, state["last"], selected)
            return True
        except BaseException:
            state["done"] = True  # the other worker stops too
            raise
        finally:
            if held:
                turn.release()

    def _batch(self, column, last_pk, selected):
        """Select, re-seal and write one batch; returns ``(last key, finished)``.

        ``selected(last key, finished)`` (if given) is called as soon as the
        batch's rows are selected and locked, before the crypto.
        """
        if self.searchable:
            return self._indexed_batch(column, last_pk, selected)
        rows_seen = written = unwritten = 0
        with transaction.atomic(using=column.using):
            rows, rest, upper_pk, done = _select(column, self, last_pk)
            if selected is not None:
                selected(upper_pk, done)
            for chunk in _chunks(column, self, rows, rest):
                rows_seen += len(chunk)
                updates = _reseal_rows(column, chunk, self.mode, self.keyring, self.report)
                if updates and not self.dry_run:
                    count = _write(column, updates)
                    written += count
                    unwritten += len(updates) - count
                else:
                    written += len(updates)
        with self._lock:
            self.report.resealed += written
            self.report.changed += unwritten
            if self.progress is not None and rows_seen:
                self.progress(rows_seen)
        return upper_pk, done

    def _indexed_batch(self, column, last_pk, selected):
        """:meth:`_batch` for a searchable column: value and blind index together
        (an :class:`_IndexColumn` per worker: each has its own connection)."""
        indexed = _IndexColumn(column)
        batch = FieldReport(self.report.model, self.report.field, dry_run=self.dry_run)
        rows_seen = 0
        with transaction.atomic(using=column.using):
            rows, rest, upper_pk, done = _select(column, self, last_pk, indexed)
            if selected is not None:
                selected(upper_pk, done)
            for chunk in _chunks(column, self, rows, rest, indexed):
                rows_seen += len(chunk)
                indexed.process(chunk, self.mode, self.keyring, batch, self.dry_run)
        with self._lock:
            report = self.report
            report.resealed += batch.resealed
            report.reindexed += batch.reindexed
            report.changed += batch.changed
            report.unreadable.extend(batch.unreadable)
            if self.progress is not None and rows_seen:
                self.progress(rows_seen)
        return upper_pk, done


def _select(column, run, last_pk, indexed=None):
    """One query: the next batch's rows that need work (locked on PostgreSQL).

    Returns ``(rows, rest, last key, finished)``. ``rows`` are ``(pk, stored)``,
    or ``(pk, stored, stored index)`` for a searchable column (``indexed``),
    whose stored values add up to at most about ``run.batch_bytes``. ``rest``
    (PostgreSQL only) are the keys of the batch's other rows, selected and
    locked by the same query but whose values it did not return: the caller
    reads them in byte-bounded chunks (:func:`_chunks`).

    PostgreSQL walks the table in windows of ``batch_size`` primary keys. The
    window's last key comes from an index-only scan; the rows of the window that
    need work are then read and locked (``FOR UPDATE SKIP LOCKED``) by one range
    scan of the primary key, which also applies the header test. (Filtering on
    the header alone, the planner sorted the whole table for every batch; probing
    each key of the window separately cost an index descent per row.) A value
    travels with the answer only if it is at most ``batch_bytes / batch_size``
    bytes (``octet_length``, read from the header of a TOASTed value), so the
    values returned fit the budget whatever the window holds; tokens are far
    below that, so the common case is one query as before. (A running sum over
    the locked rows cost a window function and a second sort per batch: a
    quarter more time for the query.) Every row returned carries the window's
    last key, so the next
    window starts after it even when no row of this one needs work or another
    process holds them all; a window that finds no key ends the run. UUID keys
    come back as text, already in the form the context needs.

    Elsewhere (SQLite), the rows that need work are read in key order and the
    reading stops at ``batch_size`` rows or at the byte budget (the driver
    fetches rows as they are asked for); the next batch starts after the last
    row read.
    """
    size, budget = run.batch_size, run.batch_bytes
    after = f" AND {column.pk} > %s" if last_pk is not None else ""
    after_params = [last_pk] if last_pk is not None else []
    if column.vendor == "postgresql":
        lock = "" if run.dry_run else " FOR UPDATE SKIP LOCKED"
        condition, condition_params = _condition(
            column, indexed is not None, run.mode, run.primary_header, qualifier="s."
        )
        as_text = "::text" if column.pk_is_uuid else ""
        index = ", x.idx" if indexed is not None else ""
        index_column = f", s.{indexed.column} AS idx" if indexed is not None else ""
        in_window = f" AND s.{column.pk} > %s" if last_pk is not None else ""
        only, only_params = run.only_in_window
        sql = (
            f"WITH w AS (SELECT k.{column.pk} AS hi FROM (SELECT {column.pk} "
            f"FROM {column.table} WHERE 1 = 1{run.only}{after} ORDER BY {column.pk} LIMIT %s) "
            f"AS k ORDER BY k.{column.pk} DESC LIMIT 1) "
            f"SELECT w.hi{as_text}, x.pk{as_text}, x.stored{index} FROM w "
            f"LEFT JOIN LATERAL (SELECT s.{column.pk} AS pk, CASE WHEN "
            f"OCTET_LENGTH(s.{column.column}) <= %s THEN s.{column.column} END AS stored"
            f"{index_column} FROM {column.table} AS s WHERE s.{column.pk} <= w.hi"
            f"{in_window}{only} AND {condition} ORDER BY s.{column.pk}{lock}) AS x ON TRUE"
        )
        params = [
            *run.only_params,
            *after_params,
            size,
            budget // size,
            *after_params,
            *only_params,
            *condition_params,
        ]
        with column.raw_cursor() as cursor:
            cursor.execute(sql, params)
            window = cursor.fetchall()
        if not window:
            return [], [], last_pk, True
        # Row: (window's last key, pk, stored or None if too large, [index]); pk
        # is None for a window with no row to do (then the only row).
        rows = [row[1:] for row in window if row[2] is not None]
        rest = []
        if len(rows) < len(window):
            rest = [row[1] for row in window if row[2] is None and row[1] is not None]
        return rows, rest, window[0][0], False
    index = f", {indexed.column}" if indexed is not None else ""
    sql = (
        f"SELECT {column.pk}, {column.column}{index} FROM {column.table} "
        f"WHERE {run.condition}{run.only}{after} ORDER BY {column.pk} LIMIT %s"
    )
    rows, total = [], 0
    with column.connection.cursor() as cursor:
        cursor.execute(sql, [*run.condition_params, *run.only_params, *after_params, size])
        for row in cursor:
            rows.append(row)
            total += len(row[1])
            if total >= budget and len(rows) < size:
                return rows, [], rows[-1][0], False  # more may follow: not read yet
    if not rows:
        return [], [], last_pk, True
    return rows, [], rows[-1][0], len(rows) < size


def _chunks(column, run, rows, rest, indexed=None):
    """The batch's rows in byte-bounded lists: ``rows`` first (their values
    came with the batch's query), then ``rest`` read by primary key, a chunk at
    a time, each holding values up to ``run.batch_bytes`` (PostgreSQL: the
    rows are locked by this transaction, so they are still the ones selected;
    the header test is applied again for a dry run, which locks nothing)."""
    if rows:
        yield rows
    if not rest:
        return
    chunk: list[Any] = []
    total = 0
    for pk, stored_size in _sizes(column, rest):
        chunk.append(pk)
        total += stored_size or 0
        if total >= run.batch_bytes:
            yield _fetch(column, run, chunk, indexed)
            chunk, total = [], 0
    if chunk:
        yield _fetch(column, run, chunk, indexed)


def _sizes(column, pks):
    """``(pk, bytes stored)`` of the rows ``pks``, in key order (PostgreSQL reads
    a TOASTed value's size from its header, not from the value)."""
    as_text = "::text" if column.pk_is_uuid else ""
    pk_type = column.pk_field.db_type(column.connection)
    with column.raw_cursor() as cursor:
        cursor.execute(
            f"SELECT {column.pk}{as_text}, OCTET_LENGTH({column.column}) FROM {column.table} "
            f"WHERE {column.pk} = ANY(%s::{pk_type}[]) ORDER BY {column.pk}",
            [[str(pk) for pk in pks]],
        )
        return cursor.fetchall()


def _fetch(column, run, pks, indexed):
    """The rows ``pks`` (PostgreSQL keys, as the batch's query returned them)
    that still need work, in key order, in the form :func:`_select` returns."""
    condition, condition_params = _condition(
        column, indexed is not None, run.mode, run.primary_header, qualifier="s."
    )
    as_text = "::text" if column.pk_is_uuid else ""
    index_column = f", s.{indexed.column}" if indexed is not None else ""
    pk_type = column.pk_field.db_type(column.connection)
    with column.raw_cursor() as cursor:
        cursor.execute(
            f"SELECT s.{column.pk}{as_text}, s.{column.column}{index_column} "
            f"FROM {column.table} AS s WHERE s.{column.pk} = ANY(%s::{pk_type}[]) "
            f"AND {condition} ORDER BY s.{column.pk}",
            [[str(pk) for pk in pks], *condition_params],
        )
        return cursor.fetchall()


def _condition(column, searchable, mode, primary_header, qualifier=""):
    """Rows to visit: the column's own condition, or'ed with its index's."""
    if not searchable:
        return column.needs_work(mode, primary_header, qualifier)
    index_sql, index_params = _IndexColumn(column).needs_work(qualifier)
    if mode == REINDEX:
        return index_sql, index_params
    sql, params = column.needs_work(mode, primary_header, qualifier)
    if mode == LEGACY:
        return sql, params  # legacy rows are indexed as they are sealed
    return f"(({sql}) OR ({index_sql}))", [*params, *index_params]


class _IndexColumn:
    """The blind index of a searchable column: recomputed with the value.

    ``rotate_keys`` visits the rows whose value needs re-sealing *or* whose index
    is missing, under an older index key or of another length, and writes value
    and index in one statement per batch, compared against the old value as for
    any column. A lookup matches an index under any key meanwhile, so rows are
    found throughout. A row whose new index collides with another row's under a
    unique constraint (a duplicate written while the rotation was half done) is
    left as it is and reported as unreadable (``IntegrityError``), never dropped.
    """

    def __init__(self, column):
        self.base = column
        field = column.field
        self.field = field
        self.index = field.blind_index
        self.column = column.connection.ops.quote_name(field.index_field.column)

    def needs_work(self, qualifier=""):
        col, idx, n = qualifier + self.base.column, qualifier + self.column, len(PREFIX)
        prefix = self.index.primary_prefix
        return (
            f"({self.base.is_empty(col)} OR (SUBSTR({col}, 1, {n}) = %s AND {col} <> %s)) "
            f"AND ({idx} IS NULL "
            f"OR SUBSTR({idx}, 1, {len(prefix)}) <> %s OR LENGTH({idx}) <> %s)",
            [
                self.base.prefix,
                self.base.header(PENDING_DEFAULT),
                prefix,
                self.index.current_length,
            ],
        )

    def process(self, rows, mode, keyring, report, dry_run):
        updates = self._rows(rows, mode, keyring, report)
        if dry_run or not updates:
            report.resealed += sum(1 for _pk, old, new, _i, _w in updates if new != old)
            report.reindexed += sum(1 for _pk, _o, _n, index, was in updates if index != was)
            return
        written, refused = self._write(updates, report)
        # Keys as text: the batch's may be text (UUIDs formatted by PostgreSQL)
        # where RETURNING gives UUID objects.
        written = {str(pk) for pk in written}
        for pk, old, new, index, was in updates:
            if str(pk) in written:
                report.resealed += new != old
                report.reindexed += index != was
            elif pk not in refused:
                report.changed += 1  # another writer changed the value meanwhile

    @sensitive_variables()
    def _rows(self, rows, mode, keyring, report):
        field = self.field
        updates = []
        for pk, stored, stored_index in rows:
            try:
                if len(stored) == 0:  # "" or, in a binary column, zero bytes
                    new, index = stored, field.compute_index("")
                else:
                    context = self.base.context_for(pk)
                    new = stored
                    if mode == LEGACY:
                        plaintext = field.plaintext_from_legacy(stored)
                        new = keyring.encrypt_verified(plaintext, context)
                    elif mode == ROTATE and keyring.needs_reseal(stored):
                        new, plaintext = keyring.reseal(stored, context)
                    else:
                        plaintext = keyring.decrypt(stored, context)
                    index = field.compute_index(field._decode(plaintext))
            except (CryptoError, ValueError) as exc:
                report.unreadable.append(
                    Unreadable(
                        str(field.model._meta.pk.to_python(pk)),
                        type(exc).__name__,
                        getattr(exc, "key_version", None),
                    )
                )
                continue
            if new != stored or index != stored_index:
                updates.append((pk, stored, new, index, stored_index))
        return updates

    def _write(self, updates, report):
        """Write the batch; on a unique-index collision, row by row.

        Returns the primary keys written and those refused by a constraint.
        """
        using = self.base.using
        try:
            with transaction.atomic(using=using):
                return set(self._write_rows(updates)), set()
        except IntegrityError:
            pass
        written, refused = set(), set()
        for update in updates:
            try:
                with transaction.atomic(using=using):
                    written.update(self._write_rows([update]))
            except IntegrityError:
                refused.add(update[0])
                pk = str(self.field.model._meta.pk.to_python(update[0]))
                report.unreadable.append(Unreadable(pk, "IntegrityError"))
        return written, refused

    def _write_rows(self, updates):
        base = self.base
        table, pk, col, idx = base.table, base.pk, base.column, self.column
        written = []
        with base.connection.cursor() as cursor:
            if base.vendor == "postgresql":
                pk_type = base.pk_field.db_type(base.connection)
                pks, olds, news, indexes = (
                    list(values) for values in zip(*[u[:4] for u in updates], strict=True)
                )
                cursor.execute(
                    f"UPDATE {table} SET {col} = v.new, {idx} = v.idx FROM unnest(%s::{pk_type}[], "
                    f"%s::{base.array_type}[], %s::{base.array_type}[], %s::text[]) "
                    f"AS v(id, old, new, idx) "
                    f"WHERE {table}.{pk} = v.id AND {table}.{col} = v.old RETURNING {table}.{pk}",
                    [[str(p) for p in pks], olds, news, indexes],
                )
                return [row[0] for row in cursor.fetchall()]
            for pk_value, old, new, index, _was in updates:
                cursor.execute(
                    f"UPDATE {table} SET {col} = %s, {idx} = %s WHERE {pk} = %s AND {col} = %s",
                    [new, index, pk_value, old],
                )
                if cursor.rowcount:
                    written.append(pk_value)
        return written


@sensitive_variables()
def _reseal_rows(column, rows, mode, keyring, report):
    """``(pk, old, new, extra)`` for the rows that could be opened and re-sealed.

    ``extra`` holds the values of the field's :meth:`reseal_columns` for the
    row, written in the same UPDATE (empty unless the field adds columns).
    """
    sealed_field = column.field
    context_for = column.context_for
    reseal = keyring.reseal
    extra_values = sealed_field.reseal_values if column.extra_columns else None
    updates = []
    for pk, stored in rows:
        context = context_for(pk)
        try:
            if mode == ROTATE:
                new, plaintext = reseal(stored, context)
            else:
                plaintext = sealed_field.plaintext_from_legacy(stored)
                new = keyring.encrypt_verified(plaintext, context)
            extra = extra_values(plaintext, pk) if extra_values is not None else ()
        except (CryptoError, ValueError) as exc:
            report.unreadable.append(
                Unreadable(
                    str(sealed_field.model._meta.pk.to_python(pk)),
                    type(exc).__name__,
                    getattr(exc, "key_version", None),
                )
            )
            continue
        updates.append((pk, stored, new, extra))
    return updates


def _write(column, updates):
    """Write ``(pk, old, new, extra)`` rows where the stored value is still ``old``.

    One statement per batch (per 300 rows on SQLite, fewer with extra columns),
    never one per row, and not Django's CASE/WHEN ``bulk_update``. The field's extra columns (see
    ``reseal_columns``) are set in the same statement. Returns the number of
    rows written.
    """
    table, pk, col = column.table, column.pk, column.column
    extras = column.extra_columns
    sets = ", ".join([f"{col} = v.new", *(f"{name} = v.x{i}" for i, name in enumerate(extras))])
    if column.vendor == "postgresql":
        pk_type = column.pk_field.db_type(column.connection)
        pks = [str(row[0]) for row in updates]
        olds = [row[1] for row in updates]
        news = [row[2] for row in updates]
        # Bytes (a binary column) travel as bytea[] arrays, never packed.
        packed = [None] if column.binary else [_pack(values) for values in (pks, olds, news)]
        extra_arrays = [[row[3][i] for row in updates] for i in range(len(extras))]
        names = ", ".join(["id", "old", "new", *(f"x{i}" for i in range(len(extras)))])
        if None in packed:
            arrays = f"%s::{pk_type}[], %s::{column.array_type}[], %s::{column.array_type}[]"
            params: list[Any] = [pks, olds, news]
        else:
            # Server-side parameters: the three strings travel as they are.
            arrays = (
                f"string_to_array(%s, %s)::{pk_type}[], string_to_array(%s, %s), "
                "string_to_array(%s, %s)"
            )
            params = [part for value in packed for part in (value, _SEPARATOR)]
        for i, values in enumerate(extra_arrays):
            arrays += f", %s::{column.extra_types[i]}[]"
            params.append(values)
        # The batch is contiguous in key order: the BETWEEN lets the planner
        # use the primary key index instead of hashing the whole table.
        with column.raw_cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS v({names}) "
                f"WHERE {table}.{pk} = v.id AND {table}.{col} = v.old "
                f"AND {table}.{pk} BETWEEN %s::{pk_type} AND %s::{pk_type}",
                [*params, pks[0], pks[-1]],
            )
            return cursor.rowcount
    with column.connection.cursor() as cursor:
        if column.vendor == "sqlite":
            written = 0
            width = 3 + len(extras)
            per_statement = max(_SQLITE_VALUES_PER_STATEMENT // width, 1)
            aliases = ", ".join(
                f"column{i + 1} AS {name}"
                for i, name in enumerate(
                    ["id", "old", "new", *(f"x{j}" for j in range(len(extras)))]
                )
            )
            for start in range(0, len(updates), per_statement):
                chunk = updates[start : start + per_statement]
                rows_sql = ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * len(chunk))
                cursor.execute(
                    f"UPDATE {table} SET {sets} "
                    f"FROM (SELECT {aliases} FROM (VALUES {rows_sql})) AS v "
                    f"WHERE {table}.{pk} = v.id AND {table}.{col} = v.old",
                    [
                        value
                        for pk_value, old, new, extra in chunk
                        for value in (pk_value, old, new, *extra)
                    ],
                )
                written += cursor.rowcount
            return written
        # Other databases: one prepared statement, executed for the batch.
        extra_sets = "".join(f", {name} = %s" for name in extras)
        cursor.executemany(
            f"UPDATE {table} SET {col} = %s{extra_sets} WHERE {pk} = %s AND {col} = %s",
            [(new, *extra, pk_value, old) for pk_value, old, new, extra in updates],
        )
        return cursor.rowcount


def _count_the_rest(column, mode, primary_header, only, only_params, report):
    """Fill in the counts of rows this run had nothing to do for."""
    col, n = column.column, len(PREFIX)
    sql = (
        f"SELECT "
        f"SUM(CASE WHEN {col} IS NULL OR {column.is_empty(col)} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN SUBSTR({col}, 1, {n}) = %s THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN SUBSTR({col}, 1, {len(primary_header)}) = %s THEN 1 ELSE 0 END), "
        f"COUNT(*) FROM {column.table} WHERE 1 = 1{only}"
    )
    with column.connection.cursor() as cursor:
        cursor.execute(sql, [column.prefix, column.header(primary_header), *only_params])
        empty, sealed, on_primary, total = (value or 0 for value in cursor.fetchone())
    report.empty = empty
    handled = report.resealed if not report.dry_run else 0
    # "remaining": still to do after this run -- unreadable values, rows another
    # process held locked (and is handling), rows written concurrently.
    if mode == ROTATE:
        report.current = max(on_primary - handled, 0)
        report.plaintext = total - empty - sealed
        report.remaining = sealed - on_primary
    else:
        report.current = max(sealed - handled, 0)
        report.remaining = total - empty - sealed


def count_work(model, sealed_field, *, mode=ROTATE, pks=None):
    """How many rows of the column a run would visit (for progress bars)."""
    column = _Column(model, sealed_field)
    primary_header = f"{PREFIX}{app_settings.keyring.primary_version}$"
    searchable = bool(getattr(sealed_field, "searchable", False))
    condition, params = _condition(column, searchable, mode, primary_header)
    only, only_params = column.pk_filter(pks)
    with column.connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {column.table} WHERE {condition}{only}", [*params, *only_params]
        )
        return cursor.fetchone()[0]
