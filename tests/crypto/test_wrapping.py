"""The wrapped keyring entry, independent of any backend (tests/keywrappers.py's own)."""

import base64
import os

import pytest

from integrations.crypto import Keyring, KeyringError
from integrations.crypto.entries import rewrap_entries
from integrations.crypto.wrapping import (
    PURPOSE,
    WrapperError,
    key_context,
    load_backend,
    unwrap_entry,
    wrap_entry,
)
from tests import keywrappers

KEY = os.urandom(32)
KEY_B64 = base64.urlsafe_b64encode(KEY).decode()
LOCAL = "tests.keywrappers.LocalAesWrapper"


@pytest.fixture
def wrapper():
    return load_backend(LOCAL, {})


def blob_of(entry):
    return entry.split(":wrapped:")[1]


def test_entry_format_and_round_trip(wrapper):
    entry = wrap_entry(wrapper, 4, KEY)
    version, mark, blob = entry.split(":", 2)
    assert (version, mark) == ("4", "wrapped")
    assert base64.urlsafe_b64decode(blob)  # base64url, no '+' or '/'
    assert "+" not in blob and "/" not in blob
    assert KEY_B64.rstrip("=") not in entry
    assert unwrap_entry(wrapper, 4, entry.partition(":")[2]) == KEY


def test_keyring_parses_wrapped_and_plain_entries(wrapper):
    wrapped = wrap_entry(wrapper, 2, KEY)
    plain = f"1:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"
    keyring = Keyring.parse([wrapped, plain], wrapper=wrapper)
    same = Keyring.parse([f"2:{KEY_B64}"])
    assert keyring.versions == (2, 1)
    assert same.decrypt(keyring.encrypt(b"secret", "ctx"), "ctx") == b"secret"
    # The comma-separated form too, with blanks ignored.
    assert Keyring.parse(f"{wrapped},,{plain}", wrapper=wrapper).versions == (2, 1)


def test_the_context_binds_purpose_and_version():
    assert key_context(7) == {"purpose": PURPOSE, "key_version": "7"}


def test_an_entry_moved_to_another_version_does_not_unwrap(wrapper):
    moved = "3:" + wrap_entry(wrapper, 2, KEY).partition(":")[2]
    with pytest.raises(WrapperError) as caught:
        Keyring.parse([moved], wrapper=wrapper)
    assert caught.value.code == "unwrap_failed"
    assert caught.value.key_version == 3
    assert "key version 3 could not be unwrapped by the local key wrapper" in str(caught.value)


def test_wrapped_entries_without_a_wrapper_are_refused_never_read_as_plaintext(wrapper):
    entry = wrap_entry(wrapper, 2, KEY)
    with pytest.raises(WrapperError) as caught:
        Keyring.parse([entry])
    assert caught.value.code == "wrapper_missing"
    assert "key version 2 is wrapped but INTEGRATIONS['KEY_WRAPPER'] is not set" in str(
        caught.value
    )
    assert blob_of(entry) not in str(caught.value)


@pytest.mark.parametrize("blob", ["", "not base64!", "a+b/c"])
def test_a_blob_that_is_not_base64url(wrapper, blob):
    with pytest.raises(KeyringError) as caught:
        Keyring.parse([f"5:wrapped:{blob}"], wrapper=wrapper)
    assert caught.value.code == "bad_base64"
    assert "wrapped key version 5" in str(caught.value)


def test_tampered_blob(wrapper):
    entry = wrap_entry(wrapper, 2, KEY)
    raw = bytearray(base64.urlsafe_b64decode(blob_of(entry)))
    raw[-1] ^= 1
    tampered = "2:wrapped:" + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(WrapperError, match="local KEK 'local-1' could not decrypt it"):
        Keyring.parse([tampered], wrapper=wrapper)


def test_a_wrapper_that_returns_a_short_key_is_refused():
    entry = wrap_entry(load_backend(LOCAL, {}), 2, KEY)
    short = load_backend("tests.keywrappers.ShortKeyWrapper", {})
    with pytest.raises(WrapperError, match="did not unwrap to a 32-byte key"):
        Keyring.parse([entry], wrapper=short)


