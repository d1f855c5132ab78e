"""Key wrappers of the tests' own, selected by dotted path (KEY_WRAPPER["BACKEND"]).

``LocalAesWrapper`` is a complete backend with its KEK in process memory: it
proves the dotted-path route and lets the generic layer (entry format, version
binding, once-per-process unwrapping) be tested without a KMS. It counts its
calls so a test can see how often the keyring unwraps.
"""

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from integrations.crypto.wrapping import WrapperError

KEKS = {"local-1": bytes(range(32)), "local-2": bytes(range(32, 64))}
CALLS = {"wrap": 0, "unwrap": 0}


def _aad(label, context):
    return label.encode() + b"|" + repr(sorted(context.items())).encode()


class LocalAesWrapper:
    backend = "local"

    def __init__(self, options):
        self.label = options.get("KEK", "local-1")
        if self.label not in KEKS:
            raise WrapperError(f"no local KEK {self.label!r}", code="bad_wrapper")

    def describe(self, blob=None):
        return f"local KEK {self.label if blob is None else blob[:7].decode()!r}"

    def wrap(self, key, *, context):
        CALLS["wrap"] += 1
        nonce = os.urandom(12)
        return (
            self.label.encode()
            + nonce
            + AESGCM(KEKS[self.label]).encrypt(nonce, key, _aad(self.label, context))
        )

    def unwrap(self, blob, *, context):
        CALLS["unwrap"] += 1
        label = blob[:7].decode(errors="replace")
        if label not in KEKS:
            raise WrapperError(f"local KEK {label!r} is gone")
        try:
            return AESGCM(KEKS[label]).decrypt(blob[7:19], blob[19:], _aad(label, context))
        except InvalidTag:
            raise WrapperError(f"local KEK {label!r} could not decrypt it") from None


class LeakyWrapper(LocalAesWrapper):
    """A careless backend: its exceptions carry secrets; the layer must not repeat them."""

    backend = "leaky"

    def __init__(self, options):
        if options.get("FAIL_BUILD"):
            raise ValueError(f"cannot log in with {options['FAIL_BUILD']}")
        super().__init__(options)
        self.secret = options.get("SECRET", "")

    def unwrap(self, blob, *, context):
        raise RuntimeError(f"failed with secret {self.secret} and blob {blob!r}")

    def wrap(self, key, *, context):
        raise RuntimeError(f"failed wrapping {key!r} with {self.secret}")


class ShortKeyWrapper(LocalAesWrapper):
    backend = "short"

    def unwrap(self, blob, *, context):
        return b"\x00" * 16


class NotAWrapper:
    def __init__(self, options):
        pass
