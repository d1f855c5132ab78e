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

from django.db import models

from .field_base import _SealedField
from .json_field import EncryptedJSONField
from .token_field import EncryptedTokenField
from .values import PENDING_DEFAULT, SealedValue

__all__ = [
    "PENDING_DEFAULT",
    "EncryptedJSONField",
    "EncryptedTokenField",
    "SealedValue",
    "sealed_fields",
]


def sealed_fields(model: type[models.Model]) -> list[_SealedField]:
    """The sealed fields a model stores in its own table."""
    return [f for f in model._meta.local_concrete_fields if isinstance(f, _SealedField)]
