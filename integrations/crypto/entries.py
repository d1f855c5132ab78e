"""Keyring entries: the ``"N:<base64>"`` and ``"N:wrapped:<base64url>"`` syntax of
``ENCRYPTION_KEYS`` and ``INDEX_KEYS``, read into ``(version, key)`` pairs.

Below both the keyring and the blind-index keys (which read the same syntax)
and above the key wrappers (which unwrap the wrapped entries): the one place
that turns configuration text into key bytes. Errors never echo an entry: it
may be a bare key.
"""

import binascii
import re
from collections.abc import Sequence

from . import wrapping
from .exceptions import KeyringError

KEY_SIZE = wrapping.KEY_SIZE
_VERSION_RE = re.compile(r"[1-9][0-9]{0,8}")
_BASE64_RE = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


def _decode_key(text: str, version: int) -> bytes:
    text = text.strip()
    if not _BASE64_RE.fullmatch(text):
        raise KeyringError(
            f"key version {version} is not valid base64", code="bad_base64", key_version=version
        )
    text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        key = binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error:
        raise KeyringError(
            f"key version {version} is not valid base64", code="bad_base64", key_version=version
        ) from None
    if len(key) != KEY_SIZE:
        raise KeyringError(
            f"key version {version} is {len(key)} bytes long; keys must be exactly "
            f"{KEY_SIZE} bytes (generate one with manage.py generate_encryption_key)",
            code="bad_length",
            key_version=version,
        )
    return key


def _parse_entry(
    entry: object,
    position: int,
    wrapper: "wrapping.KeyWrapper | None" = None,
    *,
    purposes: tuple[str, ...] = wrapping.DATA_KEY_PURPOSES,
) -> tuple[int, bytes]:
    if not isinstance(entry, str):
        raise KeyringError(f"key entry #{position} must be a string 'N:<base64>'", code="bad_entry")
    version_text, colon, key_text = entry.strip().partition(":")
    version_text = version_text.strip()
    if not colon or not _VERSION_RE.fullmatch(version_text):
        # Never echo the entry: it may be a bare key.
        raise KeyringError(
            f"key entry #{position} does not start with a version: expected 'N:<base64>' "
            "with N a positive integer",
            code="bad_entry",
        )
    version = int(version_text)
    if wrapping.is_wrapped(key_text):
        # Never falls back to reading the entry as a plaintext key.
        return version, wrapping.unwrap_entry(wrapper, version, key_text, purposes=purposes)
    return version, _decode_key(key_text, version)


def parse_entries(
    spec: str | Sequence[str],
    *,
    wrapper: "wrapping.KeyWrapper | None" = None,
    purposes: tuple[str, ...] = wrapping.DATA_KEY_PURPOSES,
) -> list[tuple[int, bytes]]:
    """``(version, key)`` pairs of ``spec``: a list of entries or one
    comma-separated string; blank entries are skipped. Wrapped entries are
    unwrapped by ``wrapper`` under one of ``purposes``."""
    items: list[object]
    if isinstance(spec, str):
        items = list(spec.split(","))
    elif isinstance(spec, (list, tuple)):
        items = list(spec)
    else:
        raise KeyringError(
            "keys must be a comma-separated string or a list of 'N:<base64>' entries",
            code="bad_entry",
        )
    return [
        _parse_entry(entry, position, wrapper, purposes=purposes)
        for position, entry in enumerate(items, start=1)
        if not (isinstance(entry, str) and not entry.strip())
    ]


def rewrap_entries(
    spec: str | list[str] | tuple[str, ...],
    wrapper: "wrapping.KeyWrapper",
    *,
    index_keys: bool = False,
) -> list[str]:
    """Every entry of ``spec`` wrapped under ``wrapper``'s configured KEK, in order
    (``index_keys``: entries of ``INDEX_KEYS``, wrapped under their own purpose).

    Plaintext entries are wrapped, wrapped ones are unwrapped (under the KEK
    each names) and wrapped again. The keys themselves do not change, so no
    sealed value or index does. All or nothing: one entry that cannot be
    unwrapped fails the whole call, so a partial list is never printed.
    """
    purposes = wrapping.INDEX_KEY_PURPOSES if index_keys else wrapping.DATA_KEY_PURPOSES
    pairs = parse_entries(spec, wrapper=wrapper, purposes=purposes)
    return [
        wrapping.wrap_entry(wrapper, version, key, purpose=purposes[0]) for version, key in pairs
    ]
