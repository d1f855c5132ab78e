"""Model fields that keep their values sealed in the database.

``EncryptedTokenField`` (text) and ``EncryptedJSONField`` (any JSON value) are
thin ORM adapters over :mod:`integrations.crypto`. Each column stores one sealed
string per row. How a value reaches and leaves the database:

* ``instance.<name>`` is a descriptor: reading it opens the stored value on first
  access (rows whose secrets are never read cost nothing to load) and assigning
  it records plaintext that ``save()`` seals.
* ``instance.<name>_sealed`` (the field's ``attname``, like a ForeignKey's
  ``_id``) holds what the database holds: the sealed string. Everything in
  Django that works on attnames -- ``dumpdata``/``loaddata``, ``bulk_update``,
  raw saves, ``refresh_from_db`` -- therefore moves sealed values and never a
  plaintext. ``values()`` and ``values_list()`` return sealed strings too.

Every value is bound to its **purpose** (a stable name for the column, given
explicitly so that renaming a model or field never changes it) and, when the
model assigns primary keys before insert (UUID keys), to the row's primary key.
A sealed value copied to another column or row fails to open.
"""

import copy
import json
import logging
import re
import uuid
import weakref
from operator import itemgetter
from typing import Any

import django
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, FieldError, ValidationError
from django.db import models
from django.db.models.fields import NOT_PROVIDED, AutoFieldMixin
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_save
from django.utils.functional import cached_property
from django.utils.translation import gettext as _

from ..crypto import PREFIX, CryptoError, MalformedValueError, NotSealedError, is_sealed
from ..crypto.blind_index import DEFAULT_INDEX_BYTES, MAX_INDEX_BYTES, MIN_INDEX_BYTES
from .blind_index import (
    BlindIndexExact,
    BlindIndexField,
    BlindIndexIn,
    add_index_to_update,
    index_field_name,
)
from .conf import app_settings
from .formfields import KEEP, NOT_CLEARABLE, SealedJSONFormField, SealedTokenFormField
from .jsonlimits import JSONLimitError, check_json_value
from .redaction import unmasked

__all__ = ["EncryptedJSONField", "EncryptedTokenField", "SealedValue", "sealed_fields"]

logger = logging.getLogger("integrations.fields")

_PURPOSE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")
# What the schema editor writes into existing rows for the default of a
# row-bound field (it cannot know each row); integrations.migration_defaults
# seals the default per row right after, in the same migration. It carries the
# sealed prefix but is malformed: never opened, never taken for legacy plaintext.
PENDING_DEFAULT = "$si1$pending-migration-default"

# Instance attribute caching (pk, str(pk) as bytes): every sealed field of a row
# shares it, so the key is formatted once per row, not once per value.
_ROW_ID_CACHE = "_sealed_row_id"


class SealedValue(str):
    """A string known to be sealed already; assigned as is, never sealed again.

    ``to_python`` returns one for sealed input, which is how ``loaddata`` hands
    a fixture's sealed value to the field without it being taken for plaintext;
    ``pre_save`` returns one so the value is not validated a second time on its
    way to the database. Constructing one asserts that the string is sealed.
    """

    __slots__ = ()


def _forget():
    return None


class _IndexedSealed(SealedValue):
    """A sealed value on its way to the database with its blind index.

    What a searchable field's ``pre_save`` and ``get_db_prep_value`` return, so
    that an UPDATE that does not name the index column can still set it (see
    :func:`integrations.sealed.blind_index.add_index_to_update`). Transient:
    never stored on an instance.
    """

    blind_index: str | None

    def __new__(cls, value, blind_index):
        self = super().__new__(cls, value)
        self.blind_index = blind_index
        return self


class _Unindexed(str):
    """A searchable field's stored string that reached the instance on its own.

    Assigned to ``<name>_sealed`` after the instance was built -- by hand, by
    ``refresh_from_db(fields=[name])``, by a deferred load -- so the index in
    memory (read with the row, or computed for another value) may not be its
    own. The next write opens it and indexes it (or refuses), never keeping the
    other value's index. Only :class:`_IndexedRawAttribute` makes one.
    """

    __slots__ = ()


