"""Envelope encryption of keyring entries: data keys wrapped by a key-encryption key.

A wrapped entry ``"N:wrapped:<base64url blob>"`` holds data key version ``N``
encrypted by a KEK that never leaves a KMS or an HSM; the keyring unwraps it once,
when it is built, and keeps the key only in process memory. A database dump and
the configuration together are then still not enough to open a secret: the
attacker also needs to use the KEK, which the KMS/HSM logs and can revoke.

A backend is any object with the :class:`KeyWrapper` interface. Every wrap and
unwrap is bound to a *context*, ``{"purpose": PURPOSE, "key_version": "N"}``, which
a backend must authenticate (AES-GCM associated data, a KMS encryption context):
a wrapped entry copied under another version number fails to unwrap instead of
silently becoming that version's key. Index keys (``INDEX_KEYS``) are wrapped
under a purpose of their own, :data:`INDEX_PURPOSE`, so an index key entry
copied into ``ENCRYPTION_KEYS`` fails to unwrap instead of becoming a data key;
index key entries wrapped before that purpose existed (under the data keys'
purpose) still unwrap as index keys, until ``rewrap_keys --index-keys``
re-wraps them.

Pure Python, no Django: the settings glue lives in ``integrations.sealed``. The
backends import their third-party library only when selected.
"""

import base64
import binascii
import importlib
import re
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from ..exceptions import KeyringError
from .quiet import no_library_logs

WRAPPED = "wrapped:"
PURPOSE = "sealed-integrations data key"
INDEX_PURPOSE = "sealed-integrations index key"
# The purposes an entry may be wrapped under, the current one first.
DATA_KEY_PURPOSES = (PURPOSE,)
INDEX_KEY_PURPOSES = (INDEX_PURPOSE, PURPOSE)  # then the one index keys once shared
KEY_SIZE = 32
BACKENDS = {
    "pkcs11": "integrations.crypto.wrapping.hsm.Pkcs11Wrapper",
    "aws_kms": "integrations.crypto.wrapping.kms.AwsKmsWrapper",
}
_BASE64URL_RE = re.compile(r"[A-Za-z0-9_-]+={0,2}")


@runtime_checkable
class KeyWrapper(Protocol):
    """What a backend provides. ``backend`` names it in messages (``"pkcs11"``)."""

    backend: str

    def wrap(self, key: bytes, *, context: Mapping[str, str]) -> bytes:
        """Encrypt ``key`` under the configured KEK; the blob names that KEK."""
        ...

    def unwrap(self, blob: bytes, *, context: Mapping[str, str]) -> bytes:
        """Decrypt a blob made by :meth:`wrap` (under whichever KEK it names).

        Raise :class:`WrapperError` with a message that names the KEK and the
        reason, never key material or credentials.
        """
        ...

    def describe(self, blob: bytes | None = None) -> str:
        """The KEK that wrapped ``blob`` (or the configured one), for messages."""
        ...


