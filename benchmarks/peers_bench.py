"""This project's sealed field side by side with other packages' encrypted fields.

Every variant is the same model shape (a UUID primary key, a ``label``
CharField, two secret columns) with a different field class in the two secret
columns, and every one is timed relative to the same shape with plain
``TextField`` columns, in the same rounds (see :func:`common.measure`). The
peers come with the ``bench`` extra and are imported here only, never by the
package; a peer that is not installed, does not import on this Django or lacks
its settings (``benchmarks/settings.py`` sets them) is skipped with the reason.

The models are made when the section runs and their tables created and dropped
by it, as ``orm_bench.FloorAccount``'s are, so no migration ever sees them.

To time another variant, add one line to ``OURS``, ``FLOORS`` or ``PEERS``. The
floors are our envelope in the peers' shape (see :mod:`benchmarks.peers_floors`):
what the envelope costs there, with and without the row binding.
"""

import importlib
import importlib.metadata
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import django
from django.conf import settings
from django.db import connection, models, transaction

from integrations.fields import EncryptedTokenField

from .common import Grid, Section, measure
from .crypto_bench import PLAINTEXT_CHARS
from .orm_bench import BATCH_SIZE, _flush
from .peers_floors import RowBoundFloorField, UnboundFloorField, from_db_opening_rows

SECRETS = ("token", "other_token")


@dataclass(frozen=True)
class Variant:
    """One column of the table."""

    name: str  # the column's header
    # Builds one secret column, given a purpose unique to the variant and column
    # (the peers ignore it); importing the peer's package happens in here.
    field: Callable[[str], models.Field]
    ours: bool = False
    floor: bool = False  # a floor (peers_floors): neither ours nor a peer
    dist: str | None = None  # the peer's distribution, for its version
    needs: tuple[str, ...] = ()  # settings it reads later than at import
    model_attrs: tuple[tuple[str, object], ...] = ()  # more of the model's class body


def _peer(module, name):
    """A field class of a peer package, imported only when the section runs."""
    return getattr(importlib.import_module(module), name)


PLAIN = Variant("plain", lambda purpose: models.TextField(null=True))  # noqa: DJ001 - the baseline
OURS = [
    Variant(
        "this project",
        lambda purpose: EncryptedTokenField(purpose=purpose, null=True, blank=True),
        ours=True,
    ),
    # Skipped, with the reason, where EncryptedTokenField has no binary option yet.
    Variant(
        "binary=True",
        lambda purpose: EncryptedTokenField(purpose=purpose, binary=True, null=True, blank=True),
        ours=True,
    ),
]
FLOORS = [
    Variant(
        "unbound floor",
        lambda purpose: UnboundFloorField(purpose=purpose, null=True),
        floor=True,
    ),
    Variant(
        "row-bound floor",
        lambda purpose: RowBoundFloorField(purpose=purpose, null=True),
        floor=True,
        model_attrs=(("from_db", from_db_opening_rows),),
    ),
]
PEERS = [
    Variant(
        "fernet-encrypted-fields",
        lambda purpose: _peer("encrypted_fields.fields", "EncryptedTextField")(null=True),
        dist="django-fernet-encrypted-fields",
        needs=("SALT_KEY",),
    ),
    Variant(
        "encrypted-model-fields",
        lambda purpose: _peer("encrypted_model_fields.fields", "EncryptedTextField")(null=True),
        dist="django-encrypted-model-fields",
    ),
    Variant(
        "django-cryptography",
        lambda purpose: _peer("django_cryptography.fields", "encrypt")(models.TextField(null=True)),
        dist="django-cryptography",
    ),
]


def _slug(variant):
    return re.sub(r"[^a-z0-9]+", "_", variant.name.lower()).strip("_")


@cache
def _model(variant):
    """The variant's model, made once per process (Django warns when a model
    name is registered twice)."""
    slug = _slug(variant)
    columns = {column: variant.field(f"bench.peers.{slug}.{column}") for column in SECRETS}
    meta = type("Meta", (), {"app_label": "testapp", "db_table": f"bench_peers_{slug}"})
    meta.managed = False  # the section creates and drops the table
    return type(
        "BenchPeers" + "".join(part.title() for part in slug.split("_")),
        (models.Model,),
        {
            "__module__": __name__,
            "id": models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False),
            "label": models.CharField(max_length=50, blank=True),
            **columns,
            **dict(variant.model_attrs),
            "Meta": meta,
            "__str__": lambda self: str(self.pk),
        },
    )