def _uuid_ascii(value: uuid.UUID) -> bytes:
    """``str(value).encode()``, twice as fast: a row's key is formatted on every
    first read or write of the row's sealed values."""
    # 'aaaa-bbbb-cccc-dddd-eeee-ffff-gggg-hhhh' -> 'aaaabbbb-cccc-dddd-eeee-ffffgggghhhh'
    grouped = value.int.to_bytes(16).hex("-", 2).encode("ascii")
    return grouped[:4] + grouped[5:29] + grouped[30:34] + grouped[35:]


class _Unsealed:
    """Plaintext assigned to a sealed field and not sealed yet.

    ``save()`` seals it with the row binding current at save time. Writes that
    never see the instance (``bulk_update``, pickling) reach it through the weak
    reference; without one (a default the schema editor writes into existing
    rows), only column-bound fields can seal.
    """

    __slots__ = ("value", "instance", "field", "is_default", "index")

    def __init__(self, value, instance, field, is_default=False):
        self.value = value
        self.instance = weakref.ref(instance) if instance is not None else None
        self.field = field
        self.is_default = is_default
        self.index = None  # a searchable field's blind index, computed once

    def __repr__(self):
        return "<unsealed value>"

    def seal(self):
        instance = self.instance() if self.instance is not None else None
        if instance is None:
            context = self.field._unbound_context()
        else:
            context = self.field._context(instance)
        return SealedValue(self.field._seal(self.value, context))

    def __reduce__(self):
        # Pickling an instance (for a cache, a task queue) must not write the
        # plaintext out: send the sealed form.
        return (SealedValue, (self.seal(),))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        copied = _Unsealed(copy.deepcopy(self.value, memo), None, self.field, self.is_default)
        copied.instance = self.instance
        return copied


class _Opened(tuple):
    """The last value opened for one field of one instance (never pickled).

    ``(raw, value, context, text)``: a tuple subclass because it is built once
    per value read, and a tuple costs less than half an instance with slots.
    ``text`` is the plaintext bytes a JSON value was decoded from (to notice
    in-place edits); token fields keep None there, so no second copy of the
    secret stays in memory.
    """

    __slots__ = ()

    raw = property(itemgetter(0))
    value = property(itemgetter(1))
    context = property(itemgetter(2))
    text = property(itemgetter(3))

    def __repr__(self):
        return "<opened value>"

    def __reduce__(self):
        return (_forget, ())

    def __copy__(self):
        return None

    def __deepcopy__(self, memo):
        return None


# ``_new_opened(_Opened, items)``: skips type.__call__ on the read path.
_new_opened = tuple.__new__


_UNRESOLVED = object()


