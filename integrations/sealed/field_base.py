"""The machinery every sealed field shares: ``_SealedField``, the ``Field`` subclass
that the token and JSON fields specialise. Its per-value steps run on a
:class:`~.columns._SealedColumn` and its descriptors (:mod:`.descriptors`).
"""

import logging
import re
import uuid
import weakref
from typing import Any, cast

from django.core import checks
from django.core.exceptions import FieldError
from django.db import models
from django.db.models.fields import NOT_PROVIDED, AutoFieldMixin
from django.db.models.signals import post_init
from django.utils.functional import cached_property
from django.utils.translation import gettext as _

from ..crypto import PREFIX, MalformedValueError, NotSealedError, is_sealed
from ..crypto.format import to_binary, to_text
from . import binary as binary_storage
from .columns import _SealedColumn
from .conf import app_settings
from .descriptors import _SealedAttribute
from .formfields import KEEP, NOT_CLEARABLE
from .redaction import unmasked
from .values import (
    PENDING_DEFAULT,
    SealedValue,
    _IndexedSealed,
    _new_opened,
    _Opened,
    _Unsealed,
    _uuid_ascii,
)

logger = logging.getLogger("integrations.fields")

_BINARY_PREFIX = PREFIX.encode("ascii")
_PURPOSE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")


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

    def __init__(
        self, *args: Any, purpose: str | None = None, binary: bool = False, **kwargs: Any
    ) -> None:
        """``binary=True`` stores the sealed envelope as bytes in a binary column
        (bytea, BLOB) instead of its base64 text: a third smaller and quicker to
        open. For new columns; see :mod:`integrations.sealed.binary`."""
        self.purpose = purpose
        self.binary = bool(binary)
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
        if self.binary:
            kwargs["binary"] = True
        # The public path, whichever module defines the class: migrations written
        # before the sealed layer had its own package must not see a change.
        return name, f"integrations.fields.{type(self).__name__}", args, kwargs

    def get_internal_type(self):
        return "BinaryField" if self.binary else "TextField"

    def get_db_converters(self, connection):
        # Only binary columns convert what the database returns (column -> envelope).
        converters = super().get_db_converters(connection)
        return [*converters, binary_storage.from_column] if self.binary else converters

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
        if self.binary:
            return binary_storage.SealedBytes(
                app_settings.keyring.encrypt_binary(self._encode(value), context)
            )
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
        if not isinstance(exc, NotSealedError) or self.binary:
            # A binary column never holds legacy plaintext: anything else is damage.
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
            return binary_storage.to_column(str(value)) if self.binary else str(value)
        if self.binary and isinstance(value, binary_storage.SealedBytes):
            return bytes(value)
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
                raw.startswith(_BINARY_PREFIX if self.binary else PREFIX)  # sealed, not legacy
                and opened.context == context
                and not self._changed_in_place(opened)
                and not app_settings.keyring.needs_reseal(raw)
            ):
                return self._stored(raw)
            # Seal again: legacy text, a new primary key, an in-place edit of a
            # JSON value, or a value under an older key.
            value = opened.value
        elif not self.binary and (not isinstance(raw, str) or not raw.startswith(PREFIX)):
            # Legacy plaintext loaded from the database: seal it on the way back.
            value = self._decode_legacy(raw, instance)
        elif add and raw != PENDING_DEFAULT:
            # Inserting a value loaded from elsewhere (a copied instance): prove
            # it opens for this row before writing it.
            value = self._open_into(instance, raw)
            if not app_settings.keyring.needs_reseal(raw):
                return self._stored(raw)
        else:
            # Stored sealed and not opened: written back as it is, without
            # parsing it (SealedValue: nor on its way to the database). A
            # damaged value keeps its stored form too (reading it raises; it is
            # never taken for plaintext), and so does a pending migration default.
            return self._stored(raw)
        return self._seal_into(instance, value, context)

    def _stored(self, raw):
        """A stored value written back as it is (marked: never sealed again)."""
        if self.binary and type(raw) is not str:
            return binary_storage.SealedBytes(raw)
        return SealedValue(raw)

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
            # (a binary field's pending migration default is kept as text in memory)
            return binary_storage.to_column(str(value)) if self.binary else str(value)
        if value is None:
            return None
        if type(value) is binary_storage.SealedBytes:
            return bytes(value)
        return super().get_db_prep_save(value, connection)

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None or type(value) is SealedValue or type(value) is _IndexedSealed:
            return binary_storage.to_column(value) if self.binary else value
        if self.binary:
            return binary_storage.to_column(self._prep_any(value))
        return self._prep_any(value)

    def _prep_any(self, value):
        if isinstance(value, binary_storage.SealedBytes):
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
        if isinstance(value, (str, bytes)) and (is_sealed(value) or value == PENDING_DEFAULT):
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

    def seal_for_pk(self, value: Any, pk: Any) -> Any:
        """``value`` sealed for this column in row ``pk`` (no instance needed):
        a ``SealedValue``, or ``SealedBytes`` for a binary field."""
        return self._stored(self._seal(self._check_assignable(value), self.context_for_pk(pk)))

    def to_python(self, value):
        if self.binary:
            return self._to_python_binary(value)
        if isinstance(value, str) and not isinstance(value, SealedValue) and is_sealed(value):
            return SealedValue(value)
        return value

    def _to_python_binary(self, value):
        # A fixture carries the text form (see value_to_string): same envelope.
        if isinstance(value, (memoryview, bytearray)):
            value = bytes(value)
        if isinstance(value, binary_storage.SealedBytes):
            return value
        if isinstance(value, bytes):
            return binary_storage.SealedBytes(value) if is_sealed(bytes(value)) else value
        if isinstance(value, str) and is_sealed(value):
            return binary_storage.SealedBytes(to_binary(cast(str, value)))
        return value

    def value_from_object(self, obj):
        """The sealed form, for serializers (dumpdata) and ``model_to_dict``.

        Forms get it too, as their initial value: the form field only tells
        from it whether a value is stored (see :mod:`integrations.formfields`).
        """
        raw = getattr(obj, self.attname)
        if type(raw) is _Unsealed:
            sealed = self._seal(raw.value, self._context(obj))
            return sealed if self.binary else str(sealed)
        return raw

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        if self.binary and isinstance(value, bytes) and is_sealed(value):
            # Serializers write text: the text form of the same envelope.
            return to_text(cast(bytes, value))
        return value

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
