"""Re-sealing a table: the engine against a plain SQL UPDATE and a naive Django loop.

Time per row of ``rotate_keys`` (old key -> primary) and ``encrypt_legacy``
(plaintext -> sealed) on one sealed column, compared with:

* a plain SQL ``UPDATE`` that rewrites the same rows with same-sized values
  computed in the database, in one statement (the limit for writing that many
  rows);
* the floor: the same plain ``UPDATE`` in windows of the engine's batch size,
  each its own transaction (what any batched, resumable engine pays before it
  does any crypto);
* the naive approach: load model instances in batches, read each secret, assign
  it back and save the batch with Django's ``bulk_update`` (skipped past 100,000
  rows: it would take minutes).

Every run starts from the same stored values, restored from a snapshot table.
``BENCH_ROWS`` sets the number of rows (``BENCH_ROWS=1000000`` for the 1M-row
rotation; rows are created once, sealed under the old key). The engine's
resident memory is sampled while it runs.
"""

import os
import statistics
import threading
import time
import uuid

from django.db import connection, transaction
from django.test.utils import override_settings

from integrations.crypto import Keyring
from integrations.sealed import resealing
from tests.settings import TEST_KEY_V1
from tests.testapp.models import Account

from .common import Row, Section, Timing

GOAL_VS_PLAIN_UPDATE = 2.5  # engine time / plain UPDATE time <= 2.5, i.e. >= 0.4x the rows/s
GOAL_RSS_MB = 150
BATCH_SIZE = 1000
CREATE_CHUNK = 10_000


def _sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else None


def _seconds(action):
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _restore(snapshot):
    # Not timed: put every row back to the values the run starts from.
    with transaction.atomic():
        _sql(
            "UPDATE testapp_account SET token = s.token FROM "
            f"{snapshot} AS s WHERE testapp_account.id = s.id"
        )
    if connection.vendor == "postgresql":
        _sql("VACUUM testapp_account")


def _plain_update():
    with transaction.atomic():
        _sql("UPDATE testapp_account SET token = 'x' || SUBSTR(token, 2)")


def _plain_windows():
    """The plain UPDATE a window of BATCH_SIZE keys at a time, each committed."""
    last = None
    while True:
        after = "WHERE id > %s " if last is not None else ""
        with transaction.atomic():
            keys = _sql(
                f"SELECT id FROM testapp_account {after}ORDER BY id LIMIT %s",
                [*([last] if last is not None else []), BATCH_SIZE],
            )
            if not keys:
                return
            _sql(
                "UPDATE testapp_account SET token = 'x' || SUBSTR(token, 2) "
                "WHERE id >= %s AND id <= %s",
                [keys[0][0], keys[-1][0]],
            )
        last = keys[-1][0]
        if len(keys) < BATCH_SIZE:
            return


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


def _rss_mb():
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux
        return float("nan")


class _PeakRSS:
    """The highest resident set size seen while the block runs (sampled)."""

    def __enter__(self):
        self.start = _rss_mb()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, _rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


def _engine(mode, memory=None):
    def run():
        with _PeakRSS() as rss:
            report = resealing.reseal_field(
                Account, Account._meta.get_field("token"), mode=mode, batch_size=BATCH_SIZE
            )
        assert report.unreadable == [] and report.remaining == 0, report
        if memory is not None:
            memory.append(rss.peak)

    return run


def _create_rows(rows):
    """``rows`` accounts whose token is sealed under the old key (version 1).

    PostgreSQL: values sealed here for each new key and streamed with COPY
    (a million rows in seconds, not minutes of ORM saves); elsewhere bulk_create.
    """
    if connection.vendor == "postgresql":
        old_keyring = Keyring.parse([TEST_KEY_V1])
        token_field = Account._meta.get_field("token")
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy("COPY testapp_account (id, label, token) FROM STDIN") as copy:
                for n in range(rows):
                    pk = uuid.uuid4()
                    plaintext = (f"token-{n:07d}-" + "x" * 91).encode()
                    copy.write_row(
                        (pk, "", old_keyring.encrypt(plaintext, token_field.context_for_pk(pk)))
                    )
        _sql("ANALYZE testapp_account")
        return
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V1]}):
        for start in range(0, rows, CREATE_CHUNK):
            with transaction.atomic():
                Account.objects.bulk_create(
                    [
                        Account(token=f"token-{n:07d}-" + "x" * 91)
                        for n in range(start, min(start + CREATE_CHUNK, rows))
                    ],
                    batch_size=BATCH_SIZE,
                )