class WrapperError(KeyringError):
    """A key wrapper is misconfigured or could not wrap or unwrap a key.

    ``code`` is ``"bad_wrapper"`` (the configuration), ``"unwrap_failed"``,
    ``"wrap_failed"`` or ``"wrapper_missing"`` (wrapped entries, no wrapper).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "unwrap_failed",
        backend: str | None = None,
        key_version: int | None = None,
    ) -> None:
        super().__init__(message, code=code, key_version=key_version)
        self.backend = backend


def key_context(version: int, purpose: str = PURPOSE) -> dict[str, str]:
    """The context every wrap and unwrap of key ``version`` (a data key, or an
    index key with :data:`INDEX_PURPOSE`) is bound to."""
    return {"purpose": purpose, "key_version": str(version)}


def load_backend(backend: object, options: object) -> KeyWrapper:
    """Build the wrapper named by ``backend`` (a built-in name or a dotted path).

    The class (or factory) is called with the ``OPTIONS`` dict as its one
    argument, so a project's own backend takes its settings the same way.
    """
    if not isinstance(backend, str) or not backend:
        raise WrapperError(
            "KEY_WRAPPER['BACKEND'] must be 'pkcs11', 'aws_kms' or the dotted path of a class",
            code="bad_wrapper",
        )
    if not isinstance(options, Mapping):
        raise WrapperError(
            "KEY_WRAPPER['OPTIONS'] must be a dict", code="bad_wrapper", backend=backend
        )
    path = BACKENDS.get(backend, backend)
    module_name, _, attr = path.rpartition(".")
    try:
        factory = getattr(importlib.import_module(module_name), attr) if module_name else None
    except ImportError as exc:
        extra = {"pkcs11": "pkcs11", "aws_kms": "aws"}.get(backend)
        hint = f" (pip install 'sealed-integrations[{extra}]')" if extra else ""
        raise WrapperError(
            f"key wrapper backend {backend!r} cannot be imported: {exc}{hint}",
            code="bad_wrapper",
            backend=backend,
        ) from None
    except AttributeError:
        factory = None
    if factory is None:
        raise WrapperError(
            f"key wrapper backend {backend!r} is neither 'pkcs11', 'aws_kms' nor an importable "
            "dotted path",
            code="bad_wrapper",
            backend=backend,
        )
    try:
        wrapper = factory(options)
    except WrapperError:
        raise
    except Exception as exc:  # its text could hold an option's value (a PIN)
        raise WrapperError(
            f"key wrapper backend {backend!r} could not be built: {type(exc).__name__}",
            code="bad_wrapper",
            backend=backend,
        ) from None
    if not isinstance(wrapper, KeyWrapper):
        raise WrapperError(
            f"key wrapper backend {backend!r} does not provide backend, wrap(), unwrap() "
            "and describe()",
            code="bad_wrapper",
            backend=backend,
        )
    return wrapper


def check_options(
    backend: str,
    options: Mapping[str, Any],
    *,
    required: tuple[str, ...],
    optional: tuple[str, ...] = (),
) -> dict[str, str]:
    """The backend's options as strings, refusing unknown, missing and non-string ones.

    Never echoes a value: an option may be a PIN.
    """
    unknown = sorted(set(options) - set(required) - set(optional))
    if unknown:
        raise WrapperError(
            f"unknown {backend} KEY_WRAPPER option(s): {', '.join(map(str, unknown))}; known: "
            f"{', '.join(required + optional)}",
            code="bad_wrapper",
            backend=backend,
        )
    missing = [name for name in required if not options.get(name)]
    if missing:
        raise WrapperError(
            f"the {backend} key wrapper needs the option(s) {', '.join(missing)}",
            code="bad_wrapper",
            backend=backend,
        )
    values = {}
    for name, value in options.items():
        if value is None and name in optional:
            continue
        if not isinstance(value, str):
            raise WrapperError(
                f"the {backend} KEY_WRAPPER option {name} must be a string",
                code="bad_wrapper",
                backend=backend,
            )
        values[name] = value
    return values


def is_wrapped(key_text: str) -> bool:
    """Whether the part of an entry after ``N:`` is a wrapped key."""
    return key_text.strip().startswith(WRAPPED)


def wrap_entry(wrapper: KeyWrapper, version: int, key: bytes, *, purpose: str = PURPOSE) -> str:
    """Wrap key ``version`` into a ready ``"N:wrapped:<base64url>"`` entry (a data
    key; an index key with ``purpose=INDEX_PURPOSE``)."""
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise KeyringError(
            f"key version {version} must be exactly {KEY_SIZE} bytes",
            code="bad_length",
            key_version=version,
        )
    try:
        with no_library_logs():  # botocore logs an Encrypt request, the key in it
            blob = wrapper.wrap(key, context=key_context(version, purpose))
    except WrapperError as exc:
        raise WrapperError(
            f"key version {version} could not be wrapped by the {wrapper.backend} key "
            f"wrapper: {exc.message}",
            code="wrap_failed",
            backend=wrapper.backend,
            key_version=version,
        ) from None
    except Exception as exc:  # a project's own backend: name the failure, not its text
        raise WrapperError(
            f"key version {version} could not be wrapped by the {wrapper.backend} key "
            f"wrapper: {type(exc).__name__}",
            code="wrap_failed",
            backend=wrapper.backend,
            key_version=version,
        ) from None
    return f"{version}:{WRAPPED}{base64.urlsafe_b64encode(blob).decode('ascii')}"


def decode_blob(key_text: str, version: int) -> bytes:
    """The blob of a wrapped entry's ``wrapped:<base64url>`` part."""
    text = key_text.strip()[len(WRAPPED) :].strip()
    if not _BASE64URL_RE.fullmatch(text):
        raise KeyringError(
            f"wrapped key version {version} is not valid base64url",
            code="bad_base64",
            key_version=version,
        )
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise KeyringError(
            f"wrapped key version {version} is not valid base64url",
            code="bad_base64",
            key_version=version,
        ) from None


def unwrap_entry(
    wrapper: KeyWrapper | None,
    version: int,
    key_text: str,
    *,
    purposes: tuple[str, ...] = DATA_KEY_PURPOSES,
) -> bytes:
    """The key of a wrapped entry's ``wrapped:<base64url>`` part, unwrapped under
    the first of ``purposes`` that opens it (:data:`INDEX_KEY_PURPOSES` for an
    index key: its own, then the older shared one).

    Every failure is a :class:`WrapperError` naming the backend and the key
    version (the failure under the first purpose); nothing falls back to
    treating the entry as a plaintext key.
    """
    if wrapper is None:
        raise WrapperError(
            f"key version {version} is wrapped but INTEGRATIONS['KEY_WRAPPER'] is not set: "
            "configure the wrapper (the KMS or HSM) that wrapped it",
            code="wrapper_missing",
            key_version=version,
        )
    blob = decode_blob(key_text, version)
    prefix = f"key version {version} could not be unwrapped by the {wrapper.backend} key wrapper"
    first_failure = None
    for purpose in purposes:
        try:
            with no_library_logs():  # botocore logs a Decrypt response, the key in it
                key = wrapper.unwrap(blob, context=key_context(version, purpose))
            break
        except WrapperError as exc:
            failure = f"{prefix}: {exc.message}"
        except Exception as exc:  # a project's own backend: name the failure, not its text
            failure = f"{prefix}: {type(exc).__name__}"
        first_failure = first_failure or failure
    else:
        raise WrapperError(first_failure or prefix, backend=wrapper.backend, key_version=version)
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise WrapperError(
            f"{prefix}: it did not unwrap to a {KEY_SIZE}-byte key",
            backend=wrapper.backend,
            key_version=version,
        )
    return key