class _SealedColumn:
    """The work one sealed field does for every value it opens or seals.

    Kept off the ``Field`` subclass on purpose. CPython 3.13 stops caching
    attribute lookups on a class that has been modified more than 1,000 times
    (``MAX_VERSIONS_PER_CLASS``), and Django modifies ``Field`` for every field it
    creates (``Field.creation_counter += 1``: each model, each migration state,
    each ``output_field`` built by a query), which takes every subclass along.
    In a running project each ``self.<name>`` on a field then walks the class
    hierarchy (100-200 ns here against ~25 ns on a plain object), and opening or
    sealing a value took about a dozen of them. This class is never modified, so
    its lookups stay cached; the field's own methods delegate to it.
    """

    __slots__ = (
        "field",
        "attname",
        "cache_name",
        "is_text",
        "indexed",
        "purpose",
        "row_prefix",
        "pk_attname",
        "encode",
        "decode",
    )

    def __init__(self, field):
        self.field = field
        self.attname = field.attname
        self.cache_name = field.cache_name
        self.is_text = field._is_text
        self.indexed = field._indexed
        self.purpose = field._purpose_bytes
        self.row_prefix = field._row_prefix
        # Whether values are bound to the row is known once the model has its
        # primary key, after the fields are added: resolved on first use.
        self.pk_attname = _UNRESOLVED
        self.encode = field._encode
        self.decode = field._decode

    def bound_pk_attname(self):
        """The primary key's attname if values are bound to the row, else None."""
        if self.pk_attname is _UNRESOLVED:
            field = self.field
            self.pk_attname = field._pk_attname if field.binds_to_row else None
        return self.pk_attname

    def context(self, instance):
        """The associated data binding this field's value on ``instance``."""
        pk_attname = self.pk_attname
        if pk_attname is _UNRESOLVED:
            pk_attname = self.bound_pk_attname()
        if pk_attname is None:
            return self.purpose
        d = instance.__dict__
        pk = d.get(pk_attname)
        cached = d.get(_ROW_ID_CACHE)
        if cached is not None and cached[0] is pk:
            return self.row_prefix + cached[1]
        if pk is None:
            raise FieldError(
                f"{self.field.label_for_errors} is bound to the row's primary key, which is "
                "not set yet; give the model a primary key default (e.g. uuid.uuid4)."
            )
        row_id = self.row_id(pk)
        d[_ROW_ID_CACHE] = (pk, row_id)
        return self.row_prefix + row_id

    def context_for_pk(self, pk):
        """The associated data of this field's value in row ``pk``."""
        if self.bound_pk_attname() is None:
            return self.purpose
        return self.row_prefix + self.row_id(pk)

    def row_id(self, pk):
        return _uuid_ascii(pk) if type(pk) is uuid.UUID else self.field._row_id(pk)

    def open(self, instance, raw):
        """Open ``raw`` for ``instance``, remember it, and return the value.

        Runs once per value read from the database: the well-formed case goes
        straight through, everything unusual is sorted out by the field's
        ``_open_failed`` after the keyring has refused the value.
        """
        if raw == "" and self.is_text:
            return ""
        context = self.context(instance)
        try:
            plaintext = app_settings.keyring.decrypt(raw, context)
        except CryptoError as exc:
            return self.field._open_failed(instance, raw, exc)
        value = self.decode(plaintext)
        text = None if self.is_text else plaintext  # see _Opened
        instance.__dict__[self.cache_name] = _new_opened(_Opened, (raw, value, context, text))
        return value

    def seal_into(self, instance, value, context):
        """Seal ``value`` for ``instance``, store the sealed form, remember both."""
        plaintext = self.encode(value)
        sealed = SealedValue(app_settings.keyring.encrypt(plaintext, context))
        d = instance.__dict__
        d[self.attname] = sealed
        text = None if self.is_text else plaintext  # see _Opened
        d[self.cache_name] = _new_opened(_Opened, (sealed, value, context, text))
        return sealed

    def pre_save(self, instance, add):
        """The field's ``pre_save``: what goes to the database for ``instance``."""
        if self.indexed:
            return self.field._pre_save_indexed(instance, add)
        raw = instance.__dict__.get(self.attname)
        if type(raw) is _Unsealed:
            # The common case first: a value assigned since the last save.
            return self.seal_into(instance, raw.value, self.context(instance))
        return self.field._pre_save_value(instance, add, raw)


class _SealedAttribute(property):
    """Descriptor on the field's name: opens lazily, records assignments.

    A ``property`` subclass only so that ``Model.__init__`` assigns keyword
    arguments through it directly instead of looking the name up as a field.
    """

    def __init__(self, field):
        super().__init__(doc=f"The opened value of {field.name}; assign plaintext to seal it.")
        self.field = field
        self.column = field._column
        self.attname = field.attname
        self.cache_name = field.cache_name
        # The assignment fast path: plain text into a token field that keeps
        # nothing else in step (a searchable field also updates its index).
        self.text_field = field._is_text and not getattr(field, "searchable", False)

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        d = instance.__dict__
        try:
            raw = d[self.attname]
        except KeyError:
            raw = getattr(instance, self.attname)  # deferred: Django loads it
        opened = d.get(self.cache_name)
        if opened is not None and opened[0] is raw:
            return opened[1]
        if raw is None:
            return None
        if type(raw) is _Unsealed:
            return raw.value
        return self.column.open(instance, raw)

    def __set__(self, instance, value):
        # The common case inlined (a non-empty str for a token field): this runs
        # for every value given to the model's constructor.
        if type(value) is str and value and self.text_field:
            instance.__dict__[self.attname] = _Unsealed(value, instance, self.field)
        else:
            instance.__dict__[self.attname] = self.field._accept(instance, value)