def _load(variant):
    """``(model, None)``, or ``(None, why it is skipped)``. The reason never
    quotes a setting's value: only the messages of import errors (they name
    modules) and of type errors (an option this version lacks) are shown."""
    if variant.dist is None:
        where = "this project"
    else:
        try:
            where = f"{variant.dist} {importlib.metadata.version(variant.dist)}"
        except importlib.metadata.PackageNotFoundError:
            return None, f"{variant.dist} is not installed (pip install -e '.[bench]')"
    missing = [name for name in variant.needs if not hasattr(settings, name)]
    if missing:
        return None, f"{variant.dist} needs settings.{', '.join(missing)} (benchmarks/settings.py)"
    try:
        return _model(variant), None
    except (ImportError, TypeError) as error:
        # The message without the file path that Python appends to an ImportError's.
        why = f"{type(error).__name__}: {re.sub(r' [(][^()]*[)]$', '', str(error))}"
    except Exception as error:  # noqa: BLE001 - any failure skips the variant, with its type
        why = f"{type(error).__name__} (check its settings in benchmarks/settings.py)"
    return None, f"{variant.name} ({where}, Django {django.get_version()}) fails to load: {why}"


def _inserter(model, tokens):
    # Building the instances is timed too: for some fields assigning a value
    # does work (ours records it with its row binding) that saving relies on.
    def insert():
        objs = [model(label="account", token=token, other_token=other) for token, other in tokens]
        with transaction.atomic():
            model.objects.bulk_create(objs, batch_size=BATCH_SIZE)

    return insert


def _reader(model):
    def read():
        objs = list(model.objects.all())
        for obj in objs:  # touched, so that a lazy field really opens them
            obj.token  # noqa: B018 - the read is the point
            obj.other_token  # noqa: B018

    return read


def _getter(model, pks):
    def get():
        for pk in pks:
            model.objects.get(pk=pk).token  # noqa: B018

    return get


def _saver(model, pks, values):
    """Save one changed value on each of the rows, loaded once beforehand;
    every call saves values other than the last call's."""
    objs = [model.objects.get(pk=pk) for pk in pks]
    calls = [0]

    def save():
        calls[0] += 1
        for obj, value in zip(objs, values[calls[0] % len(values)], strict=True):
            obj.token = value
            obj.save()

    return save


def _check(model, tokens):
    """Untimed: every value reads back as written, and the table holds none
    in the clear (a peer that failed to open a value would hand back the
    stored string, and a fast wrong answer is no figure). Never shows one."""
    if {(obj.token, obj.other_token) for obj in model.objects.all()} != set(tokens):
        raise RuntimeError(f"peers: {model.__name__} did not read back what it wrote")
    if model is _model(PLAIN):
        return
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT token FROM {table}")  # noqa: S608 - our own table name
        stored = {
            value if isinstance(value, str) else bytes(value).decode("utf-8", "replace")
            for (value,) in cursor.fetchall()
        }
    if stored & {token for token, _other in tokens}:
        raise RuntimeError(f"peers: {model.__name__} stored a value in the clear")


OPERATIONS = (
    # (row name, unit of the plain time, the goal against the fastest peer)
    ("bulk read, both values opened", "µs/row", "below"),
    ("bulk_create (building included)", "µs/row", "at or below"),
    ("single get + open one value", "µs/op", None),
    ("single save of one changed value", "µs/op", None),
)


def _verdict(goal, ours, fastest):
    """Whether each of our variants meets ``goal`` against the fastest peer's
    ratio. "At" is equal as printed (two decimals): closer than that is noise."""
    if goal is None:
        return ""
    if fastest is None:
        return f"{goal} fastest peer: no peer ran"
    verdicts = []
    for name, ratio in ours:
        met = ratio < fastest if goal == "below" else round(ratio, 2) <= round(fastest, 2)
        verdicts.append(
            f"{name} {'yes' if met else 'NO'}" if len(ours) > 1 else ("yes" if met else "NO")
        )
    return f"{goal} fastest peer: {', '.join(verdicts)}"


