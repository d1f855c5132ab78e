"""A versioned set of AES-256-GCM keys: the primary seals, every key opens.

Modelled on ``cryptography.fernet.MultiFernet``: the keyring is immutable once
built, holds one ``AESGCM`` object per key (building one costs several times more
than using it), and never exposes key bytes again after construction.
"""

import base64
import os
from binascii import a2b_base64 as _a2b
from binascii import b2a_base64 as _b2a
from collections.abc import Iterable, Sequence
from typing import Any, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import entries, wrapping
from . import format as sealed_format
from .blind_index import IndexKeys, extract
from .exceptions import (
    DecryptionError,
    KeyringError,
    MissingKeysError,
    RetiredKeyVersionError,
    UnknownKeyVersionError,
)

KEY_SIZE = entries.KEY_SIZE
_urandom = os.urandom
_FROM_URLSAFE = sealed_format._FROM_URLSAFE
_TO_URLSAFE = sealed_format._TO_URLSAFE
_UNUSED_ONE_PAD = sealed_format._UNUSED_ONE_PAD
_UNUSED_TWO_PAD = sealed_format._UNUSED_TWO_PAD


def generate_key(version: int) -> str:
    """A new random key as a ready ``"N:<base64url>"`` keyring entry."""
    version = _check_version(version)
    return f"{version}:{base64.urlsafe_b64encode(os.urandom(KEY_SIZE)).decode('ascii')}"