class _IndexedRawAttribute(DeferredAttribute):
    """The attname descriptor (``<name>_sealed``) of a searchable field.

    Django's own for every other field. This one notices a stored string set
    after the instance was built (see :class:`_Unindexed`): what ``Model.__init__``
    sets while building the instance -- the row and its index, read together --
    stays trusted, so loading and saving a row opens nothing. Reads are served
    from the instance dict first, as for Django's (non-data) descriptor.
    """

    def __init__(self, field):
        super().__init__(field)
        self.attname = field.attname

    def __get__(self, instance, cls=None):
        if instance is None:
            return self
        try:
            return instance.__dict__[self.attname]
        except KeyError:
            return super().__get__(instance, cls)  # deferred: Django loads it

    def __set__(self, instance, value):
        d = instance.__dict__
        if type(value) is not _Unindexed and isinstance(value, str) and value:
            state = d.get("_state")
            if self.attname in d or state is None or not state.adding:
                value = _Unindexed(value)
        d[self.attname] = value


class _SealedField(models.Field):
    """Shared machinery; use EncryptedTokenField or EncryptedJSONField."""

    description = "A sealed value"
    _is_text = False
    # Whether a blind index is kept beside the value (searchable token fields):
    # checked first on the write paths so the other fields pay nothing for it.
    _indexed = False
    # The per-value work (see _SealedColumn), set by contribute_to_class. Declared
    # here so that looking it up on an instance stops at this class instead of
    # walking the whole (uncached) hierarchy before the instance dict.
    _column: "_SealedColumn" = None  # type: ignore[assignment]

    def __init__(self, *args: Any, purpose: str | None = None, **kwargs: Any) -> None:
        self.purpose = purpose
        self._purpose_bytes = purpose.encode("utf-8") if isinstance(purpose, str) else b""
        self._row_prefix = self._purpose_bytes + b"|"
        super().__init__(*args, **kwargs)

    # -- naming -----------------------------------------------------------

    def get_attname(self) -> str:
        return f"{self.name}_sealed"

    def get_attname_column(self):
        attname = self.get_attname()
        return attname, self.db_column or self.name

    def set_attributes_from_name(self, name):
        super().set_attributes_from_name(name)
        self.cache_name = f"_{self.attname}_opened"

    @property
    def label_for_errors(self) -> str:
        model = getattr(self, "model", None)
        return f"{model._meta.label}.{self.name}" if model else self.name or "sealed field"

    def contribute_to_class(self, cls, name, private_only=False):
        super().contribute_to_class(cls, name, private_only=private_only)
        self._column = _SealedColumn(self)
        setattr(cls, self.name, _SealedAttribute(self))
        if self.has_default() and not cls._meta.abstract:
            post_init.connect(self._bind_default, sender=cls)

    def _bind_default(self, instance, **kwargs):
        """Tie a default that ``Model.__init__`` filled in to its instance.

        (``get_default()`` cannot know it.) Then every write of the value --
        ``save()``, ``bulk_update()``, pickling -- seals it for that row.
        """
        raw = instance.__dict__.get(self.attname)
        if type(raw) is _Unsealed and raw.instance is None:
            raw.instance = weakref.ref(instance)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        kwargs["purpose"] = self.purpose
        # The public path, whichever module defines the class: migrations written
        # before the sealed layer had its own package must not see a change.
        return name, f"integrations.fields.{type(self).__name__}", args, kwargs

    def get_internal_type(self):
        return "TextField"

    # -- checks -----------------------------------------------------------

    def check(self, **kwargs):
        return [*super().check(**kwargs), *self._check_purpose(), *self._check_indexing()]

    def _check_purpose(self):
        if self.purpose is None:
            return [
                checks.Error(
                    _("%(field)s needs a purpose.") % {"field": type(self).__name__},
                    hint=_(
                        'Add purpose="%(purpose)s" and never change it: it is part of every '
                        "sealed value, so it must survive renames of the model and the field."
                    )
                    % {"purpose": f"{self.model._meta.label_lower}.{self.name}"},
                    obj=self,
                    id="integrations.E010",
                )
            ]
        if not isinstance(self.purpose, str) or not _PURPOSE_RE.fullmatch(self.purpose):
            return [
                checks.Error(
                    _("purpose must be 1-200 characters of letters, digits and '_.:-'."),
                    obj=self,
                    id="integrations.E012",
                )
            ]
        return []

    def _check_indexing(self):
        if self.primary_key or self.unique or self.db_index:  # type: ignore[attr-defined]
            return [
                checks.Error(
                    _(
                        "sealed fields cannot be primary keys, unique or indexed: every "
                        "seal uses a fresh random nonce, so equal secrets never compare equal."
                    ),
                    obj=self,
                    id="integrations.E013",
                )
            ]
        return []

    # -- lookups ----------------------------------------------------------

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        raise FieldError(
            f"{self.label_for_errors} does not support the lookup {lookup_name!r}: sealed "
            "values use a random nonce, so the database cannot compare secrets. Only "
            "'isnull' is supported."
        )

    def get_transform(self, lookup_name):
        raise FieldError(
            f"{self.label_for_errors} does not support the transform {lookup_name!r}: the "
            "database only sees sealed values."
        )

    # -- binding ------------------------------------------------------------

    @cached_property
    def binds_to_row(self) -> bool:
        """Whether values are bound to the row's primary key.

        True unless the database assigns the key on insert (an AutoField),
        because only then can every write know the key beforehand.
        """
        return not isinstance(self.model._meta.pk, AutoFieldMixin)

    @cached_property
    def _pk_attname(self):
        return self.model._meta.pk.attname

    def _context(self, instance):
        return self._column.context(instance)

    def _row_id(self, pk):
        """The row part of the context for a key that is not a ``uuid.UUID`` yet
        (a string from a form or the re-sealing engine, an integer key)."""
        normalized = self.model._meta.pk.to_python(pk)
        if type(normalized) is uuid.UUID:
            return _uuid_ascii(normalized)
        return str(normalized).encode("utf-8")

    def context_for_pk(self, pk: Any) -> bytes:
        """The associated-data context of this column's value in row ``pk``.

        For code that works on stored values without model instances (the
        re-sealing engine); see docs/FORMAT.md.
        """
        return self._column.context_for_pk(pk)

    def reseal_columns(self) -> list[str]:
        """Database columns the re-sealing engine writes beside this one.

        ``rotate_keys`` and ``encrypt_legacy`` open every value they re-seal;
        a field that keeps something derived from the plaintext in another
        column of the same row (a blind index) names those columns here and
        computes their values in :meth:`reseal_values`. The engine sets them in
        the same ``UPDATE`` as the new sealed value (same batch, same lock, the
        same old-value condition). None by default.
        """
        return []

    def reseal_values(self, plaintext: bytes, pk: Any) -> tuple[Any, ...]:
        """The values of :meth:`reseal_columns` for a re-sealed row, in order.

        ``plaintext`` is the value's bytes (never log or keep it); ``pk`` is the
        row's key as the engine read it (on PostgreSQL a UUID key arrives as
        text). Raise ``ValueError`` to report the row as unreadable instead.
        """
        return ()

    def plaintext_from_legacy(self, raw: str) -> bytes:
        """The bytes to seal for a legacy unsealed stored value (raises ValueError)."""
        self._decode_legacy_text(raw)
        return raw.encode("utf-8", "surrogatepass")

    def _decode_legacy_text(self, raw):
        return raw

    def _unbound_context(self):
        """The context for a write that cannot see the row."""
        if self.binds_to_row:
            raise FieldError(
                f"{self.label_for_errors}: a plaintext value cannot be sealed here because "
                "the field is bound to each row's primary key and this write does not know "
                "the row (QuerySet.update(), or bulk_update() of a value assigned before "
                "the primary key was set). Assign the value on the instance and call "
                "save() or bulk_update()."
            )
        return self._purpose_bytes

    def _where(self, instance):
        return f"{self.label_for_errors} pk={instance.pk}"

    # -- sealing and opening --------------------------------------------------

    def _encode(self, value):
        raise NotImplementedError

    def _decode(self, plaintext):
        raise NotImplementedError

    def _check_assignable(self, value):
        return value

    def _seal(self, value, context):
        return app_settings.keyring.encrypt(self._encode(value), context)

    def _open_into(self, instance, raw):
        """Open ``raw`` for ``instance``, remember it, and return the value."""
        return self._column.open(instance, raw)

    def _open_failed(self, instance, raw, exc):
        """What reading ``raw`` gives when the keyring could not open it."""
        if raw == PENDING_DEFAULT:
            raise MalformedValueError(
                "a migration default was never sealed for this row (the migration ran "
                "without `manage.py migrate`); see integrations.migration_defaults"
            ).with_location(self._where(instance)) from None
        if not isinstance(exc, NotSealedError):
            raise exc.with_location(self._where(instance)) from None
        value = self._read_legacy(instance, raw, exc)
        instance.__dict__[self.cache_name] = _new_opened(
            _Opened, (raw, value, self._context(instance), None)
        )
        return value

    def _read_legacy(self, instance, raw, exc):
        if not app_settings.ALLOW_PLAINTEXT_READS:
            raise NotSealedError(
                "stored value is not sealed (legacy plaintext); run `manage.py "
                "encrypt_legacy`, or set INTEGRATIONS['ALLOW_PLAINTEXT_READS'] while "
                "migrating"
            ).with_location(self._where(instance)) from None
        logger.warning(
            "Read an unsealed legacy value of %s; run `manage.py encrypt_legacy`.",
            self._where(instance),
        )
        return self._decode_legacy(raw, instance)

    def _decode_legacy(self, raw, instance):
        return raw

    def _accept(self, instance, value):
        """What the attname holds after ``instance.<name> = value``."""
        if value is None:
            return None
        if isinstance(value, SealedValue):
            return str(value)
        value = self._check_assignable(value)
        if value == "" and self._is_text:
            return ""
        return _Unsealed(value, instance, self)

    def pre_save(self, instance, add):
        return self._column.pre_save(instance, add)

    def _pre_save_indexed(self, instance, add):
        raise NotImplementedError  # only searchable EncryptedTokenFields index

    def _pre_save_value(self, instance, add, raw):
        """``pre_save`` once any blind index is taken care of."""
        if type(raw) is _Unsealed:
            return self._seal_into(instance, raw.value, self._context(instance))
        if raw is None or (raw == "" and self._is_text):
            return raw
        context = self._context(instance)
        opened = instance.__dict__.get(self.cache_name)
        if opened is not None and opened.raw is raw:
            if (
                raw.startswith(PREFIX)  # opened from a sealed value, not legacy text
                and opened.context == context
                and not self._changed_in_place(opened)
                and not app_settings.keyring.needs_reseal(raw)
            ):
                return SealedValue(raw)
            # Seal again: legacy text, a new primary key, an in-place edit of a
            # JSON value, or a value under an older key.
            value = opened.value
        elif not isinstance(raw, str) or not raw.startswith(PREFIX):
            # Legacy plaintext loaded from the database: seal it on the way back.
            value = self._decode_legacy(raw, instance)
        elif add and raw != PENDING_DEFAULT:
            # Inserting a value loaded from elsewhere (a copied instance): prove
            # it opens for this row before writing it.
            value = self._open_into(instance, raw)
            if not app_settings.keyring.needs_reseal(raw):
                return SealedValue(raw)
        else:
            # Stored sealed and not opened: written back as it is, without
            # parsing it (SealedValue: nor on its way to the database). A
            # damaged value keeps its stored form too (reading it raises; it is
            # never taken for plaintext), and so does a pending migration default.
            return SealedValue(raw)
        return self._seal_into(instance, value, context)

    def _seal_into(self, instance, value, context):
        """Seal ``value`` for ``instance``, store the sealed form, remember both."""
        return self._column.seal_into(instance, value, context)

    def _changed_in_place(self, opened):
        return False

    def get_db_prep_save(self, value, connection):
        # What pre_save returned, sealed already. Django's version would first
        # look for an ``as_sql`` attribute on it (a failed lookup per value), and
        # a str subclass sent to the driver costs sqlite3 two failed adapter
        # lookups per value: the database gets an exact str (a copy is cheaper).
        if type(value) is SealedValue:
            return str(value)
        if value is None:
            return None
        return super().get_db_prep_save(value, connection)

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None or type(value) is SealedValue or type(value) is _IndexedSealed:
            return value
        if self._indexed:
            return self._prep_indexed(value, self._prep(value))
        return self._prep(value)

    def _prep_indexed(self, value, prepared):
        raise NotImplementedError  # only searchable EncryptedTokenFields index

    def _prep(self, value):
        """``get_db_prep_value`` for anything but a value sealed already."""
        if value == "" and self._is_text:
            return value
        if type(value) is _Unsealed:
            if value.is_default and value.instance is None and self.binds_to_row:
                # The schema editor filling existing rows (AddField, AlterField
                # to NOT NULL): see integrations.migration_defaults.
                return PENDING_DEFAULT
            return value.seal()
        if isinstance(value, str) and (is_sealed(value) or value == PENDING_DEFAULT):
            return value  # already sealed (or waiting to be): never seal twice
        # Plaintext with no instance: QuerySet.update(), a migration default.
        return self._seal(self._check_assignable(value), self._unbound_context())

    def get_default(self):
        if self.default is NOT_PROVIDED:  # has_default(), inlined: once per field per instance
            # None, or "" for a text field without null: Django's own cached answer.
            return self._get_default()  # type: ignore[attr-defined]
        value = super().get_default()
        if value is None or (value == "" and self._is_text):
            return value
        return _Unsealed(value, None, self, is_default=True)

    def plain_default(self) -> Any:
        """The default as plaintext (``get_default()`` wraps it for sealing)."""
        return super().get_default()

    def seal_for_pk(self, value: Any, pk: Any) -> SealedValue:
        """``value`` sealed for this column in row ``pk`` (no instance needed)."""
        return SealedValue(self._seal(self._check_assignable(value), self.context_for_pk(pk)))

    def to_python(self, value):
        if isinstance(value, str) and not isinstance(value, SealedValue) and is_sealed(value):
            return SealedValue(value)
        return value

    def value_from_object(self, obj):
        """The sealed form, for serializers (dumpdata) and ``model_to_dict``.

        Forms get it too, as their initial value: the form field only tells
        from it whether a value is stored (see :mod:`integrations.formfields`).
        """
        raw = getattr(obj, self.attname)
        if type(raw) is _Unsealed:
            return str(self._seal(raw.value, self._context(obj)))
        return raw

    def value_to_string(self, obj):
        return self.value_from_object(obj)

    # -- forms ----------------------------------------------------------------

    def _cleared_value(self):
        """What ticking "clear" in a form stores, or NOT_CLEARABLE."""
        return None if self.null else NOT_CLEARABLE

    def formfield(self, **kwargs):
        """A write-only form field: see :mod:`integrations.formfields`."""
        return super().formfield(**{"cleared_value": self._cleared_value(), **kwargs})

    def save_form_data(self, instance, data):
        if data is KEEP:
            return  # left blank: the stored value stays as it is
        super().save_form_data(instance, unmasked(data))


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
        elif type(raw) is _Unindexed:
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
        plain = str.__str__(raw)
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
        return _IndexedSealed(sealed, index)

    def _prep_indexed(self, value, prepared_value):
        if isinstance(prepared_value, str) and prepared_value != PENDING_DEFAULT:
            # QuerySet.update(field=plaintext) on a column-bound field, or a
            # value assigned before bulk_update(): index what was just sealed.
            if type(value) is _Unsealed:
                return _IndexedSealed(prepared_value, self.index_of_unsealed(value))
            if isinstance(value, str) and not is_sealed(value):
                return _IndexedSealed(prepared_value, self.compute_index(value))
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


