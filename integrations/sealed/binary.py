"""The binary storage of sealed fields (``binary=True``): the same envelope as
the text form, stored as bytes in a binary column (bytea, BLOB) without base64.

docs/FORMAT.md specifies the byte layout. On an instance a binary field keeps
what the column holds -- ``bytes`` in the binary form -- except for the two
special values every sealed field shares, which stay ``str`` in memory so that
the field machinery treats both storages alike: ``""`` (an empty token, stored
as empty bytes) and :data:`PENDING_DEFAULT`. The conversion happens at the
column's edge, in the pair of functions below, and nowhere else.
"""

from ..crypto.format import to_binary
from .values import PENDING_DEFAULT, _IndexedSealed, _Unindexed

_PENDING_BYTES = PENDING_DEFAULT.encode("ascii")


class SealedBytes(bytes):
    """Bytes known to be sealed already (the binary twin of ``SealedValue``)."""

    __slots__ = ()


class _IndexedSealedBytes(SealedBytes):
    """A binary sealed value on its way to the database with its blind index
    (the twin of ``_IndexedSealed``)."""

    blind_index: str | None

    def __new__(cls, value, blind_index):
        self = super().__new__(cls, value)
        self.blind_index = blind_index
        return self


class _UnindexedBytes(bytes):
    """A searchable binary field's stored value set after the instance was built
    (the twin of ``_Unindexed``)."""

    __slots__ = ()


UNINDEXED_TYPES = (_Unindexed, _UnindexedBytes)


def to_column(value):
    """What the binary column receives for a value ready for the database."""
    if type(value) is SealedBytes:
        return bytes(value)  # exact bytes: drivers adapt them fastest
    if isinstance(value, str):
        if value == "":
            return b""
        if value == PENDING_DEFAULT:
            return _PENDING_BYTES
        if isinstance(value, _IndexedSealed):
            return _IndexedSealedBytes(to_binary(str.__str__(value)), value.blind_index)
        return to_binary(value)  # a text-form sealed value (raises if it is not one)
    return value


def from_column(value, expression=None, connection=None):
    """What a binary field keeps on the instance for what its column returned."""
    if value is None:
        return None
    if type(value) is not bytes:
        value = bytes(value)  # memoryview (psycopg 2), bytearray
    if not value:
        return ""
    if value == _PENDING_BYTES:
        return PENDING_DEFAULT
    return value
