"""The per-value work of a sealed field: the row's context, opening and sealing."""

import uuid

from django.core.exceptions import FieldError

from ..crypto import CryptoError
from .binary import SealedBytes
from .conf import app_settings
from .values import SealedValue, _new_opened, _Opened, _Unsealed, _uuid_ascii

# Instance attribute caching (pk, str(pk) as bytes): every sealed field of a row
# shares it, so the key is formatted once per row, not once per value.
_ROW_ID_CACHE = "_sealed_row_id"


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
        "binary",
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
        self.binary = field.binary

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
            if self.binary:
                plaintext = app_settings.keyring.decrypt_binary(raw, context)
            else:
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
        sealed: SealedValue | SealedBytes
        if self.binary:
            sealed = SealedBytes(app_settings.keyring.encrypt_binary(plaintext, context))
        else:
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
