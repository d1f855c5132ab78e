"""The one re-sealing engine, used by ``rotate_keys``, ``encrypt_legacy`` and the admin.

For one sealed column it walks the table in primary-key order, a batch at a time:

1. selects the rows that need work, judged from the stored header alone (no
   decryption): sealed under a key other than the primary (``ROTATE``) or not
   sealed at all (``LEGACY``). On PostgreSQL the batch is locked with
   ``FOR UPDATE SKIP LOCKED``, so several processes can share a table, each
   taking rows the others have not locked;
2. opens each value with its context (purpose and row), seals it again under the
   primary key with the same context, and proves the new value opens to the same
   bytes before using it;
3. writes the batch in one transaction with one set-based ``UPDATE ... FROM``
   whose ``WHERE`` also compares the old stored value, so a value another writer
   changed in the meantime is never overwritten (it is counted as ``changed``).

A crash loses at most the batch in flight; running again resumes, because work
is selected by what is stored, not by a saved position. Values that cannot be
opened are reported by primary key and left untouched; nothing here ever prints,
logs or raises with a value.
"""

import dataclasses
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
# ``completed`` (False when the run stopped on an error). Never a value.
reseal_run_finished = Signal()
# Sent after the admin's "Re-seal selected" action (SealedFieldsAdminMixin), for
# the same reason. ``sender`` is the model; arguments: ``request`` (who, from
# where), ``pks`` (the rows selected), ``reports`` (FieldReports). Never a value.
reseal_action_finished = Signal()
# SQLite allows 32766 bound parameters per statement (999 before 3.32); three per row.
_SQLITE_ROWS_PER_STATEMENT = 300
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

    def needs_work(self, mode, primary_header):
        """A WHERE condition selecting rows to process, plus its parameters.

        Prefixes are compared with SUBSTR and '=' rather than LIKE, which is
        case-insensitive on SQLite.
        """
        column, n = self.column, len(PREFIX)
        if mode == ROTATE:
            return (
                f"SUBSTR({column}, 1, {n}) = %s "
                f"AND SUBSTR({column}, 1, {len(primary_header)}) <> %s",
                [PREFIX, primary_header],
            )
        return f"{column} <> '' AND SUBSTR({column}, 1, {n}) <> %s", [PREFIX]

    def pk_filter(self, pks):
        if pks is None:
            return "", []
        values = [self.pk_field.get_db_prep_value(pk, self.connection) for pk in pks]
        return f" AND {self.pk} IN ({', '.join(['%s'] * len(values))})", values


def reseal_field(
    model, sealed_field, *, mode=ROTATE, batch_size=500, dry_run=False, pks=None, progress=None
):
    """Re-seal one column; returns a :class:`FieldReport`.

    ``pks`` limits the run to those rows (the admin action). ``progress`` is
    called with the number of rows handled after every batch.
    """
    if mode not in (ROTATE, LEGACY, REINDEX):
        raise ValueError(f"unknown mode {mode!r}")
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    keyring = app_settings.keyring
    column = _Column(model, sealed_field)
    primary_header = f"{PREFIX}{keyring.primary_version}$"
    report = FieldReport(model._meta.label, sealed_field.name, dry_run=dry_run)
    indexed = _IndexColumn(column) if getattr(sealed_field, "searchable", False) else None
    condition, condition_params = _condition(column, indexed, mode, primary_header)
    only, only_params = column.pk_filter(pks)
    selected = f"{column.pk}, {column.column}" + (f", {indexed.column}" if indexed else "")
    lock = " FOR UPDATE SKIP LOCKED" if column.vendor == "postgresql" and not dry_run else ""

    # Walk the table in windows of primary keys: a cheap index-only query finds
    # the window's upper key, so the locking SELECT works on a key range the
    # planner can estimate (filtering on the header alone, it chose to sort the
    # whole table for every batch).
    last_pk, done = None, False
    while not done:
        upper_pk = _window_end(column, last_pk, batch_size, only, only_params)
        done = upper_pk is None
        bounds, bound_params = [], []
        if last_pk is not None:
            bounds.append(f"{column.pk} > %s")
            bound_params.append(last_pk)
        if upper_pk is not None:
            bounds.append(f"{column.pk} <= %s")
            bound_params.append(upper_pk)
        window = "".join(f" AND {bound}" for bound in bounds)
        sql = (
            f"SELECT {selected} FROM {column.table} "
            f"WHERE {condition}{only}{window} ORDER BY {column.pk}{lock}"
        )
        with transaction.atomic(using=column.using):
            with column.connection.cursor() as cursor:
                cursor.execute(sql, [*condition_params, *only_params, *bound_params])
                rows = cursor.fetchall()
            if indexed is not None:
                indexed.process(rows, mode, keyring, report, dry_run)
            else:
                updates = _reseal_rows(column, rows, mode, keyring, report)
                if updates and not dry_run:
                    written = _write(column, updates)
                    report.resealed += written
                    report.changed += len(updates) - written
                elif dry_run:
                    report.resealed += len(updates)
        last_pk = upper_pk
        if progress is not None and rows:
            progress(len(rows))

    _count_the_rest(
        column, ROTATE if mode == REINDEX else mode, primary_header, only, only_params, report
    )
    return report


