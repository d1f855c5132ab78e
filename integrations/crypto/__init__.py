"""Authenticated encryption for stored secrets. Pure Python: no Django here.

Public names: :class:`Keyring`, :class:`IndexKeys` (blind indexes),
:func:`is_sealed`, :func:`generate_key` and the exception hierarchy rooted at
:class:`CryptoError`. ``docs/FORMAT.md`` specifies the sealed format.
"""

from .blind_index import BlindIndex, IndexKeys
from .exceptions import (
    CryptoError,
    DecryptionError,
    KeyringError,
    MalformedValueError,
    MissingKeysError,
    NotSealedError,
    RetiredKeyVersionError,
    UnknownKeyVersionError,
)
from .format import PREFIX, is_sealed
from .keyring import KEY_SIZE, Keyring, generate_key

__all__ = [
    "KEY_SIZE",
    "PREFIX",
    "BlindIndex",
    "CryptoError",
    "DecryptionError",
    "IndexKeys",
    "KeyringError",
    "Keyring",
    "MalformedValueError",
    "MissingKeysError",
    "NotSealedError",
    "RetiredKeyVersionError",
    "UnknownKeyVersionError",
    "generate_key",
    "is_sealed",
]
