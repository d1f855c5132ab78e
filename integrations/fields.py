"""The public import path of the sealed model fields (stable whatever the layout).

They live in :mod:`integrations.sealed.fields`, the sealed-values layer, which a
project can install alone (``"integrations.sealed"``).
"""

from .sealed.blind_index import BlindIndexField
from .sealed.fields import EncryptedJSONField, EncryptedTokenField, SealedValue, sealed_fields

__all__ = [
    "BlindIndexField",
    "EncryptedJSONField",
    "EncryptedTokenField",
    "SealedValue",
    "sealed_fields",
]