def _grid(clock, results, variants):
    """One table: operations x variants, each cell the median per-round ratio to plain."""
    headers = ("vs plain TextField", "plain", *(v.name for v in variants), "fastest peer", "goal")
    cells = []
    for (operation, unit, goal), (samples, per) in zip(OPERATIONS, results, strict=True):
        plain, *others = samples
        ratios = [other.ratios_to(plain, clock) for other in others]
        row = [operation, f"{plain.timing(clock).median / per * 1e6:,.1f} {unit}"]
        row += [f"{r.median:.2f}x ±{(r.q3 - r.q1) / r.median * 50:.0f}%" for r in ratios]
        peers = [
            (r.median, v.name)
            for v, r in zip(variants, ratios, strict=True)
            if not (v.ours or v.floor)
        ]
        fastest = min(peers) if peers else None
        row.append(f"{fastest[0]:.2f}x {fastest[1]}" if fastest else "")
        ours = [(v.name, r.median) for v, r in zip(variants, ratios, strict=True) if v.ours]
        row.append(_verdict(goal, ours, fastest[0] if fastest else None))
        cells.append(tuple(row))
    what = "CPU time of this process" if clock == "cpu" else "wall time"
    return Grid(f"{what} (ratio to plain, ± half the IQR of the per-round ratios):", headers, cells)


def section(quick):
    rows_count, repeats, singles = (2_000, 3, 50) if quick else (20_000, 7, 500)
    skipped = []
    variants = []
    for variant in [*OURS, *FLOORS, *PEERS]:
        model, why = _load(variant)
        if model is None:
            skipped.append(f"skipped: {why}")
        else:
            variants.append(variant)
    models_ = [_model(PLAIN), *(_model(v) for v in variants)]

    def token():
        return secrets.token_urlsafe(PLAINTEXT_CHARS)[:PLAINTEXT_CHARS]

    tokens = [(token(), token()) for _ in range(rows_count)]
    new_values = [[token() for _ in range(singles)] for _ in range(2)]
    with connection.schema_editor() as editor:
        for model in models_:
            editor.create_model(model)
    try:
        results = [
            (
                measure(
                    [_inserter(model, tokens) for model in models_],
                    repeats=repeats,
                    before=lambda: _flush(*models_),
                ),
                rows_count,
            )
        ]
        # measure() emptied every table before each insert: fill them once more.
        _flush(*models_)
        for model in models_:
            _inserter(model, tokens)()
            _check(model, tokens)
        read = measure([_reader(model) for model in models_], repeats=repeats)
        picks = [
            [pk for pk in model.objects.order_by("?").values_list("pk", flat=True)[:singles]]
            for model in models_
        ]
        get = measure(
            [_getter(model, pks) for model, pks in zip(models_, picks, strict=True)],
            repeats=repeats,
        )
        save = measure(
            [_saver(model, pks, new_values) for model, pks in zip(models_, picks, strict=True)],
            repeats=repeats,
        )
        results = [(read, rows_count), results[0], (get, singles), (save, singles)]
        _flush(*models_)
    finally:
        with connection.schema_editor() as editor:
            for model in models_:
                editor.delete_model(model)

    versions = [
        f"{v.name} = {v.dist} {importlib.metadata.version(v.dist)}" for v in variants if v.dist
    ]
    notes = [
        f"each variant: UUID pk, a label, 2 secret columns, {rows_count:,} rows; median of "
        f"{repeats} rounds after a warm-up, every variant timed in each round",
        "this project = EncryptedTokenField bound to its purpose and the row's UUID; the peers "
        "bind a value to nothing (a value copied to another row or column still opens)",
        "floors = our envelope (binary form) in the peers' shape: opened as the row is read "
        "into a plain attribute, sealed again on every save, nothing cached or checked "
        "(benchmarks/peers_floors.py); the row-bound one opens in Model.from_db, since a "
        "column's converter does not see the row",
        *(["peers: " + "; ".join(versions)] if versions else []),
        *skipped,
        f"bulk_create: batch_size={BATCH_SIZE}, one transaction; single get/save: {singles} "
        "rows one by one (save() writes every column, as a caller's save does)",
        "CPU time leaves out waiting on the database server and for the cores, so it is "
        "the steadier figure on a shared machine; wall time is what a caller waits",
    ]
    grids = [_grid(clock, results, variants) for clock in ("cpu", "wall")]
    return Section(f"Peers: sealed fields side by side, {rows_count:,} rows", [], notes, grids)
