"""Two floors for the ``peers`` section: this project's envelope in the peers' shape.

The peers open a value in their column's converter (``from_db_value``) into a
plain attribute and seal it again on every save: nothing is cached, nothing is
tracked, nothing is bound to the row. The floors do the same with our envelope
(the binary form, through the configured keyring), so the section can tell what
the envelope costs from what our field machinery costs, and what the row binding
costs on its own:

* **unbound floor**: the value is bound to its column only, so it opens in the
  converter, exactly where the peers open theirs.
* **row-bound floor**: bound to the column and the row's primary key, as our
  fields are. Django hands a converter the value and not its row, so the value
  opens in ``Model.from_db``, once the instance has its key: about the least a
  value bound to its row by docs/FORMAT.md's context can cost to open in Django.

Neither is a field to use (no error handling, no legacy values, a plaintext on
the instance that pickles in the clear); both round-trip through the real keyring and
store only sealed bytes, which the section checks before timing them.
"""

from django.db import models

from integrations.sealed.conf import app_settings
from integrations.sealed.values import _uuid_ascii


def _as_bytes(value):
    """What the driver returned for a binary column, as ``bytes`` (psycopg 2
    returns a memoryview)."""
    return value if type(value) is bytes else bytes(value)


class UnboundFloorField(models.BinaryField):
    """Sealed for its column only; opened by the column's converter."""

    def __init__(self, *, purpose, **kwargs):
        self.context = purpose.encode("utf-8")
        super().__init__(**kwargs)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return app_settings.keyring.decrypt_binary(_as_bytes(value), self.context).decode()

    def get_db_prep_save(self, value, connection):
        if value is None:
            return None
        return app_settings.keyring.encrypt_binary(value.encode(), self.context)


# An instance attribute holding (pk, the pk formatted for the context): every
# sealed value of a row shares it, as _SealedColumn's row cache does.
_ROW_ID = "_floor_row_id"


def _row_id(d, pk):
    """The row's key formatted for the context, from the instance dict ``d``."""
    cached = d.get(_ROW_ID)
    if cached is None or cached[0] is not pk:
        cached = d[_ROW_ID] = (pk, _uuid_ascii(pk))
    return cached[1]


def _pk_attname(cls):
    """The model's primary key attname, looked up once per model."""
    pk_attname = cls.__dict__.get("_floor_pk_attname")
    if pk_attname is None:
        pk_attname = cls._floor_pk_attname = cls._meta.pk.attname
    return pk_attname


class RowBoundFloorField(models.BinaryField):
    """Sealed for its column and row; opened by :func:`open_row` in the model's
    ``from_db``. Only for models with a UUID primary key set before saving."""

    def __init__(self, *, purpose, **kwargs):
        self.row_prefix = purpose.encode("utf-8") + b"|"
        super().__init__(**kwargs)

    def contribute_to_class(self, cls, name, private_only=False):
        super().contribute_to_class(cls, name, private_only=private_only)
        # The model's (attname, row prefix) pairs, for open_row: plain tuples,
        # because reading attributes off a Field subclass once per value is slow
        # on Python 3.13 (see integrations.sealed.columns).
        if "_row_bound_floor_columns" not in cls.__dict__:
            cls._row_bound_floor_columns = []
        cls._row_bound_floor_columns.append((self.attname, self.row_prefix))

    def pre_save(self, instance, add):
        value = getattr(instance, self.attname)
        if value is None:
            return None
        d = instance.__dict__
        row_id = _row_id(d, d[_pk_attname(type(instance))])
        return app_settings.keyring.encrypt_binary(value.encode(), self.row_prefix + row_id)

    def get_db_prep_save(self, value, connection):
        return value  # sealed bytes from pre_save, as they are


def open_row(instance):
    """Open the row-bound floor values of a just-loaded instance, in place.

    Lean on purpose (the primary key's attname looked up once per model, the key
    formatted once per row) because it is a floor: every lookup shows in the ratio.
    """
    cls = type(instance)
    pk_attname = _pk_attname(cls)
    d = instance.__dict__
    decrypt = app_settings.keyring.decrypt_binary
    row_id = None
    for attname, row_prefix in cls._row_bound_floor_columns:
        raw = d[attname]
        if raw is not None:
            if row_id is None:
                row_id = _row_id(d, d[pk_attname])
            d[attname] = decrypt(_as_bytes(raw), row_prefix + row_id).decode()


_model_from_db = models.Model.from_db.__func__  # type: ignore[attr-defined]


@classmethod  # type: ignore[misc]
def from_db_opening_rows(cls, db, field_names, values):
    """``Model.from_db`` for a model with row-bound floor fields (Django's hook
    for work on every loaded row)."""
    instance = _model_from_db(cls, db, field_names, values)
    open_row(instance)
    return instance
