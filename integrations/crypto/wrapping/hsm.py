"""The ``"pkcs11"`` key wrapper: data keys encrypted by an AES key in a PKCS#11 token.

Any PKCS#11 module works (a network HSM, CloudHSM, a YubiHSM, SoftHSM2), through
``python-pkcs11``. OPTIONS: ``LIBRARY`` (path of the module), ``TOKEN_LABEL``,
``PIN`` (the user PIN) and ``KEY_LABEL`` (the KEK: an AES key in the token).

Why encrypt/decrypt with the KEK (``CKM_AES_GCM``) rather than ``C_WrapKey`` /
``C_UnwrapKey``: the data key has to end up as bytes in this process's memory
(the keyring uses it for every value). ``C_UnwrapKey`` would first create it as
an object in the token, which then has to be extractable and non-sensitive for
its value to be read back, and destroyed afterwards: the same exposure with
more steps and a window where a key object lingers in the token. The key-wrap
mechanisms tokens commonly offer for ``C_WrapKey`` (``CKM_AES_KEY_WRAP[_PAD]``,
RFC 3394/5649) also take no associated data, so they could not bind a wrapped
entry to its key version. AES-GCM inside the token does both in one call, and
the KEK itself never leaves the token (``CKA_EXTRACTABLE`` false,
``CKA_SENSITIVE`` true). The KEK needs ``CKA_ENCRYPT`` and ``CKA_DECRYPT``.

The blob is ``b"P11" 0x01 ‖ len(label) ‖ label ‖ nonce (12) ‖ ciphertext ‖ tag (16)``;
the associated data is everything before the nonce plus the canonical context,
so the label (the KEK that wrapped it, found again by that label after a KEK
rotation) and the key version are both authenticated.

A session is opened (and logged in) per operation and closed at once: keys are
unwrapped once per process, so nothing stays logged in, and a worker forked
after startup holds no inherited PKCS#11 session.
"""

import json
import os
import threading
from collections.abc import Mapping
from typing import Any

import pkcs11
from pkcs11 import exceptions as p11

from . import WrapperError, check_options
from .quiet import no_library_logs

MAGIC = b"P11\x01"
# python-pkcs11 initialises the module with C_Initialize(NULL), which tells it
# that the application will not call it from several threads at once (PKCS#11
# v2.40 section 5.4): this process keeps that promise.
_LOCK = threading.Lock()
# The process that initialised each module: a forked child (a preforking server
# whose master ran the system check) must not use the parent's PKCS#11 state
# (PKCS#11 v2.40, 6.7.7), so it initialises the module again.
_INITIALISED_IN: dict[str, int] = {}
NONCE_SIZE = 12
TAG_SIZE = 16

# What a PKCS#11 failure means to the operator; never the library's own text.
_REASONS: dict[type[Exception], str] = {
    p11.NoSuchToken: "no token with that TOKEN_LABEL is present",
    p11.TokenNotPresent: "the token is not present",
    p11.TokenNotRecognised: "the token is not recognised",
    p11.DeviceRemoved: "the token was removed",
    p11.DeviceError: "the token reported a device error",
    p11.PinIncorrect: "the token refused the PIN",
    p11.PinLocked: "the token's PIN is locked",
    p11.PinExpired: "the token's PIN has expired",
    p11.PinInvalid: "the token refused the PIN",
    p11.PinLenRange: "the token refused the PIN",
    p11.UserPinNotInitialized: "the token's user PIN is not initialised",
    p11.NoSuchKey: "no AES key with that label is in the token",
    p11.MultipleObjectsReturned: "several keys in the token have that label",
    p11.MechanismInvalid: "the token does not offer CKM_AES_GCM",
}


def _canonical(context: Mapping[str, str]) -> bytes:
    return json.dumps(dict(context), sort_keys=True, separators=(",", ":")).encode("utf-8")


