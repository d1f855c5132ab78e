"""The "pkcs11" key wrapper against a real SoftHSM2 token made by the tests."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from integrations.crypto import Keyring
from integrations.crypto.entries import rewrap_entries
from integrations.crypto.wrapping import WrapperError, load_backend, wrap_entry
from tests import softhsm

pytestmark = pytest.mark.skipif(
    not softhsm.available(), reason="needs SoftHSM2 (apt-get install softhsm2) and python-pkcs11"
)
CANARY_KEY = b"key-canary-0123456789abcdef-3141"  # 32 bytes
CANARY_TEXTS = [
    softhsm.PIN,
    softhsm.SO_PIN,
    CANARY_KEY.decode(),
    base64.urlsafe_b64encode(CANARY_KEY).decode().rstrip("="),
    base64.b64encode(CANARY_KEY).decode().rstrip("="),
]


@pytest.fixture(scope="module", autouse=True)
def token():
    softhsm.ensure_token()


def wrapper(**overrides):
    return load_backend("pkcs11", softhsm.options(**overrides))


def assert_no_secret(text):
    for canary in CANARY_TEXTS:
        assert canary not in text


def test_round_trip_through_the_keyring():
    entry = wrap_entry(wrapper(), 2, CANARY_KEY)
    assert_no_secret(entry)
    keyring = Keyring.parse([entry], wrapper=wrapper())
    plain = Keyring.parse([f"2:{base64.urlsafe_b64encode(CANARY_KEY).decode()}"])
    assert plain.decrypt(keyring.encrypt(b"token", "c"), "c") == b"token"


def test_the_blob_names_the_kek_and_the_repr_hides_the_pin():
    w = wrapper()
    entry = wrap_entry(w, 2, CANARY_KEY)
    blob = base64.urlsafe_b64decode(entry.split(":wrapped:")[1])
    assert blob.startswith(b"P11\x01\x05kek-1")
    assert w.describe(blob) == "AES key 'kek-1' in token 'sealed-tests'"
    assert softhsm.PIN not in repr(w) and softhsm.PIN not in w.describe()
    # Two wraps of one key differ (fresh nonce).
    assert wrap_entry(w, 2, CANARY_KEY) != entry


def test_kek_rotation_old_entries_unwrap_while_the_old_kek_exists():
    old = wrap_entry(wrapper(), 2, CANARY_KEY)
    rotated = wrapper(KEY_LABEL=softhsm.NEW_KEK_LABEL)
    # Configured with the new KEY_LABEL, the old entry still unwraps: it names kek-1.
    keyring = Keyring.parse([old], wrapper=rotated)
    (new,) = rewrap_entries([old], rotated)
    blob = base64.urlsafe_b64decode(new.split(":wrapped:")[1])
    assert blob.startswith(b"P11\x01\x05kek-2")
    assert_no_secret(new)
    assert Keyring.parse([new], wrapper=rotated).decrypt(keyring.encrypt(b"x", "c"), "c") == b"x"


def failure(entry, w):
    with pytest.raises(WrapperError) as caught:
        Keyring.parse([entry], wrapper=w)
    message = str(caught.value)
    assert caught.value.code == "unwrap_failed"
    assert caught.value.backend == "pkcs11"
    assert message.startswith(f"key version {caught.value.key_version} could not be unwrapped")
    assert "by the pkcs11 key wrapper" in message
    assert_no_secret(message + repr(caught.value))
    return message


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"TOKEN_LABEL": "no-such-token"}, "no token with that TOKEN_LABEL is present"),
        ({"PIN": "wrong-pin-canary"}, "the token refused the PIN"),
        ({"LIBRARY": "/nonexistent/libpkcs11.so"}, "could not be loaded"),
    ],
)
def test_token_absent_wrong_pin_missing_library(overrides, fragment):
    entry = wrap_entry(wrapper(), 2, CANARY_KEY)
    message = failure(entry, wrapper(**overrides))
    assert fragment in message
    assert "wrong-pin-canary" not in message


def test_kek_label_missing_from_the_token():
    entry = wrap_entry(wrapper(), 3, CANARY_KEY)
    raw = base64.urlsafe_b64decode(entry.split(":wrapped:")[1])
    renamed = raw.replace(b"kek-1", b"kek-9", 1)
    message = failure("3:wrapped:" + base64.urlsafe_b64encode(renamed).decode(), wrapper())
    assert "no AES key with that label is in the token" in message
    assert "'kek-9'" in message
    with pytest.raises(WrapperError, match="could not be wrapped by the pkcs11 key wrapper"):
        wrap_entry(wrapper(KEY_LABEL="kek-absent"), 1, CANARY_KEY)


def test_two_keys_with_one_label_are_refused():
    with pytest.raises(WrapperError, match="several keys in the token have that label"):
        wrap_entry(wrapper(KEY_LABEL=softhsm.DUPLICATE_LABEL), 1, CANARY_KEY)


def test_tampered_blob_and_blob_moved_to_another_version():
    entry = wrap_entry(wrapper(), 2, CANARY_KEY)
    raw = bytearray(base64.urlsafe_b64decode(entry.split(":wrapped:")[1]))
    raw[-3] ^= 0x40
    tampered = "2:wrapped:" + base64.urlsafe_b64encode(bytes(raw)).decode()
    assert "the token could not decrypt it" in failure(tampered, wrapper())
    moved = "5:" + entry.partition(":")[2]
    assert "key version 5" in failure(moved, wrapper())
    truncated = "2:wrapped:" + base64.urlsafe_b64encode(bytes(raw[:20])).decode()
    assert "truncated or malformed" in failure(truncated, wrapper())
    foreign = "2:wrapped:" + base64.urlsafe_b64encode(b"KMS\x01" + os.urandom(40)).decode()
    assert "not made by the pkcs11 key wrapper" in failure(foreign, wrapper())


_FORK_SCRIPT = """
import os, sys
from integrations.crypto import Keyring
from integrations.crypto.wrapping import load_backend, wrap_entry
from tests import softhsm

softhsm.ensure_token()
key = os.urandom(32)
wrapper = load_backend("pkcs11", softhsm.options())
entry = wrap_entry(wrapper, 2, key)
sealed = Keyring([(2, key)]).encrypt(b"x", "c")
Keyring.parse([entry], wrapper=wrapper)  # the parent has used the module
pid = os.fork()
if pid == 0:  # exit 0 only if the child unwrapped the right key
    try:
        ok = Keyring.parse([entry], wrapper=wrapper).decrypt(sealed, "c") == b"x"
        os._exit(0 if ok else 1)
    except BaseException:
        os._exit(2)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_forked_child_initialises_the_module_again_and_unwraps():
    # In a fresh single-threaded interpreter: fork() in the test process, which
    # has threads, could deadlock the child.
    result = subprocess.run(
        [sys.executable, "-c", _FORK_SCRIPT],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
