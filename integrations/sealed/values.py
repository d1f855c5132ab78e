"""What a sealed field keeps on a model instance, value by value: the stored
sealed string (:class:`SealedValue` and its variants), plaintext waiting to be
sealed (``_Unsealed``) and the last value opened (``_Opened``).

Small types on purpose: one is built per value read or written, so each is a
``str`` or ``tuple`` subclass or a slotted class, and none ever shows a secret
in its repr or pickles one.
"""

import copy
import uuid
import weakref
from operator import itemgetter

# What the schema editor writes into existing rows for the default of a
# row-bound field (it cannot know each row); integrations.migration_defaults
# seals the default per row right after, in the same migration. It carries the
# sealed prefix but is malformed: never opened, never taken for legacy plaintext.
PENDING_DEFAULT = "$si1$pending-migration-default"


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
        sealed = self.field._seal(self.value, context)
        # A binary field seals into bytes (SealedBytes) already.
        return sealed if isinstance(sealed, bytes) else SealedValue(sealed)

    def __reduce__(self):
        # Pickling an instance (for a cache, a task queue) must not write the
        # plaintext out: send the sealed form.
        sealed = self.seal()
        return (type(sealed), (sealed,))

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
