"""Searchable sealed fields: the blind-index column and the lookups that use it.

``EncryptedTokenField(purpose=..., searchable=True)`` adds to its model a hidden
companion field, :class:`BlindIndexField`, named ``<name>_bidx``: a short indexed
``CharField`` holding the keyed HMAC of the value (see
:mod:`integrations.crypto.blind_index`). Why a column of its own rather than a
prefix inside the sealed column: a sealed value differs on every write, so only
a column that holds *nothing but* the deterministic index can carry a database
``UNIQUE`` constraint and a compact B-tree index. The companion is an ordinary
concrete field, so ``makemigrations`` writes it, ``dumpdata`` carries it and
queries join it like any column (the pattern of django-money's currency column).

Lookups on the sealed field are rewritten to the companion: ``exact`` becomes
``<name>_bidx IN (index under each index key)`` (one ``=`` when there is one
key), ``in`` the same for every value. Every other lookup raises ``FieldError``.

Write paths that Django routes around ``pre_save`` (``QuerySet.update()``,
``bulk_update()``, ``save(update_fields=[name])``) reach the sealed field's
``get_placeholder_sql`` (``get_placeholder`` before Django 6.1) with the UPDATE
compiler; when the UPDATE does not set the companion already, the field appends
the companion's assignment to the same statement, so the value and its index
always change together, atomically.
"""

from typing import Any

from django.core.exceptions import EmptyResultSet, FieldError
from django.db import models
from django.db.models import Case, F, Value, When
from django.db.models.expressions import Col
from django.db.models.functions import Cast
from django.db.models.lookups import Lookup
from django.db.models.sql.compiler import SQLUpdateCompiler

from ..crypto.blind_index import MAX_INDEX_BYTES, encoded_length
from .binary import UNINDEXED_TYPES
from .values import SealedValue, _Unsealed

__all__ = ["INDEX_SUFFIX", "BlindIndexField", "index_field_name"]

INDEX_SUFFIX = "_bidx"
# Room for any key version (9 digits), the colon and the longest index.
MAX_LENGTH = 10 + encoded_length(MAX_INDEX_BYTES)


def index_field_name(name: str) -> str:
    return f"{name}{INDEX_SUFFIX}"


class BlindIndexField(models.CharField):
    """The companion column of a searchable sealed field (added automatically).

    Holds ``"<key version>:<base64url HMAC>"``, or NULL when the value is NULL.
    Not editable: the sealed field computes it from the value on every write.
    """

    description = "The blind index of a searchable sealed field"

    def __init__(self, *args: Any, source: str | None = None, **kwargs: Any) -> None:
        self.source = source
        kwargs.setdefault("max_length", MAX_LENGTH)
        kwargs.setdefault("null", True)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        if kwargs.get("max_length") == MAX_LENGTH:
            del kwargs["max_length"]
        for key, default in (("null", True), ("editable", False), ("blank", True)):
            if kwargs.get(key, not default) == default:
                kwargs.pop(key, None)
            else:
                kwargs[key] = not default
        return name, "integrations.fields.BlindIndexField", args, kwargs

    def contribute_to_class(self, cls, name, private_only=False):
        # Added twice when a migration's model state lists it beside its source
        # field (which adds one too): the first one wins, as for django-money.
        if any(f.name == name for f in cls._meta.local_fields):
            return
        super().contribute_to_class(cls, name, private_only=private_only)

    @property
    def source_field(self):
        return self.model._meta.get_field(str(self.source))

    def pre_save(self, instance, add):
        return self.source_field.index_of_instance(instance)


def _lhs_index_col(lookup):
    lhs = lookup.lhs
    if not isinstance(lhs, Col):
        raise FieldError(
            f"{lookup.lookup_name!r} on a searchable sealed field works on the column "
            "itself, not on an expression."
        )
    field: Any = lhs.target
    return field, Col(lhs.alias, field.index_field, output_field=field.index_field)


def _refuse_expression(field, value):
    if hasattr(value, "resolve_expression"):
        raise FieldError(
            f"{field.label_for_errors}: a searchable sealed field can only be compared "
            "with values, not with columns, expressions or subqueries."
        )


