"""Sealing a sealed field's default into the rows that exist when a migration adds it.

``AddField(..., EncryptedTokenField(default="x", ...))`` on a table with rows asks
the schema editor for *one* value to write into every existing row. A field bound
to each row's primary key (the normal case: UUID keys) has no such value: each row
needs its own sealed string. So:

1. The field answers the schema editor with :data:`~integrations.fields.PENDING_DEFAULT`,
   a placeholder that is not a sealed value (it has the sealed prefix but is
   malformed, so it is never opened nor taken for legacy plaintext). The schema
   change itself stays plain DDL: ``sqlmigrate`` prints it, SQLite's table rebuild
   and PostgreSQL's ``ADD COLUMN ... DEFAULT`` both work.
2. Before ``manage.py migrate`` applies a plan, a ``pre_migrate`` receiver (Django's
   documented hook, which is given the plan) inserts a
   :class:`SealPendingDefaults` operation right after every ``AddField`` or
   ``AlterField`` of a sealed field with a default. It runs inside the same
   migration (and transaction, where the database has transactional DDL), replaces
   every placeholder with the default sealed for that row's primary key, in
   batches, and leaves nothing for a later step to forget.

Why this rather than the alternatives: sealing in the schema editor is impossible
(it writes one value for all rows, and ``sqlmigrate`` has no rows); a lazy "read
the placeholder as the default" would leave values that are not bound to their row
(a copied placeholder would open anywhere); asking users to edit generated
migrations would be forgotten. Nothing here is in the generated migration, so
``makemigrations`` output stays ordinary.

Applying migrations without ``manage.py migrate`` (``MigrationExecutor`` directly,
or SQL from ``sqlmigrate``) skips step 2: such rows hold the placeholder, reading
them raises ``MalformedValueError`` naming the row, and :func:`seal_pending_defaults`
seals them.
"""

import logging

from django.db import connections
from django.db.migrations.operations import AddField, AlterField
from django.db.migrations.operations.base import Operation

from .blind_index import BlindIndexField
from .fields import PENDING_DEFAULT, _SealedField

__all__ = [
    "FillBlindIndex",
    "SealPendingDefaults",
    "insert_sealing_steps",
    "seal_pending_defaults",
]

logger = logging.getLogger("integrations.migrations")

BATCH_SIZE = 500


def seal_pending_defaults(model, field, *, using="default", batch_size=BATCH_SIZE):
    """Replace every placeholder in ``field``'s column with its default sealed
    for the row; return how many rows were sealed.

    Works on raw rows (sealed fields refuse lookups other than ``isnull``), so it
    runs with historical models inside a migration as well as with real ones.
    """
    if not field.binds_to_row:
        return 0  # column-bound: the schema editor sealed the default already
    connection = connections[using]
    quote = connection.ops.quote_name
    table, column = quote(model._meta.db_table), quote(field.column)
    pk_field = model._meta.pk
    pk_column = quote(pk_field.column)
    select = (
        f"SELECT {pk_column} FROM {table} WHERE {column} = %s "
        f"{connection.ops.limit_offset_sql(0, batch_size)}"
    )
    update = f"UPDATE {table} SET {column} = %s WHERE {pk_column} = %s AND {column} = %s"
    # A binary column (binary=True) holds the placeholder and the sealed values as bytes.
    binary = getattr(field, "binary", False)
    pending = PENDING_DEFAULT.encode("ascii") if binary else PENDING_DEFAULT
    form = bytes if binary else str
    sealed = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(select, [pending])
            stored_pks = [row[0] for row in cursor.fetchall()]
            if not stored_pks:
                return sealed
            cursor.executemany(
                update,
                [
                    (
                        form(
                            field.seal_for_pk(field.plain_default(), pk_field.to_python(stored_pk))
                        ),
                        stored_pk,
                        pending,
                    )
                    for stored_pk in stored_pks
                ],
            )
            sealed += len(stored_pks)


class SealPendingDefaults(Operation):
    """Seal ``model_name.name``'s default into the rows the schema editor filled.

    Inserted by :func:`insert_sealing_steps`; never written into a migration file.
    """

    reversible = True
    reduces_to_sql = False

    def __init__(self, model_name, name):
        self.model_name = model_name
        self.name = name

    def deconstruct(self):
        return type(self).__qualname__, [], {"model_name": self.model_name, "name": self.name}

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            seal_pending_defaults(
                model, model._meta.get_field(self.name), using=schema_editor.connection.alias
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        pass  # going back, the schema change removes or relaxes the column

    def describe(self):
        return f"Seal the default of {self.model_name}.{self.name} into existing rows"


class FillBlindIndex(Operation):
    """Index the values already stored in a column that a migration made searchable.

    Inserted by :func:`insert_sealing_steps` at the end of a migration that adds a
    :class:`~integrations.sealed.blind_index.BlindIndexField` (a new searchable
    field, or ``searchable=True`` set on an existing one), after every column and
    sealed default of the migration exists. Opens each value (in batches), writes
    its index, re-seals nothing. Rows it cannot open keep a NULL index (lookups
    do not find them) and are counted in a warning; ``rotate_keys`` names them.
    """

    reversible = True
    reduces_to_sql = False

    def __init__(self, model_name, name):
        self.model_name = model_name
        self.name = name

    def deconstruct(self):
        return type(self).__qualname__, [], {"model_name": self.model_name, "name": self.name}

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        from .resealing import REINDEX, reseal_field

        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        report = reseal_field(model, model._meta.get_field(self.name), mode=REINDEX)
        if report.unreadable:
            logger.warning(
                "%s.%s: %d value(s) could not be opened and have no blind index yet; "
                "run `manage.py rotate_keys` to see which.",
                model._meta.label,
                self.name,
                len(report.unreadable),
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        pass  # going back, the index column is removed

    def describe(self):
        return f"Fill the blind index of {self.model_name}.{self.name}"


def _adds_blind_index(operation):
    return isinstance(operation, AddField) and isinstance(operation.field, BlindIndexField)


def _needs_sealing(operation):
    field = getattr(operation, "field", None)
    return (
        isinstance(operation, (AddField, AlterField))
        and isinstance(field, _SealedField)
        and field.has_default()
    )


def insert_sealing_steps(plan):
    """Add a :class:`SealPendingDefaults` after each operation of ``plan`` (the
    executor's ``[(migration, backwards), ...]``) that fills rows with a sealed
    field's default. Idempotent; each Migration instance has its own list."""
    for migration, backwards in plan:
        if backwards:
            continue
        operations = []
        for index, operation in enumerate(migration.operations):
            operations.append(operation)
            following = migration.operations[index + 1 : index + 2]
            if _needs_sealing(operation) and not (
                following and isinstance(following[0], SealPendingDefaults)
            ):
                operations.append(SealPendingDefaults(operation.model_name, operation.name))
        # Indexes are filled last, once every column and default they read exists.
        for operation in migration.operations:
            if _adds_blind_index(operation):
                fill = FillBlindIndex(operation.model_name, operation.field.source)
                if not any(
                    isinstance(o, FillBlindIndex) and o.deconstruct() == fill.deconstruct()
                    for o in operations
                ):
                    operations.append(fill)
        migration.operations = operations


def on_pre_migrate(sender, plan=None, **kwargs):
    """``pre_migrate`` receiver (connected in ``IntegrationsConfig.ready``)."""
    if plan:
        insert_sealing_steps(plan)
