"""The sealed format: ``$si1$<version>$<base64url(nonce || ciphertext || tag)>``,
or in its binary form the bytes ``$si1$<version>$ || nonce || ciphertext || tag``.

``docs/FORMAT.md`` is the specification. This module only knows how to read and
write the envelope; it never touches a key. Parsing is strict so that exactly one
string represents a given envelope: any other string, even one that a lenient
base64 decoder would map to the same bytes, is rejected. That is what makes every
single-bit change of a stored value detectable.
"""

import binascii
from typing import TypeGuard

from .exceptions import MalformedValueError, NotSealedError

PREFIX = "$si1$"
_PREFIX_BYTES = PREFIX.encode("ascii")
_PREFIX_LEN = len(_PREFIX_BYTES)
_SEPARATOR = ord("$")
_ZERO = ord("0")
# FORMAT.md: at most 9 digits. Checked before int(), which would otherwise turn
# thousands of digits into Python's bare ValueError (the int-conversion limit).
MAX_VERSION_DIGITS = 9

NONCE_SIZE = 12
TAG_SIZE = 16
MIN_PAYLOAD_SIZE = NONCE_SIZE + TAG_SIZE

# base64url <-> standard alphabet. '+' and '/' are mapped to '!' on the way in
# so that strict decoding rejects the standard alphabet inside a sealed value.
_FROM_URLSAFE = bytes.maketrans(b"-_+/", b"+/!!")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")

_a2b = binascii.a2b_base64
_b2a = binascii.b2a_base64


def header_for(version: int) -> bytes:
    """The header bytes for a key version; they are authenticated as AAD."""
    return b"%s%d$" % (_PREFIX_BYTES, version)


def encode(header: bytes, payload: bytes) -> str:
    """Join a header and the raw nonce||ciphertext||tag into the sealed string."""
    return (header + _b2a(payload, newline=False).translate(_TO_URLSAFE)).decode("ascii")


def encode_binary(header: bytes, payload: bytes) -> bytes:
    """The binary form: the same header, then the raw payload (no base64)."""
    return header + payload


def split_binary(sealed: bytes) -> tuple[bytes, int, bytes]:
    """Parse the binary form into ``(header_bytes, version, payload_bytes)``.

    The header rules are the text form's; the payload needs no decoding, so the
    only other rule is its minimum length. Raises :class:`NotSealedError` when
    the prefix is absent and :class:`MalformedValueError` otherwise.
    """
    header, version, payload = split_header(sealed)
    if len(payload) < MIN_PAYLOAD_SIZE:
        raise MalformedValueError(
            "sealed value is too short to hold a nonce and a tag", key_version=version
        )
    return header, version, payload


def to_binary(sealed: str) -> bytes:
    """The binary form of a text-form sealed value (no key needed: same envelope)."""
    header, _version, payload = split(sealed)
    return header + payload


def to_text(sealed: bytes) -> str:
    """The text form of a binary-form sealed value (no key needed: same envelope)."""
    header, _version, payload = split_binary(sealed)
    return encode(header, payload)


def split(sealed: str) -> tuple[bytes, int, bytes]:
    """Parse a sealed string into ``(header_bytes, version, payload_bytes)``.

    Raises :class:`NotSealedError` when the prefix is absent and
    :class:`MalformedValueError` for anything else that is not canonical.
    """
    header, version, body = split_header(sealed)
    translated = body.translate(_FROM_URLSAFE)
    try:
        payload = _a2b(translated, strict_mode=True)
    except binascii.Error:
        raise MalformedValueError(
            "sealed value has an invalid base64url body", key_version=version
        ) from None
    if len(payload) < MIN_PAYLOAD_SIZE:
        raise MalformedValueError(
            "sealed value is too short to hold a nonce and a tag", key_version=version
        )
    if not is_canonical(translated) or len(translated) != encoded_length(len(payload)):
        raise MalformedValueError("sealed value is not canonically encoded", key_version=version)
    return header, version, payload


def encoded_length(payload_size: int) -> int:
    """The length of the one canonical padded base64 text of ``payload_size`` bytes.

    Python 3.11 and 3.12's ``a2b_base64(strict_mode=True)`` accept excess ``=``
    padding (3.13 refuses it), so "exactly one string per envelope" needs this
    explicit comparison on every supported Python.
    """
    return (payload_size + 2) // 3 * 4


def _unused_bits_table() -> tuple[bytes, bytes]:
    # For each byte: the bits of its base64 value that the final character of a
    # padded group does not use. '=' padding drops 4 bits (one '=' follows two
    # data characters of the last group... see is_canonical).
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    one_pad = bytearray(256)  # "xyz=": the last data character carries 2 unused bits
    two_pad = bytearray(256)  # "xy==": the last data character carries 4 unused bits
    for value, char in enumerate(alphabet):
        one_pad[char] = value & 0x03
        two_pad[char] = value & 0x0F
    return bytes(one_pad), bytes(two_pad)


_UNUSED_ONE_PAD, _UNUSED_TWO_PAD = _unused_bits_table()


def is_canonical(translated: bytes) -> bool:
    """Whether strictly-decodable standard base64 has zero unused trailing bits.

    A lenient decoder maps several strings to the same bytes by ignoring those
    bits; requiring zeros keeps one string per envelope.
    """
    if translated[-1] != 61:  # no padding: every bit is used
        return True
    if translated[-2] == 61:
        return not _UNUSED_TWO_PAD[translated[-3]]
    return not _UNUSED_ONE_PAD[translated[-2]]


def split_header(sealed: str | bytes) -> tuple[bytes, int, bytes]:
    """Read the header without touching the body: ``(header, version, body)``.

    Takes either form: the header is the same ASCII bytes in both.
    """
    if isinstance(sealed, (bytes, bytearray, memoryview)):
        data = bytes(sealed)
    elif not isinstance(sealed, str):
        raise MalformedValueError(f"sealed value must be str, not {type(sealed).__name__}")
    else:
        try:
            data = sealed.encode("ascii")
        except UnicodeEncodeError:
            if sealed.startswith(PREFIX):
                raise MalformedValueError("sealed value contains non-ASCII characters") from None
            raise NotSealedError("value is not sealed") from None
    if not data.startswith(_PREFIX_BYTES):
        raise NotSealedError("value is not sealed")
    end = data.find(b"$", _PREFIX_LEN)
    digits = data[_PREFIX_LEN:end]
    if end < 0 or not digits.isdigit() or digits[0] == _ZERO or len(digits) > MAX_VERSION_DIGITS:
        # Never echo the digits: the message must not carry stored content.
        raise MalformedValueError("sealed value has no valid key version")
    return data[: end + 1], int(digits), data[end + 1 :]


def read_version(sealed: str | bytes) -> int:
    """The key version of a sealed value, read from its header alone."""
    return split_header(sealed)[1]


def is_sealed(value: object) -> TypeGuard[str | bytes]:
    """Whether ``value`` is a well-formed sealed value (no key needed): a sealed
    string, or ``bytes`` in the binary form.

    Legacy plaintext is told apart by this; a value that has the prefix but is
    damaged is *not* sealed by this test, and decrypting it raises.
    """
    if type(value) is bytes or isinstance(value, bytes):
        if not value.startswith(_PREFIX_BYTES):
            return False
        parse = split_binary
    elif not isinstance(value, str) or not value.startswith(PREFIX):
        return False
    else:
        parse = split  # type: ignore[assignment]
    try:
        parse(value)  # type: ignore[arg-type]
    except (NotSealedError, MalformedValueError):
        return False
    return True
