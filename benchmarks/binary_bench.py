"""Binary storage (``binary=True``) against the text form and plain TextFields.

Not part of ``make bench`` (yet): run it on its own, e.g.::

    PYTHONPATH=. DATABASE_URL=postgres://... .venv/bin/python -m benchmarks.binary_bench

Three models of one shape (UUID key, a label, two tokens): plain ``TextField``s,
sealed text (``EncryptedTokenField``) and sealed binary (``binary=True``). Every
round times each variant once, in turn: ``bulk_create`` of the rows (instances
built inside the timing), then reading them all back and opening both values.
CPU time of this process (``time.process_time``): the database server's work is
not in it. Ratios are the medians of the per-round ratios to plain.
"""

import os
import secrets
import statistics
import sys
import time
import uuid

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.core.management.color import no_style  # noqa: E402
from django.db import connection, models, transaction  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from integrations.fields import EncryptedTokenField  # noqa: E402

TOKEN_CHARS = 40
BATCH_SIZE = 1000


class _Shape(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    label = models.CharField(max_length=50, blank=True)

    class Meta:
        abstract = True

    def __str__(self):
        return str(self.pk)


class BenchPlain(_Shape):
    token = models.TextField(null=True)  # noqa: DJ001 - the baseline's shape
    other_token = models.TextField(null=True)  # noqa: DJ001

    class Meta:
        app_label = "testapp"
        db_table = "bench_bin_plain"
        managed = False


class BenchText(_Shape):
    token = EncryptedTokenField(purpose="bench.text.token", null=True)
    other_token = EncryptedTokenField(purpose="bench.text.other_token", null=True)

    class Meta:
        app_label = "testapp"
        db_table = "bench_bin_text"
        managed = False


class BenchBinary(_Shape):
    token = EncryptedTokenField(purpose="bench.binary.token", binary=True, null=True)
    other_token = EncryptedTokenField(purpose="bench.binary.other_token", binary=True, null=True)

    class Meta:
        app_label = "testapp"
        db_table = "bench_bin_binary"
        managed = False


MODELS = {"plain": BenchPlain, "text": BenchText, "binary": BenchBinary}


def _cpu(fn):
    start = time.process_time()
    fn()
    return time.process_time() - start


def _insert(model, tokens):
    def run():
        objs = [model(token=a, other_token=b) for a, b in tokens]
        with transaction.atomic():
            model.objects.bulk_create(objs, batch_size=BATCH_SIZE)

    return run


def _read(model):
    def run():
        for obj in list(model.objects.all()):
            obj.token  # noqa: B018 - opening is the point
            obj.other_token  # noqa: B018

    return run


def _flush(model):
    connection.ops.execute_sql_flush(connection.ops.sql_flush(no_style(), [model._meta.db_table]))


def main(rows=20_000, rounds=5):
    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    with connection.schema_editor() as editor:
        for model in MODELS.values():
            editor.create_model(model)
    tokens = [
        (secrets.token_urlsafe(TOKEN_CHARS)[:TOKEN_CHARS], secrets.token_urlsafe(30)[:TOKEN_CHARS])
        for _ in range(rows)
    ]
    writes = {name: [] for name in MODELS}
    reads = {name: [] for name in MODELS}
    for model in MODELS.values():  # warm-up
        _insert(model, tokens[:500])()
        _read(model)()
        _flush(model)
    for _ in range(rounds):
        for name, model in MODELS.items():
            _flush(model)
            writes[name].append(_cpu(_insert(model, tokens)))
        for name, model in MODELS.items():
            reads[name].append(_cpu(_read(model)))
    print(f"{connection.vendor}: {rows:,} rows x 2 tokens, {rounds} rounds, CPU time")
    for label, times in (("bulk_create", writes), ("read + open both", reads)):
        for name in ("text", "binary"):
            ratios = [t / p for t, p in zip(times[name], times["plain"], strict=True)]
            per_row = statistics.median(times[name]) / rows * 1e6
            print(
                f"  {label:17} {name:6} {statistics.median(ratios):.2f}x plain "
                f"(range {min(ratios):.2f}-{max(ratios):.2f}; {per_row:.1f} µs/row, plain "
                f"{statistics.median(times['plain']) / rows * 1e6:.1f})"
            )
        ratios = [b / t for b, t in zip(times["binary"], times["text"], strict=True)]
        print(f"  {label:17} binary/text {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:]))