def test_a_careless_backends_exception_text_is_not_repeated(wrapper):
    entry = wrap_entry(wrapper, 2, KEY)
    leaky = load_backend("tests.keywrappers.LeakyWrapper", {"SECRET": "canary-leak-41"})
    with pytest.raises(WrapperError) as caught:
        Keyring.parse([entry], wrapper=leaky)
    assert str(caught.value) == (
        "key version 2 could not be unwrapped by the leaky key wrapper: RuntimeError"
    )
    with pytest.raises(WrapperError) as caught:
        wrap_entry(leaky, 2, KEY)
    assert caught.value.code == "wrap_failed"
    assert "canary-leak-41" not in str(caught.value) and repr(KEY) not in str(caught.value)
    with pytest.raises(WrapperError) as caught:
        load_backend("tests.keywrappers.LeakyWrapper", {"FAIL_BUILD": "canary-pin-77"})
    assert "canary-pin-77" not in str(caught.value)
    assert "could not be built: ValueError" in str(caught.value)


@pytest.mark.parametrize(
    ("backend", "options", "fragment"),
    [
        ("", {}, "must be 'pkcs11', 'aws_kms' or the dotted path"),
        (None, {}, "must be 'pkcs11', 'aws_kms' or the dotted path"),
        ("nope", {}, "neither 'pkcs11', 'aws_kms' nor an importable dotted path"),
        ("tests.keywrappers.Missing", {}, "neither 'pkcs11', 'aws_kms' nor"),
        ("no_such_module.Wrapper", {}, "cannot be imported"),
        ("tests.keywrappers.NotAWrapper", {}, "does not provide backend, wrap(), unwrap()"),
        (LOCAL, "KEK=local-1", "OPTIONS'] must be a dict"),
        ("pkcs11", {}, "needs the option(s) LIBRARY, TOKEN_LABEL, PIN, KEY_LABEL"),
        ("pkcs11", {"LIBRARY": "x", "TOKEN_LABEL": "t", "PIN": 1234, "KEY_LABEL": "k"}, "PIN"),
        ("aws_kms", {"KEY_ID": "k", "REGOIN": "x"}, "unknown aws_kms KEY_WRAPPER option(s)"),
    ],
)
def test_bad_backend_configuration(backend, options, fragment):
    with pytest.raises(WrapperError) as caught:
        load_backend(backend, options)
    assert caught.value.code == "bad_wrapper"
    assert fragment in str(caught.value)
    assert "1234" not in str(caught.value)


def test_rewrap_moves_every_entry_to_the_new_kek_in_order(wrapper):
    other = os.urandom(32)
    entries = [wrap_entry(wrapper, 3, KEY), f"1:{base64.urlsafe_b64encode(other).decode()}"]
    new = load_backend(LOCAL, {"KEK": "local-2"})
    rewrapped = rewrap_entries(entries, new)
    assert [e.split(":")[0] for e in rewrapped] == ["3", "1"]
    assert all(base64.urlsafe_b64decode(blob_of(e)).startswith(b"local-2") for e in rewrapped)
    # The old entries still unwrap (their KEK is still there), the new ones too:
    # both give the same keys, so every sealed value still opens.
    old_ring = Keyring.parse(entries, wrapper=new)
    new_ring = Keyring.parse(rewrapped, wrapper=new)
    assert new_ring.decrypt(old_ring.encrypt(b"v", "c"), "c") == b"v"
    sealed_v1 = Keyring.parse([entries[1]]).encrypt(b"w", "c")
    assert new_ring.decrypt(sealed_v1, "c") == b"w"


def test_rewrap_is_all_or_nothing(wrapper):
    good = wrap_entry(wrapper, 2, KEY)
    keywrappers.KEKS["local-gone"] = os.urandom(32)
    gone = load_backend(LOCAL, {"KEK": "local-gone"})
    lost = wrap_entry(gone, 1, os.urandom(32))
    del keywrappers.KEKS["local-gone"]
    with pytest.raises(WrapperError, match="key version 1 could not be unwrapped"):
        rewrap_entries([good, lost], wrapper)
