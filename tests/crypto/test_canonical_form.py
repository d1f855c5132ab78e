"""The sealed format enforces its own rules on every supported Python.

Two gaps the platform leaves open: Python 3.11/3.12's strict base64 decoding
accepts excess ``=`` padding (3.13 refuses it), and ``int()`` refuses strings of
thousands of digits with a bare ``ValueError``. Neither may decide what we accept
or what we raise.
"""

import binascii
import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest

from integrations.crypto import CryptoError, Keyring, MalformedValueError, generate_key, is_sealed
from integrations.crypto import format as sealed_format
from integrations.crypto import keyring as keyring_module

CRYPTO_PACKAGE = Path(sealed_format.__file__).resolve().parent


@pytest.fixture(scope="module")
def keyring():
    return Keyring.parse([generate_key(2), generate_key(1)])


def _with_version(sealed, version_text):
    body = sealed.split("$", 3)[3]
    return f"$si1${version_text}${body}"


class TestKeyVersionDigits:
    @pytest.mark.parametrize("digits", [10, 11, 50])
    def test_more_than_nine_digits_is_malformed(self, keyring, digits):
        value = _with_version(keyring.encrypt(b"x", b"ctx"), "1" * digits)
        for read in (keyring.key_version, keyring.needs_reseal):
            with pytest.raises(MalformedValueError):
                read(value)
        with pytest.raises(MalformedValueError):
            keyring.decrypt(value, b"ctx")
        assert not is_sealed(value)

    def test_nine_digits_is_still_a_version(self, keyring):
        value = _with_version(keyring.encrypt(b"x", b"ctx"), "999999999")
        assert keyring.key_version(value) == 999999999

    def test_thousands_of_digits_raise_a_crypto_error_without_the_number(self, keyring):
        digits = "7" * 5000  # past CPython's int-conversion limit (4300 digits)
        value = _with_version(keyring.encrypt(b"x", b"ctx"), digits)
        for call in (
            lambda: keyring.decrypt(value, b"ctx"),
            lambda: keyring.key_version(value),
            lambda: keyring.needs_reseal(value),
        ):
            with pytest.raises(CryptoError) as caught:
                call()
            assert "7777777777" not in str(caught.value)
        assert not is_sealed(value)

    @pytest.mark.django_db
    def test_a_field_read_raises_a_crypto_error_naming_the_row(self):
        from tests.dbutil import write_raw
        from tests.testapp.models import Account

        account = Account.objects.create(token="value")
        write_raw(Account, "token", account.pk, _with_version(account.token_sealed, "7" * 5000))
        fresh = Account.objects.get(pk=account.pk)
        with pytest.raises(CryptoError) as caught:
            fresh.token  # noqa: B018
        assert str(account.pk) in str(caught.value)
        assert "7777777777" not in str(caught.value)


def _lenient_a2b(data, strict_mode=False):
    """Python 3.11/3.12's strict decoding: excess '=' after the data is ignored."""
    text = data.encode("ascii") if isinstance(data, str) else bytes(data)
    stripped = text.rstrip(b"=")
    needed = -len(stripped) % 4
    return binascii.a2b_base64(stripped + b"=" * needed, strict_mode=strict_mode)


class TestExcessPadding:
    @pytest.mark.parametrize("size", [0, 1, 2, 3, 40])
    @pytest.mark.parametrize("extra", ["=", "==", "===", "===="])
    def test_refused_even_by_a_decoder_that_accepts_it(self, keyring, monkeypatch, size, extra):
        # Emulate the oldest supported Pythons on whatever runs the suite.
        monkeypatch.setattr(sealed_format, "_a2b", _lenient_a2b)
        monkeypatch.setattr(keyring_module, "_a2b", _lenient_a2b)
        sealed = keyring.encrypt(os.urandom(size), b"ctx")
        assert keyring.decrypt(sealed, b"ctx") is not None
        padded = sealed + extra
        assert _lenient_a2b(padded.split("$")[3].replace("-", "+").replace("_", "/")) == (
            _lenient_a2b(sealed.split("$")[3].replace("-", "+").replace("_", "/"))
        )
        with pytest.raises(MalformedValueError):
            keyring.decrypt(padded, b"ctx")
        assert not is_sealed(padded)

    def test_encoded_length_is_the_one_writers_produce(self, keyring):
        for size in range(0, 64):
            sealed = keyring.encrypt(os.urandom(size), b"")
            body = sealed.split("$")[3]
            assert len(body) == sealed_format.encoded_length(12 + size + 16)


_PROBE = r"""
import importlib.util, os, sys
spec = importlib.util.spec_from_file_location(
    "sealedcrypto", os.path.join(sys.argv[1], "__init__.py"),
    submodule_search_locations=[sys.argv[1]])
crypto = importlib.util.module_from_spec(spec)
sys.modules["sealedcrypto"] = crypto
spec.loader.exec_module(crypto)
ring = crypto.Keyring.parse([crypto.generate_key(1)])
accepted = []
for size in (0, 1, 2, 3, 40):
    sealed = ring.encrypt(os.urandom(size), b"c")
    for extra in ("=", "==", "===", "===="):
        try:
            ring.decrypt(sealed + extra, b"c")
        except crypto.MalformedValueError:
            continue
        accepted.append((size, extra))
        if crypto.is_sealed(sealed + extra):
            accepted.append(("is_sealed", size, extra))
print("accepted:", accepted)
sys.exit(1 if accepted else 0)
"""


def _interpreters_with_cryptography():
    """Every Python >= 3.11 here (pyenv's included) that can import cryptography."""
    found = {sys.executable}
    found.update(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[1-9]*/bin/python3")))
    usable = []
    for python in sorted(found):
        probe = subprocess.run(
            [python, "-c", "import sys, cryptography; sys.exit(sys.version_info < (3, 11))"],
            capture_output=True,
        )
        if probe.returncode == 0:
            usable.append(python)
    return usable


@pytest.mark.parametrize("python", _interpreters_with_cryptography())
def test_real_interpreters_refuse_excess_padding(python):
    """The crypto core (no Django) on each real interpreter, the oldest included."""
    result = subprocess.run(
        [python, "-c", _PROBE, str(CRYPTO_PACKAGE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
