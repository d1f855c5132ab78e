"""Searchable sealed fields: a lookup by value through the blind index against a
lookup on a plain unique column, and the cost of writing a searchable value.

``Customer.api_key`` is ``EncryptedTokenField(searchable=True, unique=True)``;
``Customer.code``, in the same rows, a plain ``CharField(unique=True)`` holding
the same values. Both lookups are ``Customer.objects.get(<column>=value)``
through the ORM and return the same row: the searchable one adds the HMAC of
the value under each index key (two here: the test keyring has two versions,
as during a rotation).
"""

import secrets

from django.core.management.color import no_style
from django.db import connection, transaction

from tests.testapp.models import Badge, Customer

from .common import Row, Section, compare
from .crypto_bench import PLAINTEXT_CHARS

GOAL = 1.5
LOOKUPS = 300


def _flush(*models):
    tables = [model._meta.db_table for model in models]
    connection.ops.execute_sql_flush(connection.ops.sql_flush(no_style(), tables))


def section(quick):
    rows_count, repeats = (2_000, 3) if quick else (20_000, 7)
    keys = [secrets.token_urlsafe(PLAINTEXT_CHARS)[:PLAINTEXT_CHARS] for _ in range(rows_count)]
    probes = [keys[i] for i in range(0, rows_count, max(rows_count // LOOKUPS, 1))][:LOOKUPS]

    _flush(Customer, Badge)
    with transaction.atomic():
        Customer.objects.bulk_create((Customer(api_key=k, code=k) for k in keys), batch_size=1000)

    def lookup(column):
        def run():
            for key in probes:
                Customer.objects.get(**{column: key})

        return run

    value, baseline, ratios = compare(lookup("api_key"), lookup("code"), repeats=repeats)
    results = [
        Row(
            f"get(api_key=...) in {rows_count:,} rows",
            value / len(probes),
            baseline / len(probes),
            "µs",
            GOAL,
            ratios,
        )
    ]

    write_rows = min(rows_count, 5_000)

    def insert(model, field):
        def run():
            with transaction.atomic():
                model.objects.bulk_create(
                    (model(**{field: k}) for k in keys[:write_rows]), batch_size=1000
                )

        return run

    value, baseline, ratios = compare(
        insert(Customer, "api_key"),
        insert(Customer, "note"),
        repeats=repeats,
        before=lambda: _flush(Customer, Badge),
    )
    results.append(
        Row(
            f"bulk_create {write_rows:,} rows, one sealed value",
            value,
            baseline,
            "ms",
            None,
            ratios,
        )
    )
    _flush(Customer, Badge)
    notes = [
        "lookup: searchable sealed field (blind index, 2 index keys) vs a plain unique "
        f"CharField of the same rows; median of {repeats} paired runs of {len(probes)} lookups, "
        "per lookup",
        "write: rows of one table with one sealed value each, in its searchable unique "
        "column (api_key) vs in its plain sealed column (note): one HMAC and one "
        "unique index entry per row",
    ]
    return Section(f"Searchable fields: {rows_count:,} rows", results, notes)
