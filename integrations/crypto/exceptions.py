"""Typed failures of the crypto core.

Every failure is a :class:`CryptoError`, so a caller can catch one class. Messages
carry the key version and, once a field has added it, the model/field/row
(``location``). They never carry a key, a plaintext or a sealed value: an exception
message ends up in logs, error pages and bug reports.
"""

from typing import Self


class CryptoError(Exception):
    """Base class of every failure raised by :mod:`integrations.crypto`."""

    def __init__(
        self, message: str, *, key_version: int | None = None, location: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.key_version = key_version
        self.location = location

    def with_location(self, location: str) -> Self:
        """Attach where the value lives (model, field, row) and return self."""
        self.location = location
        return self

    def __str__(self) -> str:
        if self.location:
            return f"{self.message} [{self.location}]"
        return self.message


class KeyringError(CryptoError):
    """The key configuration is unusable: missing, malformed or duplicated keys."""

    def __init__(self, message: str, *, code: str, key_version: int | None = None) -> None:
        super().__init__(message, key_version=key_version)
        self.code = code


class MissingKeysError(KeyringError):
    """No encryption key is configured at all."""

    def __init__(self, message: str = "no encryption keys are configured") -> None:
        super().__init__(message, code="missing")


class NotSealedError(CryptoError):
    """The value does not carry the sealed-format prefix (legacy plaintext)."""


class MalformedValueError(CryptoError):
    """The value carries the prefix but is not a well-formed sealed value."""


class UnknownKeyVersionError(CryptoError):
    """The value was sealed with a key version the keyring does not hold."""


class RetiredKeyVersionError(UnknownKeyVersionError):
    """The value was sealed with a key version below the minimum allowed to decrypt."""


class DecryptionError(CryptoError):
    """Authentication failed: the value was tampered with, truncated, sealed
    under a different key with the same version, or sealed for another context
    (another column or row)."""
