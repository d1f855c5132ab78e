"""Moving a sealed text column to the binary storage, in a data migration.

The column keeps its purpose (its values stay bound to the same column and row):
the migration adds the binary field beside the text one under a temporary name,
copies every value through the re-sealing engine's steps -- open with the text
column's context, seal again under the primary key with the binary column's
(the same purpose and row), prove the new value opens, write it only where the
text value is still the one read -- then drops the text field and renames the
binary one. docs/how-to/move-a-column-to-binary.md shows the migration::

    migrations.AddField("account", "token_binary",
        EncryptedTokenField(purpose="app.account.token", binary=True, null=True)),
    migrations.RunPython(copy_sealed("app.Account", "token", "token_binary"),
                         copy_sealed("app.Account", "token_binary", "token")),
    migrations.RemoveField("account", "token"),
    migrations.RenameField("account", "token_binary", "token"),

Nothing is lost: a value that cannot be opened stops the migration (which
rolls back on PostgreSQL; on SQLite the text column is still there) naming the
rows, never a value. Legacy plaintext in the text column is sealed on the way
(a binary column never holds plaintext).
"""

from collections.abc import Callable
from typing import Any

from django.db import router, transaction
from django.views.decorators.debug import sensitive_variables

from ..crypto import CryptoError, MalformedValueError, NotSealedError
from .conf import app_settings
from .resealing import FieldReport, Unreadable, _Column
from .values import PENDING_DEFAULT


class CopyToBinaryError(RuntimeError):
    """Rows whose text value could not be opened: nothing was copied for them."""

    def __init__(self, report: FieldReport) -> None:
        self.report = report
        rows = ", ".join(f"{item.pk} ({item.error})" for item in report.unreadable[:20])
        more = len(report.unreadable) - 20
        super().__init__(
            f"{report.model}.{report.field}: {len(report.unreadable)} value(s) could not be "
            f"opened, so the column was not moved to binary: {rows}"
            + (f" and {more} more" if more > 0 else "")
            + ". Fix or clear those rows (see `manage.py rotate_keys`) and migrate again."
        )


def copy_sealed(
    model_label: str, source: str, target: str, *, batch_size: int = 500
) -> Callable[[Any, Any], None]:
    """A ``RunPython`` function copying sealed column ``source`` into ``target``
    for every row of ``model_label`` (``"app_label.ModelName"``), on the
    migration's historical model: text into binary, or back (the reverse step)."""

    def run(apps, schema_editor):
        model = apps.get_model(model_label)
        copy_column(
            model, source, target, batch_size=batch_size, using=schema_editor.connection.alias
        )

    return run


def copy_column(
    model: Any, source: str, target: str, *, batch_size: int = 500, using: str | None = None
) -> FieldReport:
    """Copy sealed column ``source`` into sealed column ``target`` of another
    storage (rows where ``target`` is NULL), a batch at a time; raises
    :class:`CopyToBinaryError` naming the rows it could not open, after copying
    all the others."""
    source_field = model._meta.get_field(source)
    target_field = model._meta.get_field(target)
    if not (hasattr(source_field, "binary") and hasattr(target_field, "binary")):
        raise ValueError(f"{source} and {target} must both be sealed fields")
    src = _Column(model, source_field)
    dst = _Column(model, target_field)
    using = using or router.db_for_write(model)
    report = FieldReport(model._meta.label, target)
    failed: set[Any] = set()
    # A row written while a pass walked past it is picked up by the next pass.
    for _pass in range(3):
        _one_pass(source_field, src, dst, using, batch_size, report, failed)
        if _left(src, dst) <= len(failed):
            break
    report.remaining = _left(src, dst) - len(failed)
    if report.unreadable or report.remaining:
        raise CopyToBinaryError(report)
    return report


def _one_pass(source_field, src, dst, using, batch_size, report, failed):
    last_pk = None
    while True:
        with transaction.atomic(using=using):
            rows = _next_rows(src, dst, last_pk, batch_size)
            if not rows:
                return
            last_pk = rows[-1][0]
            updates = _convert(rows, source_field, src, dst, report, failed)
            written = _write(src, dst, updates)
            report.resealed += written


def _left(src, dst):
    """Rows whose text value has no binary copy yet."""
    with src.connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {src.table} WHERE {dst.column} IS NULL "
            f"AND {src.column} IS NOT NULL"
        )
        return cursor.fetchone()[0]


def _next_rows(src, dst, last_pk, batch_size):
    after = f" AND {src.pk} > %s" if last_pk is not None else ""
    sql = (
        f"SELECT {src.pk}, {src.column} FROM {src.table} WHERE {dst.column} IS NULL "
        f"AND {src.column} IS NOT NULL{after} ORDER BY {src.pk} LIMIT %s"
    )
    params = [last_pk] if last_pk is not None else []
    with src.connection.cursor() as cursor:
        cursor.execute(sql, [*params, batch_size])
        return cursor.fetchall()


@sensitive_variables()
def _convert(rows, source_field, src, dst, report, failed):
    """``(pk, old text, new bytes)`` for the rows that opened."""
    keyring = app_settings.keyring
    seal = keyring.encrypt_verified_binary if dst.binary else keyring.encrypt_verified
    updates = []
    for pk, stored in rows:
        if isinstance(stored, memoryview):
            stored = bytes(stored)
        try:
            if len(stored) == 0:
                new = b"" if dst.binary else ""
            else:
                if stored in (PENDING_DEFAULT, PENDING_DEFAULT.encode("ascii")):
                    raise MalformedValueError("a migration default was never sealed")
                if stored.startswith(src.prefix):
                    plaintext = keyring.decrypt(stored, src.context_for(pk))
                elif src.binary:
                    raise NotSealedError("a binary column holds no plaintext")
                else:
                    plaintext = source_field.plaintext_from_legacy(stored)
                new = seal(plaintext, dst.context_for(pk))
        except (CryptoError, ValueError) as exc:
            key = str(source_field.model._meta.pk.to_python(pk))
            if key not in failed:
                failed.add(key)
                report.unreadable.append(
                    Unreadable(key, type(exc).__name__, getattr(exc, "key_version", None))
                )
            continue
        updates.append((pk, stored, new))
    return updates


def _write(src, dst, updates):
    """Write each new value where the text value is still the one read; returns
    how many were written (a row per statement: a migration runs this once)."""
    written = 0
    with src.connection.cursor() as cursor:
        for pk, old, new in updates:
            cursor.execute(
                f"UPDATE {src.table} SET {dst.column} = %s WHERE {src.pk} = %s "
                f"AND {src.column} = %s AND {dst.column} IS NULL",
                [new, pk, old],
            )
            written += cursor.rowcount
    return written
