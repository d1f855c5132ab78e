"""``EncryptedTokenField``: a sealed text value, optionally searchable through a
blind index.
"""

from typing import Any

import django
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, FieldError, ValidationError
from django.db import models
from django.db.models.signals import pre_save
from django.utils.translation import gettext as _

from ..crypto import CryptoError, is_sealed
from ..crypto.blind_index import DEFAULT_INDEX_BYTES, MAX_INDEX_BYTES, MIN_INDEX_BYTES
from .binary import UNINDEXED_TYPES, _IndexedSealedBytes
from .blind_index import (
    BlindIndexExact,
    BlindIndexField,
    BlindIndexIn,
    add_index_to_update,
    index_field_name,
)
from .conf import app_settings
from .descriptors import _IndexedRawAttribute
from .field_base import _SealedField
from .formfields import SealedTokenFormField
from .values import PENDING_DEFAULT, _IndexedSealed, _Unsealed


class EncryptedTokenField(_SealedField):
    """A text secret (an OAuth token, an API key) sealed in a TEXT column.

    ``None`` is stored as NULL and ``""`` as an empty string; every other value
    is sealed.
    """

    description = "A sealed text secret"
    _is_text = True
    # What django-stubs types ``instance.<name>`` as (the descriptor's value).
    _pyi_private_set_type: str | None
    _pyi_private_get_type: str | None

    def __init__(
        self,
        *args: Any,
        searchable: bool = False,
        normalize: Any = None,
        index_bytes: int = DEFAULT_INDEX_BYTES,
        **kwargs: Any,
    ) -> None:
        """``searchable=True`` keeps a blind index beside the value (see
        :mod:`integrations.sealed.blind_index`): exact and ``__in`` lookups,
        ``unique=True`` and ``UniqueConstraint`` then work, on the index column.
        ``normalize`` (a module-level function, str -> str) is applied before
        indexing only, never to the stored value; ``index_bytes`` is the HMAC
        truncation (8-32, default 16).
        """
        self.searchable = self._indexed = bool(searchable)
        self.normalize = normalize
        self.index_bytes = index_bytes
        self.index_unique = False
        self._index_field: Any = None  # the companion BlindIndexField, once on a model
        if normalize is not None and not callable(normalize):
            raise TypeError("normalize must be a callable taking and returning a str")
        if isinstance(index_bytes, bool) or not (
            isinstance(index_bytes, int) and MIN_INDEX_BYTES <= index_bytes <= MAX_INDEX_BYTES
        ):
            raise ValueError(f"index_bytes must be {MIN_INDEX_BYTES} to {MAX_INDEX_BYTES}")
        if self.searchable:
            # The database compares the index column, never the sealed one:
            # uniqueness and indexing move there (the sealed column gets neither).
            self.index_unique = bool(kwargs.pop("unique", False))
            kwargs.pop("db_index", None)
            # Values set on the attname after loading are indexed when written.
            self.descriptor_class = _IndexedRawAttribute
        elif normalize is not None or index_bytes != DEFAULT_INDEX_BYTES:
            raise TypeError("normalize= and index_bytes= need searchable=True")
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.searchable:
            kwargs["searchable"] = True
            if self.index_unique:
                kwargs["unique"] = True
            if self.normalize is not None:
                kwargs["normalize"] = self.normalize
            if self.index_bytes != DEFAULT_INDEX_BYTES:
                kwargs["index_bytes"] = self.index_bytes
        return name, path, args, kwargs

    def contribute_to_class(self, cls, name, private_only=False):
        super().contribute_to_class(cls, name, private_only=private_only)
        if self.searchable:
            self._add_index_field(cls)

    def _add_index_field(self, cls):
        index_name = index_field_name(self.name)
        index_field = next((f for f in cls._meta.local_fields if f.name == index_name), None)
        if cls.__module__ == "__fake__":
            # A migration's historical model: its state lists the index field on
            # its own (added by its own AddField, so that SQLite's table rebuild
            # for this field does not create the index column early).
            self._index_field = index_field
            return
        if index_field is None:
            index_field = BlindIndexField(
                source=self.name,
                unique=self.index_unique,
                db_index=not self.index_unique,
                verbose_name=self.verbose_name,
            )
            cls.add_to_class(index_name, index_field)
        self._index_field = index_field
        # UniqueConstraint(fields=[..., name]) means: unique on the index column.
        constraints = []
        for constraint in cls._meta.constraints:
            if isinstance(constraint, models.UniqueConstraint) and self.name in constraint.fields:
                _path, c_args, c_kwargs = constraint.deconstruct()
                c_kwargs["fields"] = tuple(
                    index_name if f == self.name else f for f in constraint.fields
                )
                constraint = models.UniqueConstraint(*c_args, **c_kwargs)
            constraints.append(constraint)
        cls._meta.constraints = constraints
        if not cls._meta.abstract:
            pre_save.connect(self._index_raw_save, sender=cls)

    def _index_raw_save(self, sender, instance, raw=False, **kwargs):
        """``loaddata`` saves raw, past ``pre_save``: index the fixture's value here.

        The fixture's own index (if any) is not trusted: it may come from other
        keys or an older normalisation.
        """
        if not raw:
            return
        d = instance.__dict__
        stored = d.get(self.attname)
        if stored is None:
            d[self.index_field.attname] = None
        elif stored == "":
            d[self.index_field.attname] = self.compute_index("")
        elif type(stored) is _Unsealed:
            d[self.index_field.attname] = self.index_of_unsealed(stored)
        else:
            value = self._open_into(instance, stored)
            d[self.index_field.attname] = self.compute_index(value)

    # -- blind index ----------------------------------------------------------

    @property
    def index_field(self) -> Any:
        """The companion :class:`BlindIndexField` (``<name>_bidx``) of a searchable field."""
        if self._index_field is None and self.searchable and hasattr(self, "model"):
            try:
                self._index_field = self.model._meta.get_field(index_field_name(self.name))
            except FieldDoesNotExist:
                raise FieldError(
                    f"{self.label_for_errors} is searchable but its model has no "
                    f"{index_field_name(self.name)} field (a migration is missing it)"
                ) from None
        return self._index_field

    @property
    def blind_index(self):
        """This column's index function (under the current index keys)."""
        return app_settings.index_keys.for_purpose(self._purpose_bytes, self.index_bytes)

    def _index_input(self, value):
        if not isinstance(value, str):
            raise FieldError(
                f"{self.label_for_errors} is compared with str values, not {type(value).__name__}"
            )
        if self.normalize is not None:
            value = self.normalize(value)
        return value.encode("utf-8", "surrogatepass")

    def compute_index(self, value: str) -> str:
        """The blind index of ``value`` under the primary index key."""
        return self.blind_index.compute(self._index_input(value))

    def index_candidates(self, value: str) -> list[str]:
        """The index of ``value`` under every index key (what a lookup matches)."""
        return self.blind_index.candidates(self._index_input(value))

    def index_of_unsealed(self, raw):
        if raw.index is None:
            raw.index = self.compute_index(raw.value)
        return raw.index

    def index_of_instance(self, instance):
        """The index to store for ``instance``'s value (cached on the instance).

        An assigned value is indexed once; a stored value keeps its stored index
        unless it was opened and its index is under an older key, or it has
        none (a row from before the field was searchable): then it is opened.
        """
        d = instance.__dict__
        raw = d.get(self.attname)
        index_attname = self.index_field.attname
        if raw is None:
            index = None
        elif type(raw) is _Unsealed:
            index = self.index_of_unsealed(raw)
        elif raw == "":
            index = self.compute_index("")
        elif type(raw) in UNINDEXED_TYPES:
            index = self._index_of_reassigned(instance, raw)
        else:
            index = d.get(index_attname)
            opened = d.get(self.cache_name)
            if index is None or not self.blind_index.is_current(index):
                if opened is not None and opened.raw is raw:
                    index = self.compute_index(opened.value)
                elif raw != PENDING_DEFAULT:
                    try:
                        index = self.compute_index(self._open_into(instance, raw))
                    except CryptoError:
                        pass  # unreadable: saving other columns must still work;
                        # the index stays as stored and rotate_keys reports the row
        d[index_attname] = index
        return index

    def _index_of_reassigned(self, instance, raw):
        """The index of a stored string set on the instance after it was built
        (see :class:`_Unindexed`): opened and indexed, the attname then holding
        it as a plain ``str`` again. One that cannot be opened raises: writing
        it beside an index of another value would hide it from lookups."""
        plain = bytes(raw) if isinstance(raw, bytes) else str.__str__(raw)
        value = self._open_into(instance, plain)  # raises CryptoError
        instance.__dict__[self.attname] = plain
        return self.compute_index(value)

    def _accept(self, instance, value):
        accepted = super()._accept(instance, value)
        if self.searchable:
            if type(accepted) is _Unsealed:
                index = self.index_of_unsealed(accepted)
            elif accepted == "":
                index = self.compute_index("")
            else:
                index = None  # None, or a sealed value: indexed when saved
            instance.__dict__[self.index_field.attname] = index
        return accepted

    def _pre_save_indexed(self, instance, add):
        index = self.index_of_instance(instance)
        sealed = self._pre_save_value(instance, add, instance.__dict__.get(self.attname))
        if sealed is None:
            return None
        if isinstance(sealed, bytes):
            return _IndexedSealedBytes(sealed, index)
        return _IndexedSealed(sealed, index)

    def _prep_indexed(self, value, prepared_value):
        if isinstance(prepared_value, (str, bytes)) and prepared_value != PENDING_DEFAULT:
            # QuerySet.update(field=plaintext) on a column-bound field, or a
            # value assigned before bulk_update(): index what was just sealed.
            indexed = _IndexedSealedBytes if isinstance(prepared_value, bytes) else _IndexedSealed
            if type(value) is _Unsealed:
                return indexed(prepared_value, self.index_of_unsealed(value))
            if isinstance(value, str) and not is_sealed(value):
                return indexed(prepared_value, self.compute_index(value))
        return prepared_value

    @property
    def get_placeholder_sql(self):
        """Only searchable fields have this hook (Django looks it up with getattr)."""
        if not self.searchable:
            raise AttributeError("get_placeholder_sql")
        return self._placeholder_sql

    def _placeholder_sql(self, value, compiler, connection):
        add_index_to_update(self, value, compiler)
        if hasattr(value, "as_sql"):
            return compiler.compile(value)
        return "%s", [value]

    if django.VERSION < (6, 1):

        @property
        def get_placeholder(self):
            if not self.searchable:
                raise AttributeError("get_placeholder")
            return self._placeholder

        def _placeholder(self, value, compiler, connection):
            add_index_to_update(self, value, compiler)
            return "%s"

    def get_lookup(self, lookup_name):
        if self.searchable:
            if lookup_name == "exact":
                return BlindIndexExact
            if lookup_name == "in":
                return BlindIndexIn
            if lookup_name != "isnull":
                raise FieldError(
                    f"{self.label_for_errors} does not support the lookup {lookup_name!r}: "
                    "a searchable sealed field is compared through its blind index, which "
                    "only tells equal values apart. Supported: 'exact', 'in', 'isnull'."
                )
        return super().get_lookup(lookup_name)

    def _check_indexing(self):
        if not self.searchable:
            return [*super()._check_indexing(), *self._check_constraints()]
        if self.primary_key:
            return super()._check_indexing()
        return []

    def _check_constraints(self):
        model = getattr(self, "model", None)
        if model is None:
            return []
        named = [
            c.name
            for c in model._meta.constraints
            if isinstance(c, models.UniqueConstraint) and self.name in c.fields
        ]
        if not named:
            return []
        return [
            checks.Error(
                _(
                    "the unique constraint %(name)s names a sealed field that is not "
                    "searchable: sealed values never compare equal."
                )
                % {"name": named[0]},
                hint=_("Make the field searchable=True to enforce uniqueness on its blind index."),
                obj=self,
                id="integrations.E013",
            )
        ]

    def validate(self, value, model_instance):
        """``full_clean()`` (forms, the admin) reports a duplicate before the database does.

        It matches every index key's form, so a duplicate is caught even while a
        rotation is half done (see the how-to on searchable fields).
        """
        super().validate(value, model_instance)
        if not (self.searchable and self.index_unique and model_instance is not None):
            return
        index = self.index_of_instance(model_instance)
        if index is None:
            return
        raw = model_instance.__dict__.get(self.attname)
        plain = raw.value if type(raw) is _Unsealed else None
        candidates = self.index_candidates(plain) if plain is not None else [index]
        others = type(model_instance)._default_manager.filter(
            **{f"{self.index_field.attname}__in": candidates}
        )
        if model_instance.pk is not None and not model_instance._state.adding:
            others = others.exclude(pk=model_instance.pk)
        if others.exists():
            raise ValidationError(
                self.error_messages["unique"],
                code="unique",
                params={
                    "model_name": model_instance._meta.verbose_name,
                    "field_label": self.verbose_name,
                },
            )

    def _check_assignable(self, value):
        if not isinstance(value, str):
            raise TypeError(f"{self.label_for_errors} takes str values, not {type(value).__name__}")
        return value

    def _encode(self, value):
        return value.encode("utf-8", "surrogatepass")

    def _decode(self, plaintext):
        return plaintext.decode("utf-8", "surrogatepass")

    def _cleared_value(self):
        if not self.null and self.blank:
            return ""
        return super()._cleared_value()

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": SealedTokenFormField, **kwargs})