class BlindIndexExact(Lookup):
    """``field=value``: the companion column equals one of the value's indexes."""

    lookup_name = "exact"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        field, col = _lhs_index_col(self)
        _refuse_expression(field, self.rhs)
        candidates = field.index_candidates(self.rhs)
        lhs_sql, lhs_params = compiler.compile(col)
        if len(candidates) == 1:
            return f"{lhs_sql} = %s", (*lhs_params, candidates[0])
        return f"{lhs_sql} IN ({', '.join(['%s'] * len(candidates))})", (
            *lhs_params,
            *candidates,
        )


class BlindIndexIn(Lookup):
    """``field__in=[...]``: the companion column equals an index of any value."""

    lookup_name = "in"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        field, col = _lhs_index_col(self)
        _refuse_expression(field, self.rhs)
        if isinstance(self.rhs, (str, bytes)):
            raise FieldError(f"{field.label_for_errors}__in takes a list of values")
        try:
            values = [value for value in self.rhs if value is not None]
        except TypeError:
            raise FieldError(f"{field.label_for_errors}__in takes a list of values") from None
        for value in values:
            _refuse_expression(field, value)
        candidates = list(
            dict.fromkeys(index for value in values for index in field.index_candidates(value))
        )
        if not candidates:
            raise EmptyResultSet
        lhs_sql, lhs_params = compiler.compile(col)
        return f"{lhs_sql} IN ({', '.join(['%s'] * len(candidates))})", (
            *lhs_params,
            *candidates,
        )


# -- UPDATE statements ---------------------------------------------------------


def add_index_to_update(field, value, compiler) -> None:
    """Make the UPDATE being compiled set ``field``'s companion along with it.

    Called from the sealed field's placeholder hook for each value. Does nothing
    outside an UPDATE, for values nested in expressions, or when the statement
    sets the companion already (a full ``save()``).
    """
    if not isinstance(compiler, SQLUpdateCompiler):
        return
    # The compiler asks the top-level value first, then any value nested in it
    # (bulk_update's CASE): only the first call of a statement counts.
    seen = compiler.__dict__.setdefault("_sealed_index_seen", set())
    if field.column in seen:
        return
    seen.add(field.column)
    updates = compiler.query.values  # type: ignore[attr-defined]
    index_column = field.index_field.column
    if any(target.column == index_column for target, _model, _val in updates):
        return  # a full save(): the index field is written by its own pre_save
    if not any(target.column == field.column for target, _model, _val in updates):
        return
    updates.append((field.index_field, None, _index_update_value(field, value)))


def _index_update_value(field, value):
    """The companion's new value for the sealed column's new ``value``."""
    if value is None:
        return None
    index = getattr(value, "blind_index", None)
    if index is not None:
        return index
    if value == "":
        return field.compute_index("")
    if isinstance(value, Cast):
        case = _index_update_value(field, value.source_expressions[0])
        return Cast(case, output_field=field.index_field)
    if isinstance(value, Case):
        whens = []
        for when in value.cases:
            index = _index_of_result(field, when.result)
            then = F(field.index_field.attname) if index is _KEEP else Value(index)
            whens.append(When(when.condition, then=then))
        return Case(*whens, default=F(field.index_field.attname), output_field=field.index_field)
    if isinstance(value, (SealedValue, str, bytes)):
        raise FieldError(
            f"{field.label_for_errors} is searchable: QuerySet.update() cannot set it to "
            "a value sealed elsewhere (its index would not match). Assign the plaintext "
            "on the instance and save()."
        )
    raise FieldError(
        f"{field.label_for_errors} is searchable: it can only be updated with values, "
        "not with columns or expressions (its index could not follow)."
    )


_KEEP = object()


def _index_of_result(field, result):
    """The index for one ``bulk_update()`` row, or _KEEP for an unchanged value."""
    raw = getattr(result, "value", _KEEP)
    if raw is _KEEP or raw is None:
        return None if raw is None else _KEEP
    if type(raw) is _Unsealed:
        return field.index_of_unsealed(raw)
    if raw == "":
        return field.compute_index("")
    if type(raw) in UNINDEXED_TYPES:
        raise FieldError(
            f"{field.label_for_errors} is searchable: bulk_update() cannot write a sealed "
            "value set on the instance after it was loaded (its index is not known). "
            "Assign the plaintext, or save() the instance."
        )
    return getattr(raw, "blind_index", _KEEP)
