"""A SoftHSM2 token of the tests' own, in a temporary directory.

SoftHSM2 reads ``SOFTHSM2_CONF`` when the PKCS#11 module is initialised, once per
process, so :func:`ensure_token` sets it before anything loads the module. The
directory is passed to child processes through ``SEALED_TEST_SOFTHSM_DIR``: a
worker process started by a test finds the token ready instead of making its own.
"""

import atexit
import base64
import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN_LABEL = "sealed-tests"
# Canaries: the tests prove these never appear in a message or an output.
PIN = "pin-canary-5b7e21"
SO_PIN = "so-pin-canary-9c4d"
KEK_LABEL = "kek-1"
NEW_KEK_LABEL = "kek-2"
DUPLICATE_LABEL = "kek-twice"


def available():
    """Whether SoftHSM2 and python-pkcs11 are installed."""
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        return False
    return os.path.exists(LIBRARY) and shutil.which("softhsm2-util") is not None


def options(**overrides):
    """``KEY_WRAPPER["OPTIONS"]`` for the test token."""
    return {
        "LIBRARY": LIBRARY,
        "TOKEN_LABEL": TOKEN_LABEL,
        "PIN": PIN,
        "KEY_LABEL": KEK_LABEL,
        **overrides,
    }


def ensure_token():
    """Create the token and its KEKs once (per run); return its directory."""
    directory = os.environ.get("SEALED_TEST_SOFTHSM_DIR")
    if not directory:
        directory = tempfile.mkdtemp(prefix="sealed-softhsm-")
        os.environ["SEALED_TEST_SOFTHSM_DIR"] = directory
        atexit.register(shutil.rmtree, directory, True)
    root = Path(directory)
    conf = root / "softhsm2.conf"
    os.environ["SOFTHSM2_CONF"] = str(conf)
    if (root / "ready").exists():
        return directory
    (root / "tokens").mkdir(exist_ok=True)
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    subprocess.run(
        [
            shutil.which("softhsm2-util") or "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            TOKEN_LABEL,
            "--so-pin",
            SO_PIN,
            "--pin",
            PIN,
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
    )
    import pkcs11
    from pkcs11 import Attribute, KeyType

    token = pkcs11.lib(LIBRARY).get_token(token_label=TOKEN_LABEL)
    with token.open(rw=True, user_pin=PIN) as session:
        for label in (KEK_LABEL, NEW_KEK_LABEL, DUPLICATE_LABEL, DUPLICATE_LABEL):
            session.generate_key(
                KeyType.AES,
                256,
                label=label,
                store=True,
                template={
                    Attribute.EXTRACTABLE: False,
                    Attribute.SENSITIVE: True,
                    Attribute.ENCRYPT: True,
                    Attribute.DECRYPT: True,
                },
            )
    (root / "ready").touch()
    return directory


def _serialized_wrapper():
    from integrations.crypto.wrapping.hsm import Pkcs11Wrapper

    class SerializedPkcs11Wrapper(Pkcs11Wrapper):
        """The pkcs11 wrapper, one process at a time on the test token.

        SoftHSM2's file object store is not safe for several processes at once
        (their C_Initialize or C_Login fails with CKR_GENERAL_ERROR, or the token
        is missing; softhsm/SoftHSMv2#757): the suite's worker processes start
        together, so they take turns. A network HSM or KMS has no such limit.
        """

        def _run(self, *args, **kwargs):
            with open(Path(os.environ["SEALED_TEST_SOFTHSM_DIR"]) / "use.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                return super()._run(*args, **kwargs)

    return SerializedPkcs11Wrapper


def serialized_wrapper(options):
    """KEY_WRAPPER["BACKEND"] of the wrapped test run (a dotted-path backend)."""
    return _serialized_wrapper()(options)


def wrapped_settings(entries):
    """``INTEGRATIONS`` with ``entries`` ("N:<base64>") wrapped under the test token's KEK.

    The backend is the pkcs11 wrapper taking turns across processes (above).
    """
    from integrations.crypto.wrapping import wrap_entry

    ensure_token()
    wrapper = serialized_wrapper(options())
    wrapped = []
    for entry in entries:
        version, _, key = entry.partition(":")
        wrapped.append(wrap_entry(wrapper, int(version), base64.urlsafe_b64decode(key)))
    return {
        "ENCRYPTION_KEYS": wrapped,
        "KEY_WRAPPER": {"BACKEND": "tests.softhsm.serialized_wrapper", "OPTIONS": options()},
    }
