"""Re-sealing a table: the engine against a plain SQL UPDATE and a naive Django loop.

Rows/s for ``rotate_keys`` (old key -> primary) and ``encrypt_legacy``
(plaintext -> sealed) on one sealed column, compared with:

* a plain SQL ``UPDATE`` that rewrites the same rows with same-sized values
  computed in the database (the limit for writing that many rows), and
* the naive approach: load model instances in batches, read each secret, assign
  it back and save the batch with Django's ``bulk_update``.

Every run starts from the same stored values, restored from a snapshot table.
"""

import time

from django.db import connection, transaction
from django.test.utils import override_settings

from integrations.sealed import resealing
from tests.settings import TEST_KEY_V1
from tests.testapp.models import Account

from .common import Row, Section

GOAL_VS_PLAIN_UPDATE = 2.0  # engine time / plain UPDATE time <= 2.0, i.e. >= 0.5x the rows/s
BATCH_SIZE = 1000


def _sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _seconds(action):
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _restore(snapshot):
    # Not timed: put every row back to the values the run starts from.
    _sql(
        "UPDATE testapp_account SET token = s.token FROM "
        f"{snapshot} AS s WHERE testapp_account.id = s.id"
    )


def _plain_update():
    with transaction.atomic():
        _sql("UPDATE testapp_account SET token = 'x' || SUBSTR(token, 2)")


def _naive_loop():
    """What a team writes first: bulk_update over model instances."""
    last = None
    while True:
        with transaction.atomic():
            batch = Account.objects.order_by("id")
            if last is not None:
                batch = batch.filter(id__gt=last)
            batch = list(batch.only("id", "token")[:BATCH_SIZE])
            if not batch:
                return
            for account in batch:
                account.token = account.token  # open, then seal again on bulk_update
            Account.objects.bulk_update(batch, ["token"])
            last = batch[-1].pk


def _engine(mode):
    def run():
        report = resealing.reseal_field(
            Account, Account._meta.get_field("token"), mode=mode, batch_size=BATCH_SIZE
        )
        assert report.unreadable == [] and report.remaining == 0, report

    return run


def section(quick):
    rows = 5_000 if quick else 100_000
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V1]}):
        for start in range(0, rows, 10_000):
            Account.objects.bulk_create(
                [
                    Account(token=f"token-{n:06d}-" + "x" * 92)
                    for n in range(start, min(start + 10_000, rows))
                ],
                batch_size=BATCH_SIZE,
            )
    _sql("CREATE TABLE bench_sealed_v1 AS SELECT id, token FROM testapp_account")
    _sql(
        "CREATE TABLE bench_plaintext AS SELECT id, "
        "'token-' || SUBSTR(id, 1, 8) || '-plaintext-legacy-value' AS token FROM testapp_account"
        if connection.vendor == "sqlite"
        else "CREATE TABLE bench_plaintext AS SELECT id, "
        "'token-' || SUBSTR(id::text, 1, 8) || '-plaintext-legacy-value' AS token "
        "FROM testapp_account"
    )
    try:
        results = {}
        for name, snapshot, action in (
            ("plain", "bench_sealed_v1", _plain_update),
            ("rotate", "bench_sealed_v1", _engine(resealing.ROTATE)),
            ("naive", "bench_sealed_v1", _naive_loop),
            ("legacy", "bench_plaintext", _engine(resealing.LEGACY)),
        ):
            samples = []
            for _ in range(1 if name == "naive" and not quick else 2):
                _restore(snapshot)
                samples.append(_seconds(action))
            results[name] = min(samples)
    finally:
        _sql("DROP TABLE bench_sealed_v1")
        _sql("DROP TABLE bench_plaintext")
        Account.objects.all()._raw_delete(connection.alias)

    def per_row(name):
        return results[name] / rows

    table = [
        Row(
            "rotate_keys vs plain SQL UPDATE",
            per_row("rotate"),
            per_row("plain"),
            "µs",
            GOAL_VS_PLAIN_UPDATE,
        ),
        Row(
            "encrypt_legacy vs plain SQL UPDATE",
            per_row("legacy"),
            per_row("plain"),
            "µs",
            GOAL_VS_PLAIN_UPDATE,
        ),
        Row("rotate_keys vs naive bulk_update loop", per_row("rotate"), per_row("naive"), "µs"),
    ]
    notes = [
        f"{rows:,} rows, one sealed column, batches of {BATCH_SIZE}; times are per row",
        "rows/s: "
        + ", ".join(f"{name} {rows / seconds:,.0f}" for name, seconds in results.items()),
        "goal: the engine at >= 0.5x the plain UPDATE's rows/s (ratio <= 2.0x in time)",
    ]
    return Section("re-sealing: rotate_keys and encrypt_legacy", table, notes)