def _check_version(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 0 < version < 10**9:
        raise KeyringError(
            "a key version must be an integer from 1 to 999999999", code="bad_version"
        )
    return version


class Keyring:
    """Seals with the primary key (the first listed), opens with any key.

    ``context`` binds a sealed value to where it is stored (a column's purpose,
    a row's primary key): a value opened with another context fails as if it
    had been tampered with.
    """

    __slots__ = (
        "_ciphers",
        "_open_by_header",
        "_primary_version",
        "_primary_cipher",
        "_primary_header",
        "_versions",
        "_min_version",
        "_index_prks",
    )

    def __init__(
        self, keys: Iterable[tuple[int, bytes]], *, min_decryption_version: int | None = None
    ) -> None:
        """``keys``: ``(version, 32-byte key)`` pairs, primary first.

        ``min_decryption_version`` retires older keys without deleting them:
        values sealed with a lower version refuse to open
        (:class:`RetiredKeyVersionError`), which shows whether anything still
        needs them before the key is removed for good.
        """
        ciphers: dict[int, AESGCM] = {}
        order: list[int] = []
        index_prks: dict[int, bytes] = {}
        for version, key in keys:
            version = _check_version(version)
            if version in ciphers:
                raise KeyringError(
                    f"key version {version} is listed twice", code="duplicate", key_version=version
                )
            if not isinstance(key, bytes) or len(key) != KEY_SIZE:
                raise KeyringError(
                    f"key version {version} must be exactly {KEY_SIZE} bytes",
                    code="bad_length",
                    key_version=version,
                )
            ciphers[version] = AESGCM(key)
            order.append(version)
            # Blind indexes derive their keys from this one (crypto/blind_index.py);
            # only HKDF's one-way extract output is kept, never the key bytes.
            index_prks[version] = extract(key)
        if not order:
            raise MissingKeysError()
        self._index_prks = index_prks
        self._setup(ciphers, tuple(order), min_decryption_version)

    def _setup(
        self,
        ciphers: dict[int, AESGCM],
        order: tuple[int, ...],
        min_decryption_version: int | None,
    ) -> None:
        if min_decryption_version is not None:
            min_decryption_version = _check_version(min_decryption_version)
            if order[0] < min_decryption_version:
                raise KeyringError(
                    f"the primary key version {order[0]} is below the minimum decryption "
                    f"version {min_decryption_version}: new values could not be opened",
                    code="retired_primary",
                    key_version=order[0],
                )
        self._min_version = min_decryption_version
        self._ciphers = ciphers
        # Exact header bytes -> that key's decrypt: one dict lookup replaces parsing and
        # validating the version on the hot path (a header found here is
        # canonical by construction).
        self._open_by_header = {
            sealed_format.header_for(v): c.decrypt
            for v, c in ciphers.items()
            if not self.is_retired(v)
        }
        self._versions = order
        self._primary_version = order[0]
        self._primary_cipher = ciphers[order[0]]
        self._primary_header = sealed_format.header_for(order[0])

    def with_min_decryption_version(self, version: int) -> Self:
        """The same keys, refusing values sealed below ``version`` as well.

        For keyrings built elsewhere (a ``KEY_PROVIDER``): the retirement setting
        applies to them too. The stricter of the two minimums wins.
        """
        version = _check_version(version)
        if self._min_version is not None:
            version = max(version, self._min_version)
        retired = object.__new__(type(self))
        retired._index_prks = self._index_prks
        retired._setup(self._ciphers, self._versions, version)
        return retired

    @classmethod
    def parse(
        cls,
        spec: str | Sequence[str],
        *,
        min_decryption_version: int | None = None,
        wrapper: "wrapping.KeyWrapper | None" = None,
    ) -> Self:
        """Build a keyring from ``"2:<base64>,1:<base64>"`` or a list of such entries.

        Blank entries (a trailing comma, an empty environment variable) are
        ignored; everything else must be a valid ``N:<base64>`` 32-byte key, or
        a ``N:wrapped:<base64url>`` entry that ``wrapper`` unwraps (here, once:
        the keyring keeps the key in memory only).
        """
        return cls(
            cls.parse_entries(spec, wrapper=wrapper),
            min_decryption_version=min_decryption_version,
        )

    @staticmethod
    def parse_entries(
        spec: str | Sequence[str],
        *,
        wrapper: "wrapping.KeyWrapper | None" = None,
        purposes: tuple[str, ...] = wrapping.DATA_KEY_PURPOSES,
    ) -> list[tuple[int, bytes]]:
        """``(version, key)`` pairs from the syntax :meth:`parse` accepts
        (``purposes``: what wrapped entries were wrapped for; index keys pass
        :data:`wrapping.INDEX_KEY_PURPOSES`); see :mod:`.entries`."""
        return entries.parse_entries(spec, wrapper=wrapper, purposes=purposes)

    def __repr__(self) -> str:
        retired = f" min_decryption_version={self._min_version}" if self._min_version else ""
        return f"<Keyring primary={self._primary_version} versions={list(self._versions)}{retired}>"

    def is_retired(self, version: int) -> bool:
        """Whether values of this key version are refused (below the minimum)."""
        return self._min_version is not None and version < self._min_version

    @property
    def min_decryption_version(self) -> int | None:
        return self._min_version

    @property
    def primary_version(self) -> int:
        return self._primary_version

    @property
    def versions(self) -> tuple[int, ...]:
        """Key versions, primary first."""
        return self._versions

    def encrypt(self, plaintext: bytes, context: bytes | str = b"") -> str:
        """Seal ``plaintext`` (bytes) under the primary key, bound to ``context``."""
        return self._encrypt_with_nonce(plaintext, context, _urandom(12))

    def _encrypt_with_nonce(self, plaintext: bytes, context: bytes | str, nonce: bytes) -> str:
        # Separate from encrypt() so the test vectors can fix the nonce, as
        # fernet.py's _encrypt_from_parts fixes its IV. Never reuse a nonce.
        if isinstance(context, str):
            context = context.encode("utf-8")
        header = self._primary_header
        ciphertext = self._primary_cipher.encrypt(nonce, plaintext, header + context)
        encoded = _b2a(nonce + ciphertext, newline=False).translate(_TO_URLSAFE)
        return (header + encoded).decode("ascii")

    def encrypt_verified(self, plaintext: bytes, context: bytes | str = b"") -> str:
        """``encrypt()``, having proved that the new value opens to ``plaintext``.

        For re-sealing, where a value that does not open would destroy the only
        copy. The proof is the AEAD check itself: the ciphertext and its tag are
        opened with the primary key and the same associated data (header and
        context) before they are encoded, and must give back ``plaintext``. The
        encoding that follows is the one every sealed value goes through (its
        exact length is checked too); parsing it back would only repeat the
        base64 work, not add to the proof.
        """
        payload = self._seal_verified(plaintext, context)
        encoded = _b2a(payload, newline=False).translate(_TO_URLSAFE)
        if len(encoded) != sealed_format.encoded_length(len(payload)):
            raise DecryptionError(
                "the re-sealed value did not open to the same bytes",
                key_version=self._primary_version,
            )
        return (self._primary_header + encoded).decode("ascii")

    def encrypt_verified_binary(self, plaintext: bytes, context: bytes | str = b"") -> bytes:
        """:meth:`encrypt_verified`, returning the binary form."""
        return self._primary_header + self._seal_verified(plaintext, context)

    def _seal_verified(self, plaintext: bytes, context: bytes | str) -> bytes:
        """nonce || ciphertext || tag under the primary key, proved to open."""
        if isinstance(context, str):
            context = context.encode("utf-8")
        nonce = _urandom(12)
        aad = self._primary_header + context
        cipher = self._primary_cipher
        ciphertext = cipher.encrypt(nonce, plaintext, aad)
        try:
            opened = cipher.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            opened = None
        if opened != plaintext:
            raise DecryptionError(
                "the re-sealed value did not open to the same bytes",
                key_version=self._primary_version,
            )
        return nonce + ciphertext

    def reseal(self, sealed: str | bytes, context: bytes | str = b"") -> tuple[Any, bytes]:
        """``sealed`` opened and sealed again under the primary key, verified
        (see :meth:`encrypt_verified`); returns ``(new, plaintext)``. The new
        value has the form of the old one: text for ``str``, binary for ``bytes``."""
        if isinstance(context, str):
            context = context.encode("utf-8")
        if isinstance(sealed, bytes):
            plaintext = self.decrypt_binary(sealed, context)
            return self.encrypt_verified_binary(plaintext, context), plaintext
        plaintext = self.decrypt(sealed, context)
        return self.encrypt_verified(plaintext, context), plaintext

    # -- the binary form (docs/FORMAT.md): header || nonce || ciphertext || tag --

    def encrypt_binary(self, plaintext: bytes, context: bytes | str = b"") -> bytes:
        """Seal ``plaintext`` like :meth:`encrypt`, in the binary form (bytes)."""
        return self._encrypt_binary_with_nonce(plaintext, context, _urandom(12))

    def _encrypt_binary_with_nonce(
        self, plaintext: bytes, context: bytes | str, nonce: bytes
    ) -> bytes:
        if isinstance(context, str):
            context = context.encode("utf-8")
        header = self._primary_header
        return header + nonce + self._primary_cipher.encrypt(nonce, plaintext, header + context)

    def decrypt_binary(self, sealed: bytes, context: bytes | str = b"") -> bytes:
        """Open a value in the binary form and return the plaintext bytes.

        Same rules and errors as :meth:`decrypt`; the well-formed case is a
        header lookup and one AES-GCM call (no base64 to undo).
        """
        if isinstance(context, str):
            context = context.encode("utf-8")
        try:
            end = sealed.index(36, 5) + 1  # the '$' after the version
            header = sealed[:end]
            open_ = self._open_by_header[header]
        except (AttributeError, TypeError, ValueError, KeyError):
            open_ = None
        if open_ is not None and len(sealed) - end >= 28:
            try:
                return open_(sealed[end : end + 12], sealed[end + 12 :], header + context)
            except InvalidTag:
                raise self._decryption_error(header[5:-1].decode()) from None
        return self._decrypt_slow(sealed, context)

    def decrypt(self, sealed: str | bytes, context: bytes | str = b"") -> bytes:
        """Open a sealed string (or a value in the binary form: ``bytes``) and
        return the plaintext bytes."""
        if isinstance(context, str):
            context = context.encode("utf-8")
        # Fast path for the well-formed case; anything unusual goes through the
        # careful parser (_decrypt_slow), which names the problem. The checks
        # here are the same as there, inlined because this runs once per value.
        try:
            # bytes (the binary form) have no encode(): the slow path takes them.
            data = sealed.encode("ascii")  # type: ignore[union-attr]
            end = data.index(36, 5) + 1  # the '$' after the version
            header = data[:end]
            open_ = self._open_by_header[header]
            body = data[end:].translate(_FROM_URLSAFE)
            payload = _a2b(body, strict_mode=True)
        except (AttributeError, UnicodeError, ValueError, KeyError):
            open_ = None
        if (
            open_ is not None
            and (size := len(payload)) >= 28
            # Canonical length: 3.11/3.12's strict mode accepts excess '='.
            and len(body) == (size + 2) // 3 * 4
            and (
                body[-1] != 61
                or not (_UNUSED_TWO_PAD[body[-3]] if body[-2] == 61 else _UNUSED_ONE_PAD[body[-2]])
            )
        ):
            try:
                return open_(payload[:12], payload[12:], header + context)
            except InvalidTag:
                raise self._decryption_error(header[5:-1].decode()) from None
        return self._decrypt_slow(sealed, context)

    def _decryption_error(self, version: str) -> DecryptionError:
        return DecryptionError(
            f"value sealed with key version {version} failed authentication: it was "
            "tampered with or truncated, the key for that version is wrong, or it was "
            "sealed for another column or row",
            key_version=int(version),
        )

    def _decrypt_slow(self, sealed: str | bytes, context: bytes) -> bytes:
        if isinstance(sealed, (bytes, bytearray, memoryview)):
            # decrypt() given the binary form lands here (its fast path is for text).
            header, version, payload = sealed_format.split_binary(bytes(sealed))
        else:
            header, version, payload = sealed_format.split(sealed)
        if self.is_retired(version):
            raise RetiredKeyVersionError(
                f"value is sealed with key version {version}, which is retired (below the "
                f"minimum decryption version {self._min_version}); re-seal it with "
                "`manage.py rotate_keys` before retiring the key",
                key_version=version,
            )
        cipher = self._ciphers.get(version)
        if cipher is None:
            raise UnknownKeyVersionError(
                f"value is sealed with key version {version}, which is not in the keyring "
                f"(versions: {', '.join(map(str, self._versions))})",
                key_version=version,
            )
        try:
            return cipher.decrypt(payload[:12], payload[12:], header + context)
        except InvalidTag:
            raise self._decryption_error(str(version)) from None

    def index_keys(self) -> IndexKeys:
        """Blind-index keys derived from these keys, one version per key.

        Retired versions are left out: a retired key neither opens values nor
        finds rows. See :mod:`integrations.crypto.blind_index` for the KDF.
        """
        return IndexKeys(
            (version, self._index_prks[version])
            for version in self._versions
            if not self.is_retired(version)
        )

    def key_version(self, sealed: str | bytes) -> int:
        """The version of the key that sealed ``sealed``, without decrypting."""
        return sealed_format.read_version(sealed)

    def needs_reseal(self, sealed: str | bytes) -> bool:
        """Whether ``sealed`` was sealed with a key other than the primary."""
        return sealed_format.read_version(sealed) != self._primary_version