def _condition(column, indexed, mode, primary_header):
    """Rows to visit: the column's own condition, or'ed with its index's."""
    if indexed is None:
        return column.needs_work(mode, primary_header)
    index_sql, index_params = indexed.needs_work()
    if mode == REINDEX:
        return index_sql, index_params
    sql, params = column.needs_work(mode, primary_header)
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

    def needs_work(self):
        col, idx, n = self.base.column, self.column, len(PREFIX)
        prefix = self.index.primary_prefix
        return (
            f"({col} = '' OR (SUBSTR({col}, 1, {n}) = %s AND {col} <> %s)) AND ({idx} IS NULL "
            f"OR SUBSTR({idx}, 1, {len(prefix)}) <> %s OR LENGTH({idx}) <> %s)",
            [PREFIX, PENDING_DEFAULT, prefix, self.index.current_length],
        )

    def process(self, rows, mode, keyring, report, dry_run):
        updates = self._rows(rows, mode, keyring, report)
        if dry_run or not updates:
            report.resealed += sum(1 for _pk, old, new, _i, _w in updates if new != old)
            report.reindexed += sum(1 for _pk, _o, _n, index, was in updates if index != was)
            return
        written, refused = self._write(updates, report)
        for pk, old, new, index, was in updates:
            if pk in written:
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
                if stored == "":
                    new, index = "", field.compute_index("")
                else:
                    context = field.context_for_pk(pk)
                    if mode == LEGACY:
                        plaintext = field.plaintext_from_legacy(stored)
                        reseal = True
                    else:
                        plaintext = keyring.decrypt(stored, context)
                        reseal = mode == ROTATE and keyring.needs_reseal(stored)
                    new = stored
                    if reseal:
                        new = keyring.encrypt(plaintext, context)
                        if keyring.decrypt(new, context) != plaintext:
                            raise CryptoError("the re-sealed value did not open to the same bytes")
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
                    f"UPDATE {table} SET {col} = v.new, {idx} = v.idx FROM unnest("
                    f"%s::{pk_type}[], %s::text[], %s::text[], %s::text[]) AS v(id, old, new, idx) "
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
    """``(pk, old, new)`` for the rows that could be opened and re-sealed."""
    sealed_field = column.field
    updates = []
    for pk, stored in rows:
        context = sealed_field.context_for_pk(pk)
        try:
            if mode == ROTATE:
                plaintext = keyring.decrypt(stored, context)
            else:
                plaintext = sealed_field.plaintext_from_legacy(stored)
            new = keyring.encrypt(plaintext, context)
            if keyring.decrypt(new, context) != plaintext:
                raise CryptoError("the re-sealed value did not open to the same bytes")
        except (CryptoError, ValueError) as exc:
            report.unreadable.append(
                Unreadable(
                    str(sealed_field.model._meta.pk.to_python(pk)),
                    type(exc).__name__,
                    getattr(exc, "key_version", None),
                )
            )
            continue
        updates.append((pk, stored, new))
    return updates


