"""The demo provider's RSA key for signing ID tokens (imports nothing from Django)."""

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _generate():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def signing_key_pem(path):
    """The PEM at ``path``, created there (mode 0600) on first use so that ID
    tokens stay verifiable across restarts; with an empty ``path``, a key that
    lives in memory for this process only (tests)."""
    if not path:
        return _generate()
    path = Path(path)
    try:
        return path.read_text("ascii")
    except FileNotFoundError:
        pem = _generate()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(pem)
        return pem