class Pkcs11Wrapper:
    """Wraps with the AES key ``KEY_LABEL``; unwraps with the key a blob names."""

    backend = "pkcs11"

    def __init__(self, options: Mapping[str, Any]) -> None:
        values = check_options(
            self.backend, options, required=("LIBRARY", "TOKEN_LABEL", "PIN", "KEY_LABEL")
        )
        self._library = values["LIBRARY"]
        self._token_label = values["TOKEN_LABEL"]
        self._pin = values["PIN"]
        self._key_label = values["KEY_LABEL"]
        if len(self._key_label.encode("utf-8")) > 255:
            raise WrapperError(
                "the pkcs11 KEY_LABEL must be at most 255 bytes",
                code="bad_wrapper",
                backend=self.backend,
            )

    def __repr__(self) -> str:  # never the PIN
        return (
            f"<Pkcs11Wrapper library={self._library!r} token={self._token_label!r} "
            f"key={self._key_label!r}>"
        )

    def describe(self, blob: bytes | None = None) -> str:
        label = self._key_label if blob is None else self._parse(blob)[1]
        return f"AES key {label!r} in token {self._token_label!r}"

    def wrap(self, key: bytes, *, context: Mapping[str, str]) -> bytes:
        label = self._key_label.encode("utf-8")
        header = MAGIC + bytes([len(label)]) + label
        nonce = os.urandom(NONCE_SIZE)
        params = pkcs11.GCMParams(nonce, header + _canonical(context), TAG_SIZE * 8)
        ciphertext = self._run(
            self._key_label,
            lambda kek: kek.encrypt(
                key, mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=params
            ),
        )
        return header + nonce + ciphertext

    def unwrap(self, blob: bytes, *, context: Mapping[str, str]) -> bytes:
        header, label, nonce, ciphertext = self._parse(blob)
        params = pkcs11.GCMParams(nonce, header + _canonical(context), TAG_SIZE * 8)
        return self._run(
            label,
            lambda kek: kek.decrypt(
                ciphertext, mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=params
            ),
            decrypting=True,
        )

    def _parse(self, blob: bytes) -> tuple[bytes, str, bytes, bytes]:
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 1:
            raise WrapperError("the blob was not made by the pkcs11 key wrapper")
        end = len(MAGIC) + 1 + blob[len(MAGIC)]
        body = blob[end:]
        try:
            label = blob[len(MAGIC) + 1 : end].decode("utf-8")
        except UnicodeDecodeError:
            label = ""
        if not label or len(body) < NONCE_SIZE + TAG_SIZE + 1:
            raise WrapperError("the blob is truncated or malformed")
        return blob[:end], label, body[:NONCE_SIZE], body[NONCE_SIZE:]

    def _run(self, label: str, operation: Any, *, decrypting: bool = False) -> bytes:
        with _LOCK, no_library_logs():
            return self._run_locked(label, operation, decrypting=decrypting)

    def _run_locked(self, label: str, operation: Any, *, decrypting: bool) -> bytes:
        where = f"AES key {label!r} in token {self._token_label!r} ({self._library})"
        try:
            lib = pkcs11.lib(self._library)
            pid = os.getpid()
            if _INITIALISED_IN.setdefault(self._library, pid) != pid:
                lib.reinitialize()
                _INITIALISED_IN[self._library] = pid
        except (p11.PKCS11Error, OSError):
            raise WrapperError(f"the PKCS#11 library {self._library} could not be loaded") from None
        try:
            token = lib.get_token(token_label=self._token_label)
            with token.open(user_pin=self._pin) as session:
                # The whole search, then the count (get_key() would leave a
                # search open in the session when it finds two).
                keks = list(
                    session.get_objects(
                        {
                            pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY,
                            pkcs11.Attribute.KEY_TYPE: pkcs11.KeyType.AES,
                            pkcs11.Attribute.LABEL: label,
                        }
                    )
                )
                if len(keks) != 1:
                    raise (p11.NoSuchKey if not keks else p11.MultipleObjectsReturned)()
                return bytes(operation(keks[0]))
        except p11.PKCS11Error as exc:
            reason = _REASONS.get(type(exc))
            if reason is None and decrypting:
                # SoftHSM2 reports a failed GCM tag as CKR_GENERAL_ERROR, others
                # as CKR_ENCRYPTED_DATA_INVALID: either way the blob is not one
                # this KEK made for this key version.
                reason = (
                    "the token could not decrypt it (the blob was altered, belongs to "
                    "another key version, or the key under that label is another KEK)"
                )
            raise WrapperError(
                f"{reason or 'the token failed'} [{type(exc).__name__}; {where}]"
            ) from None
