"""Writing and reading rows through the ORM: sealed columns against plain ones.

``Account`` has two sealed ``EncryptedTokenField`` columns bound to the row's
UUID; ``PlainAccount`` has the same shape with plain ``TextField`` columns.
"""

import secrets

from django.core.management.color import no_style
from django.db import connection, transaction

from tests.testapp.models import Account, PlainAccount

from .common import Row, Section, compare
from .crypto_bench import PLAINTEXT_CHARS

GOAL = 1.5
BATCH_SIZE = 1000


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


def _reader(model, touch):
    def read():
        objs = list(model.objects.all())
        if touch:
            for obj in objs:
                obj.token  # noqa: B018 - the read is the point
                obj.other_token  # noqa: B018

    return read


def section(quick):
    rows_count, repeats = (2_000, 2) if quick else (20_000, 5)

    def token():
        return secrets.token_urlsafe(PLAINTEXT_CHARS)[:PLAINTEXT_CHARS]

    tokens = [(token(), token()) for _ in range(rows_count)]
    insert_sealed = _inserter(Account, tokens)
    insert_plain = _inserter(PlainAccount, tokens)

    results = []
    value, baseline = compare(
        insert_sealed,
        insert_plain,
        repeats=repeats,
        before=lambda: _flush(Account, PlainAccount),
    )
    results.append(Row(f"bulk_create {rows_count:,} rows", value, baseline, "ms", GOAL))

    # The reads need both tables full; compare() emptied one of them last.
    _flush(Account, PlainAccount)
    insert_sealed()
    insert_plain()
    for name, touch in (
        ("read all rows, tokens untouched", False),
        ("read all rows + open both tokens", True),
    ):
        value, baseline = compare(
            _reader(Account, touch), _reader(PlainAccount, touch), repeats=repeats
        )
        results.append(Row(name, value, baseline, "ms", GOAL))
    _flush(Account, PlainAccount)

    notes = [
        f"Account (2 sealed tokens) vs PlainAccount (2 TextFields); best of {repeats}",
        f"bulk_create: batch_size={BATCH_SIZE}, one transaction, building the instances included",
    ]
    return Section(f"ORM: {rows_count:,} rows", results, notes)