class EncryptedJSONField(_SealedField):
    """Any JSON value (dict, list, str, number, bool) sealed in a TEXT column.

    Python ``None`` is stored as NULL; JSON ``null`` inside a value round-trips.
    Mutating a value in place (``obj.data["key"] = ...``) is saved like
    Django's JSONField: ``save()`` notices and seals the new content.
    """

    description = "A sealed JSON value"
    empty_strings_allowed = False
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def __init__(
        self,
        *args: Any,
        encoder: type[json.JSONEncoder] | None = None,
        decoder: type[json.JSONDecoder] | None = None,
        **kwargs: Any,
    ) -> None:
        if encoder is not None and not callable(encoder):
            raise ValueError("The encoder parameter must be a callable object.")
        if decoder is not None and not callable(decoder):
            raise ValueError("The decoder parameter must be a callable object.")
        self.encoder = encoder
        self.decoder = decoder
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.encoder is not None:
            kwargs["encoder"] = self.encoder
        if self.decoder is not None:
            kwargs["decoder"] = self.decoder
        return name, path, args, kwargs

    def _dumps(self, value):
        return json.dumps(value, cls=self.encoder, ensure_ascii=False, separators=(",", ":"))

    def _check_assignable(self, value):
        """Refuse values nested too deeply (see :mod:`integrations.jsonlimits`).

        NUL characters are allowed: the database only sees the sealed string.
        """
        try:
            return check_json_value(value, allow_nul=True)
        except JSONLimitError as exc:
            raise JSONLimitError(f"{self.label_for_errors}: {exc}", exc.code) from None

    def validate(self, value, model_instance):
        # full_clean() sees the attname: a value assigned, or opened and edited
        # in place, is checked here (a ValidationError) before save() seals it.
        opened = model_instance.__dict__.get(self.cache_name) if model_instance else None
        pending: tuple[Any, ...]
        if type(value) is _Unsealed:
            pending = (value.value,)
        elif opened is not None and opened.raw == value:
            pending = (opened.value,)
        else:
            pending = ()
        for item in pending:
            try:
                self._check_assignable(item)
            except JSONLimitError as exc:
                raise ValidationError(str(exc), code=exc.code) from None
        super().validate(value, model_instance)

    def _encode(self, value):
        self._check_assignable(value)  # in-place edits are only seen here
        try:
            return self._dumps(value).encode("utf-8", "surrogatepass")
        except (TypeError, ValueError) as exc:
            # The message of json's TypeError names a type, never a value.
            raise TypeError(
                f"{self.label_for_errors}: value is not JSON serializable: {exc}"
            ) from None

    def _decode(self, plaintext):
        return json.loads(plaintext.decode("utf-8", "surrogatepass"), cls=self.decoder)

    def _decode_legacy(self, raw, instance):
        try:
            return self._decode_legacy_text(raw)
        except ValueError:
            raise NotSealedError("stored value is neither sealed nor valid JSON").with_location(
                self._where(instance)
            ) from None

    def _decode_legacy_text(self, raw):
        return json.loads(raw, cls=self.decoder)

    def _changed_in_place(self, opened):
        if opened.text is None:
            return True
        return self._dumps(opened.value).encode("utf-8", "surrogatepass") != opened.text

    def formfield(self, **kwargs):
        return super().formfield(
            **{
                "form_class": SealedJSONFormField,
                "encoder": self.encoder,
                "decoder": self.decoder,
                **kwargs,
            }
        )


def sealed_fields(model: type[models.Model]) -> list[_SealedField]:
    """The sealed fields a model stores in its own table."""
    return [f for f in model._meta.local_concrete_fields if isinstance(f, _SealedField)]
