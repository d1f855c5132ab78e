"""The descriptors a sealed field installs on its model: the opened value on the
field's name, and (searchable fields) the stored string on its attname.
"""

from django.db.models.query_utils import DeferredAttribute

from .binary import _UnindexedBytes
from .values import _Unindexed, _Unsealed


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
        if type(value) is not _Unindexed and isinstance(value, (str, bytes)) and value:
            state = d.get("_state")
            if self.attname in d or state is None or not state.adding:
                if isinstance(value, bytes):  # a binary field's stored value
                    value = _UnindexedBytes(value) if type(value) is not _UnindexedBytes else value
                else:
                    value = _Unindexed(value)
        d[self.attname] = value
