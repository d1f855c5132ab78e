"""Writing and reading rows through the ORM: sealed columns against plain ones.

``Account`` has two sealed ``EncryptedTokenField`` columns bound to the row's
UUID; ``PlainAccount`` has the same shape with plain ``TextField`` columns.

The *floor* is the least any sealed field can cost: the same rows in plain
``TextField`` columns holding sealed strings, sealed and opened by calling
``Keyring.encrypt``/``Keyring.decrypt`` directly with a context built from the
row's key, with no field machinery at all. It is timed in the same rounds, so
"sealed - floor" is what the field itself adds.
"""

import secrets
import uuid

from django.core.management.color import no_style
from django.db import connection, models, transaction

from integrations.conf import app_settings
from tests.testapp.models import Account, PlainAccount

from .common import Row, Section, compare
from .crypto_bench import PLAINTEXT_CHARS

GOAL_READ = 1.8
GOAL_WRITE = 1.4
BATCH_SIZE = 1000
SEALED_PER_ROW = 2


class FloorAccount(models.Model):
    """PlainAccount's shape; the bench stores sealed strings in it (the floor)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    label = models.CharField(max_length=50, blank=True)
    token = models.TextField(null=True)  # noqa: DJ001 - PlainAccount's shape
    other_token = models.TextField(null=True)  # noqa: DJ001
    data = models.JSONField(null=True)

    class Meta:
        app_label = "testapp"
        db_table = "bench_floor_account"
        managed = False

    def __str__(self):
        return str(self.pk)


def _flush(*models):
    """Empty the tables between samples (TRUNCATE on PostgreSQL) so every
    insert starts from the same state."""
    tables = [model._meta.db_table for model in models]
    connection.ops.execute_sql_flush(connection.ops.sql_flush(no_style(), tables))


def _inserter(model, tokens):
    # Building the instances is timed too: assigning to a sealed field does
    # work (it records the value and its row binding) that save() relies on.
    def insert():
        objs = [model(token=token, other_token=other) for token, other in tokens]
        with transaction.atomic():
            model.objects.bulk_create(objs, batch_size=BATCH_SIZE)

    return insert


def _floor_inserter(tokens):
    """Seal with the keyring directly: a fresh key, its context, two encrypts."""
    token_prefix = Account._meta.get_field("token").purpose.encode() + b"|"
    other_prefix = Account._meta.get_field("other_token").purpose.encode() + b"|"

    def insert():
        encrypt = app_settings.keyring.encrypt
        objs = []
        for token, other in tokens:
            pk = uuid.uuid4()
            row = str(pk).encode()
            objs.append(
                FloorAccount(
                    id=pk,
                    token=encrypt(token.encode(), token_prefix + row),
                    other_token=encrypt(other.encode(), other_prefix + row),
                )
            )
        with transaction.atomic():
            FloorAccount.objects.bulk_create(objs, batch_size=BATCH_SIZE)

    return insert


def _reader(model, touch):
    def read():
        objs = list(model.objects.all())
        if touch:
            for obj in objs:
                obj.token  # noqa: B018 - the read is the point
                obj.other_token  # noqa: B018

    return read


def _floor_reader():
    token_prefix = Account._meta.get_field("token").purpose.encode() + b"|"
    other_prefix = Account._meta.get_field("other_token").purpose.encode() + b"|"

    def read():
        decrypt = app_settings.keyring.decrypt
        for obj in list(FloorAccount.objects.all()):
            row = str(obj.pk).encode()
            decrypt(obj.token, token_prefix + row).decode()
            decrypt(obj.other_token, other_prefix + row).decode()

    return read


def section(quick):
    rows_count, repeats = (2_000, 3) if quick else (20_000, 7)

    def token():
        return secrets.token_urlsafe(PLAINTEXT_CHARS)[:PLAINTEXT_CHARS]

    tokens = [(token(), token()) for _ in range(rows_count)]
    insert_sealed = _inserter(Account, tokens)
    insert_plain = _inserter(PlainAccount, tokens)
    with connection.schema_editor() as editor:
        editor.create_model(FloorAccount)
    try:
        results = []
        value, baseline, ratios, (floor, floor_ratios) = compare(
            insert_sealed,
            insert_plain,
            repeats=repeats,
            before=lambda: _flush(Account, PlainAccount, FloorAccount),
            others=(_floor_inserter(tokens),),
        )
        results.append(
            Row(
                f"bulk_create {rows_count:,} rows",
                value / rows_count,
                baseline / rows_count,
                "µs",
                GOAL_WRITE,
                ratios,
                SEALED_PER_ROW,
                floor_ratios.median,
            )
        )
        field_cost = [("write", (value.median - floor.median) / rows_count / SEALED_PER_ROW)]

        # The reads need the tables full; compare() emptied them before each insert.
        _flush(Account, PlainAccount, FloorAccount)
        insert_sealed()
        insert_plain()
        _floor_inserter(tokens)()
        value, baseline, ratios = compare(
            _reader(Account, False), _reader(PlainAccount, False), repeats=repeats
        )
        results.append(
            Row(
                "read all rows, tokens untouched",
                value / rows_count,
                baseline / rows_count,
                "µs",
                GOAL_READ,
                ratios,
            )
        )
        value, baseline, ratios, (floor, floor_ratios) = compare(
            _reader(Account, True),
            _reader(PlainAccount, True),
            repeats=repeats,
            others=(_floor_reader(),),
        )
        results.append(
            Row(
                "read all rows + open both tokens",
                value / rows_count,
                baseline / rows_count,
                "µs",
                GOAL_READ,
                ratios,
                SEALED_PER_ROW,
                floor_ratios.median,
            )
        )
        field_cost.append(("read", (value.median - floor.median) / rows_count / SEALED_PER_ROW))
        _flush(Account, PlainAccount, FloorAccount)
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(FloorAccount)

    notes = [
        f"Account (2 sealed tokens) vs PlainAccount (2 TextFields); per row, "
        f"median of {repeats} after a warm-up",
        f"bulk_create: batch_size={BATCH_SIZE}, one transaction, building the instances included",
        "floor: plain columns holding sealed strings, Keyring called directly (no field)",
        "per value: what sealing adds per sealed value over the plain baseline",
        "the field's own cost above the floor (goal ~1 µs): "
        + ", ".join(f"{name} {seconds * 1e6:+.2f} µs/value" for name, seconds in field_cost),
    ]
    return Section(f"ORM: {rows_count:,} rows", results, notes)
