"""Blind indexes: keyed HMACs that let a database find equal secrets without a key.

A sealed value uses a fresh random nonce, so the database cannot compare two of
them. A blind index is a second, deterministic value stored beside it: the
HMAC-SHA256 of the (normalised) plaintext under a secret **index key**,
truncated to a fixed number of bytes. Equal values have equal indexes, so the
database can look them up and enforce uniqueness; without the index key, an
index reveals nothing about the value but its equality with other rows' values.

Keys (``docs/how-to/searchable-fields.md`` is the user-facing description):

* Index keys are versioned like encryption keys. Each version ``N`` has 32 bytes
  of root key material: an explicit ``INDEX_KEYS`` entry, or else the encryption
  key of version ``N`` (so rotating encryption keys rotates index keys too).
* Each column (purpose) gets its own key, derived with HKDF-SHA256 (RFC 5869):
  ``HKDF(salt=None, IKM=root, info=b"sealed-integrations blind index v1" +
  purpose, L=32)``. The info string separates index keys from the AES keys they
  may be derived from and from each other: two columns never share an index key.
* An index is ``"<N>:" + base64url(HMAC-SHA256(key, value)[:length])`` without
  padding: the version tells whether the row still needs re-indexing, readable
  without a key.

Only HKDF's extract step output (a one-way function of the root key) is kept in
memory here, never the root key bytes. Pure Python; nothing from Django.
"""

import hmac
from binascii import b2a_base64 as _b2a
from collections.abc import Iterable, Sequence
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from . import entries, wrapping
from .exceptions import KeyringError

__all__ = [
    "DEFAULT_INDEX_BYTES",
    "INFO_PREFIX",
    "MAX_INDEX_BYTES",
    "MIN_INDEX_BYTES",
    "BlindIndex",
    "IndexKeys",
    "extract",
]

INFO_PREFIX = b"sealed-integrations blind index v1"
DEFAULT_INDEX_BYTES = 16
MIN_INDEX_BYTES = 8
MAX_INDEX_BYTES = 32
_ZERO_SALT = bytes(32)  # RFC 5869: no salt means HashLen zero bytes
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def extract(root: bytes) -> bytes:
    """HKDF-Extract(salt=None, IKM=root): the pseudorandom key kept per version."""
    return hmac.digest(_ZERO_SALT, root, "sha256")


def encoded_length(index_bytes: int) -> int:
    """Characters of the base64url part of an index of ``index_bytes`` bytes."""
    return (index_bytes * 4 + 2) // 3


class BlindIndex:
    """The index function of one column: computes and recognises its indexes."""

    __slots__ = ("_keys", "_length", "_primary_key", "_primary_prefix", "_prefixes")

    def __init__(self, keys: Sequence[tuple[int, bytes]], length: int) -> None:
        self._keys = tuple((version, f"{version}:", key) for version, key in keys)
        self._length = length
        _version, self._primary_prefix, self._primary_key = self._keys[0]
        self._prefixes = tuple(prefix for _v, prefix, _k in self._keys)

    def _digest(self, key: bytes, value: bytes) -> str:
        mac = hmac.digest(key, value, "sha256")[: self._length]
        return _b2a(mac, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode("ascii")

    def compute(self, value: bytes) -> str:
        """The index of ``value`` under the primary index key."""
        return self._primary_prefix + self._digest(self._primary_key, value)

    def candidates(self, value: bytes) -> list[str]:
        """The index of ``value`` under every index key, primary first.

        A lookup matches any of them, so rows not re-indexed yet (a rotation
        half done) are still found.
        """
        return [prefix + self._digest(key, value) for _v, prefix, key in self._keys]

    def is_current(self, index: str) -> bool:
        """Whether ``index`` is under the primary key and of this column's length."""
        return index.startswith(self._primary_prefix) and len(index) == len(
            self._primary_prefix
        ) + encoded_length(self._length)

    @property
    def primary_prefix(self) -> str:
        return self._primary_prefix

    @property
    def current_length(self) -> int:
        """Length in characters of a current index."""
        return len(self._primary_prefix) + encoded_length(self._length)


class IndexKeys:
    """Versioned index keys, primary first; derives one :class:`BlindIndex` per column."""

    __slots__ = ("_prks", "_cache")

    def __init__(self, prks: Iterable[tuple[int, bytes]]) -> None:
        """``prks``: ``(version, extract(root))`` pairs, primary first."""
        self._prks = tuple(prks)
        if not self._prks:
            raise KeyringError("no index keys", code="missing")
        self._cache: dict[tuple[bytes, int], BlindIndex] = {}

    @classmethod
    def from_roots(cls, roots: Iterable[tuple[int, bytes]]) -> "IndexKeys":
        """Index keys from ``(version, 32-byte root key)`` pairs, primary first."""
        return cls((version, extract(root)) for version, root in roots)

    @classmethod
    def parse(cls, spec: str | Sequence[str], *, wrapper: Any = None) -> "IndexKeys":
        """Explicit index keys, written like encryption keys (``"N:<base64>"``, or
        ``"N:wrapped:<base64url>"`` entries that ``wrapper`` unwraps)."""
        return cls.from_roots(cls.parse_entries(spec, wrapper=wrapper))

    @staticmethod
    def parse_entries(spec: str | Sequence[str], *, wrapper: Any = None) -> list[tuple[int, bytes]]:
        """``(version, root key)`` pairs from the syntax :meth:`parse` accepts;
        wrapped entries are unwrapped as index keys (their own wrap purpose, then
        the data keys' one older entries were wrapped under)."""
        return entries.parse_entries(spec, wrapper=wrapper, purposes=wrapping.INDEX_KEY_PURPOSES)

    def __repr__(self) -> str:
        return f"<IndexKeys versions={list(self.versions)}>"

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(version for version, _prk in self._prks)

    @property
    def primary_version(self) -> int:
        return self._prks[0][0]

    def for_purpose(self, purpose: bytes | str, length: int = DEFAULT_INDEX_BYTES) -> BlindIndex:
        """The index function of the column ``purpose``, truncated to ``length`` bytes."""
        if isinstance(purpose, str):
            purpose = purpose.encode("utf-8")
        if isinstance(length, bool) or not MIN_INDEX_BYTES <= length <= MAX_INDEX_BYTES:
            raise ValueError(
                f"index length must be {MIN_INDEX_BYTES} to {MAX_INDEX_BYTES} bytes, not {length}"
            )
        cached = self._cache.get((purpose, length))
        if cached is None:
            info = INFO_PREFIX + purpose
            keys = [
                (version, HKDFExpand(hashes.SHA256(), 32, info).derive(prk))
                for version, prk in self._prks
            ]
            cached = self._cache[(purpose, length)] = BlindIndex(keys, length)
        return cached