def _write(column, updates):
    """Write ``(pk, old, new)`` rows where the stored value is still ``old``.

    One statement per batch (per 300 rows on SQLite), never one per row, and
    not Django's CASE/WHEN ``bulk_update``. Returns the number of rows written.
    """
    table, pk, col = column.table, column.pk, column.column
    with column.connection.cursor() as cursor:
        if column.vendor == "postgresql":
            pk_type = column.pk_field.db_type(column.connection)
            pks, olds, news = ([str(v) for v in values] for values in zip(*updates, strict=True))
            packed = [_pack(values) for values in (pks, olds, news)]
            if None in packed:
                arrays = f"%s::{pk_type}[], %s::text[], %s::text[]"
                params: list[Any] = [pks, olds, news]
            else:
                arrays = (
                    f"string_to_array(%s, %s)::{pk_type}[], string_to_array(%s, %s), "
                    "string_to_array(%s, %s)"
                )
                params = [part for value in packed for part in (value, _SEPARATOR)]
            # The batch is contiguous in key order: the BETWEEN lets the planner
            # use the primary key index instead of hashing the whole table.
            cursor.execute(
                f"UPDATE {table} SET {col} = v.new FROM unnest({arrays}) AS v(id, old, new) "
                f"WHERE {table}.{pk} = v.id AND {table}.{col} = v.old "
                f"AND {table}.{pk} BETWEEN %s AND %s",
                [*params, updates[0][0], updates[-1][0]],
            )
            return cursor.rowcount
        if column.vendor == "sqlite":
            written = 0
            for start in range(0, len(updates), _SQLITE_ROWS_PER_STATEMENT):
                chunk = updates[start : start + _SQLITE_ROWS_PER_STATEMENT]
                values = ", ".join(["(%s, %s, %s)"] * len(chunk))
                cursor.execute(
                    f"UPDATE {table} SET {col} = v.column3 FROM (VALUES {values}) AS v "
                    f"WHERE {table}.{pk} = v.column1 AND {table}.{col} = v.column2",
                    [value for row in chunk for value in row],
                )
                written += cursor.rowcount
            return written
        # Other databases: one prepared statement, executed for the batch.
        cursor.executemany(
            f"UPDATE {table} SET {col} = %s WHERE {pk} = %s AND {col} = %s",
            [(new, pk_value, old) for pk_value, old, new in updates],
        )
        return cursor.rowcount


def _window_end(column, after_pk, size, only, only_params):
    """The primary key ``size`` rows after ``after_pk``, or None past the end."""
    after = f" AND {column.pk} > %s" if after_pk is not None else ""
    with column.connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column.pk} FROM {column.table} WHERE 1 = 1{only}{after} "
            f"ORDER BY {column.pk} LIMIT 1 OFFSET %s",
            [*only_params, *([after_pk] if after_pk is not None else []), size - 1],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _count_the_rest(column, mode, primary_header, only, only_params, report):
    """Fill in the counts of rows this run had nothing to do for."""
    col, n = column.column, len(PREFIX)
    sql = (
        f"SELECT "
        f"SUM(CASE WHEN {col} IS NULL OR {col} = '' THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN SUBSTR({col}, 1, {n}) = %s THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN SUBSTR({col}, 1, {len(primary_header)}) = %s THEN 1 ELSE 0 END), "
        f"COUNT(*) FROM {column.table} WHERE 1 = 1{only}"
    )
    with column.connection.cursor() as cursor:
        cursor.execute(sql, [PREFIX, primary_header, *only_params])
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
    indexed = _IndexColumn(column) if getattr(sealed_field, "searchable", False) else None
    condition, params = _condition(column, indexed, mode, primary_header)
    only, only_params = column.pk_filter(pks)
    with column.connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {column.table} WHERE {condition}{only}", [*params, *only_params]
        )
        return cursor.fetchone()[0]