def section(quick):
    rows = int(os.environ.get("BENCH_ROWS") or (5_000 if quick else 100_000))
    repeats = 1 if rows >= 500_000 else (2 if quick else 3)
    _create_rows(rows)
    _sql("CREATE TABLE bench_sealed_v1 AS SELECT id, token FROM testapp_account")
    _sql(
        "CREATE TABLE bench_plaintext AS SELECT id, "
        "'token-' || SUBSTR(id, 1, 8) || '-plaintext-legacy-value' AS token FROM testapp_account"
        if connection.vendor == "sqlite"
        else "CREATE TABLE bench_plaintext AS SELECT id, "
        "'token-' || SUBSTR(id::text, 1, 8) || '-plaintext-legacy-value' AS token "
        "FROM testapp_account"
    )
    memory: list[float] = []
    try:
        runs = [
            ("plain", "bench_sealed_v1", _plain_update),
            ("windows", "bench_sealed_v1", _plain_windows),
            ("rotate", "bench_sealed_v1", _engine(resealing.ROTATE, memory)),
            ("legacy", "bench_plaintext", _engine(resealing.LEGACY)),
        ]
        if rows <= 100_000:
            runs.append(("naive", "bench_sealed_v1", _naive_loop))
        samples: dict[str, list[float]] = {name: [] for name, _s, _a in runs}
        # Rounds interleave every run, so drift lands on all of them alike.
        for _ in range(repeats):
            for name, snapshot, action in runs:
                if name == "naive" and samples[name] and not quick:
                    continue  # slow and not a goal: once is enough
                _restore(snapshot)
                samples[name].append(_seconds(action))
    finally:
        _sql("DROP TABLE bench_sealed_v1")
        _sql("DROP TABLE bench_plaintext")
        Account.objects.all()._raw_delete(connection.alias)

    per_row = {name: Timing.of(values) / rows for name, values in samples.items()}
    # The goal is PostgreSQL's (issue 15): SQLite rewrites a table in one statement
    # far faster than any per-row work could follow (no server, no fsync here).
    goal = GOAL_VS_PLAIN_UPDATE if connection.vendor == "postgresql" else None
    windows_floor = per_row["windows"].median / per_row["plain"].median
    table = [
        Row(
            f"rotate_keys vs plain SQL UPDATE ({rows:,} rows)",
            per_row["rotate"],
            per_row["plain"],
            "µs",
            goal,
            floor=windows_floor,
        ),
        Row(
            "encrypt_legacy vs plain SQL UPDATE",
            per_row["legacy"],
            per_row["plain"],
            "µs",
            goal,
            floor=windows_floor,
        ),
    ]
    if "naive" in per_row:
        table.append(
            Row("rotate_keys vs naive bulk_update loop", per_row["rotate"], per_row["naive"], "µs")
        )
    peak = statistics.median(memory)
    notes = [
        f"{rows:,} rows, one sealed column, batches of {BATCH_SIZE}; times are per row, "
        f"median of {repeats} (rounds interleave every run)",
        "rows/s: "
        + ", ".join(
            f"{name} {1 / timing.median:,.0f}" for name, timing in per_row.items() if timing.median
        ),
        f"floor: the plain UPDATE in {BATCH_SIZE}-key windows, one transaction each "
        f"({windows_floor:.2f}x the single UPDATE)",
        f"goal (PostgreSQL): the engine at >= 0.4x the plain UPDATE's rows/s "
        f"(ratio <= {GOAL_VS_PLAIN_UPDATE}x)",
        f"rotate_keys peak RSS {peak:,.0f} MB (goal <= {GOAL_RSS_MB} MB): "
        + ("ok" if peak <= GOAL_RSS_MB else "OVER GOAL"),
    ]
    return Section("re-sealing: rotate_keys and encrypt_legacy", table, notes)
