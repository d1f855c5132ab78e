"""KEY_WRAPPER in a Django project: the settings, the system check, the commands."""

import base64
import os
from io import StringIO

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test.utils import override_settings

from integrations.checks import check_keyring
from integrations.crypto import Keyring
from integrations.crypto.wrapping import wrap_entry
from integrations.sealed.conf import app_settings
from tests import keywrappers, softhsm
from tests.keywrappers import LocalAesWrapper

CANARY_KEY = b"key-canary-0123456789abcdef-1618"
CANARY_TEXTS = [
    CANARY_KEY.decode(),
    base64.urlsafe_b64encode(CANARY_KEY).decode().rstrip("="),
    base64.b64encode(CANARY_KEY).decode().rstrip("="),
    softhsm.PIN,
]
PLAIN_V1 = "1:" + base64.urlsafe_b64encode(CANARY_KEY).decode()
LOCAL = {"BACKEND": "tests.keywrappers.LocalAesWrapper", "OPTIONS": {}}
needs_softhsm = pytest.mark.skipif(not softhsm.available(), reason="needs SoftHSM2")


def wrapped(version, key=CANARY_KEY, kek="local-1"):
    return wrap_entry(LocalAesWrapper({"KEK": kek}), version, key)


def assert_no_secret(text):
    for canary in CANARY_TEXTS:
        assert canary not in text


def run(command, *args):
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_wrapped_keys_seal_and_open_like_plaintext_ones():
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [wrapped(1)], "KEY_WRAPPER": LOCAL}):
        sealed = app_settings.keyring.encrypt(b"value", "ctx")
        assert check_keyring() == []
    assert Keyring.parse([PLAIN_V1]).decrypt(sealed, "ctx") == b"value"


def test_keys_are_unwrapped_once_per_process_not_per_value():
    entries = [wrapped(2, os.urandom(32)), wrapped(1)]
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": entries, "KEY_WRAPPER": LOCAL}):
        before = keywrappers.CALLS["unwrap"]
        keyring = app_settings.keyring
        for _ in range(20):
            app_settings.keyring.decrypt(app_settings.keyring.encrypt(b"v", "c"), "c")
        assert app_settings.keyring is keyring
        assert keywrappers.CALLS["unwrap"] - before == 2
        assert_no_secret(repr(keyring) + repr(app_settings.key_wrapper))


@pytest.mark.parametrize(
    ("integrations", "check_id", "fragment"),
    [
        (
            {"ENCRYPTION_KEYS": [wrapped(1)]},
            "integrations.E031",
            "key version 1 is wrapped but INTEGRATIONS['KEY_WRAPPER'] is not set",
        ),
        (
            {"ENCRYPTION_KEYS": ["3:" + wrapped(1).partition(":")[2]], "KEY_WRAPPER": LOCAL},
            "integrations.E030",
            "key version 3 could not be unwrapped by the local key wrapper",
        ),
        (
            {"ENCRYPTION_KEYS": [wrapped(1)], "KEY_WRAPPER": {"BACKEND": "no.such.Backend"}},
            "integrations.E032",
            "key wrapper backend 'no.such.Backend' cannot be imported",
        ),
        (
            {"ENCRYPTION_KEYS": [wrapped(1)], "KEY_WRAPPER": {"OPTIONS": {}}},
            "integrations.E032",
            "must be {'BACKEND': ..., 'OPTIONS': {...}}",
        ),
        (
            {"ENCRYPTION_KEYS": [wrapped(1)], "KEY_WRAPPER": "pkcs11"},
            "integrations.E004",
            "INTEGRATIONS['KEY_WRAPPER'] must be dict or NoneType",
        ),
    ],
)
def test_wrapper_problems_fail_the_check_naming_backend_and_version(
    integrations, check_id, fragment
):
    with override_settings(INTEGRATIONS=integrations):
        (error,) = check_keyring()
        with pytest.raises(Exception):  # noqa: B017 - nothing falls back to a keyring
            app_settings.keyring
    assert (error.id, error.level) == (check_id, checks.ERROR)
    assert fragment in error.msg
    assert_no_secret(error.msg + (error.hint or ""))


def test_plaintext_entries_beside_a_wrapper_are_a_warning():
    with override_settings(
        INTEGRATIONS={
            "ENCRYPTION_KEYS": [wrapped(2, os.urandom(32)), PLAIN_V1],
            "KEY_WRAPPER": LOCAL,
        }
    ):
        (warning,) = check_keyring()
    assert (warning.id, warning.level) == ("integrations.W030", checks.WARNING)
    assert "key version(s) 1 are still configured in plaintext" in warning.msg
    assert "rewrap_keys" in warning.hint
    assert_no_secret(warning.msg + warning.hint)


@needs_softhsm
@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"TOKEN_LABEL": "absent-token"}, "no token with that TOKEN_LABEL is present"),
        ({"PIN": "wrong-pin-canary-3"}, "the token refused the PIN"),
        ({"KEY_LABEL": "kek-2"}, None),  # a rotated KEY_LABEL: old entries still open
    ],
)
def test_check_against_the_softhsm_token(overrides, fragment):
    settings = softhsm.wrapped_settings([PLAIN_V1])
    settings["KEY_WRAPPER"]["OPTIONS"].update(overrides)
    with override_settings(INTEGRATIONS=settings):
        errors = check_keyring()
    if fragment is None:
        assert errors == []
        return
    (error,) = errors
    assert error.id == "integrations.E030"
    assert error.msg.startswith("key version 1 could not be unwrapped by the pkcs11 key wrapper")
    assert fragment in error.msg
    assert_no_secret(error.msg + error.hint)
    assert "wrong-pin-canary-3" not in error.msg + error.hint


def test_generate_encryption_key_wrap():
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [wrapped(4)], "KEY_WRAPPER": LOCAL}):
        out, err = run("generate_encryption_key", "--wrap")
        entry = out.strip()
        assert entry.startswith("5:wrapped:") and "\n" not in entry
        keyring = Keyring.parse([entry, wrapped(4)], wrapper=app_settings.key_wrapper)
    assert keyring.versions == (5, 4)
    assert "key version 5" in err


def test_generate_encryption_key_wrap_needs_a_wrapper():
    with (
        override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [PLAIN_V1]}),
        pytest.raises(CommandError, match="--wrap needs INTEGRATIONS\\['KEY_WRAPPER'\\]"),
    ):
        run("generate_encryption_key", "--wrap", "--key-version", "3")


def test_rewrap_keys_prints_every_entry_under_the_new_kek_primary_first():
    new_key = os.urandom(32)
    old = [wrapped(2, new_key), PLAIN_V1]
    rotated = {"BACKEND": LOCAL["BACKEND"], "OPTIONS": {"KEK": "local-2"}}
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": old, "KEY_WRAPPER": rotated}):
        sealed = app_settings.keyring.encrypt(b"kept", "c")
        out, err = run("rewrap_keys")
    lines = out.strip().splitlines()
    assert [line.split(":")[:2] for line in lines] == [["2", "wrapped"], ["1", "wrapped"]]
    for line in lines:
        assert base64.urlsafe_b64decode(line.split(":wrapped:")[1]).startswith(b"local-2")
    assert_no_secret(out + err)
    assert "2 key version(s) wrapped under the local KEK local KEK 'local-2'" in err
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": lines, "KEY_WRAPPER": rotated}):
        assert app_settings.keyring.decrypt(sealed, "c") == b"kept"
        assert check_keyring() == []


@pytest.mark.parametrize(
    ("integrations", "fragment"),
    [
        ({"ENCRYPTION_KEYS": [PLAIN_V1]}, "rewrap_keys needs INTEGRATIONS['KEY_WRAPPER']"),
        (
            {"ENCRYPTION_KEYS": ["2:" + wrapped(1).partition(":")[2]], "KEY_WRAPPER": LOCAL},
            "key version 2 could not be unwrapped",
        ),
        (
            {"KEY_PROVIDER": "tests.nowhere.provider", "KEY_WRAPPER": LOCAL},
            "rewrap_keys works on ENCRYPTION_KEYS only",
        ),
        ({"ENCRYPTION_KEYS": [PLAIN_V1, PLAIN_V1], "KEY_WRAPPER": LOCAL}, "listed twice"),
    ],
)
def test_rewrap_keys_refuses_and_prints_nothing(integrations, fragment):
    out = StringIO()
    with override_settings(INTEGRATIONS=integrations), pytest.raises(CommandError) as caught:
        call_command("rewrap_keys", stdout=out, stderr=StringIO())
    assert fragment in str(caught.value)
    assert out.getvalue() == ""
    assert_no_secret(str(caught.value))


@pytest.mark.skipif(
    os.environ.get("SEALED_TEST_WRAPPER") != "pkcs11", reason="SEALED_TEST_WRAPPER=pkcs11 only"
)
def test_the_wrapped_run_really_has_only_wrapped_keys():
    from django.conf import settings

    assert all(":wrapped:" in entry for entry in settings.INTEGRATIONS["ENCRYPTION_KEYS"])
    assert app_settings.key_wrapper.backend == "pkcs11"
    assert app_settings.keyring.versions == (2, 1)


def test_the_plaintext_warning_in_french():
    from django.utils import translation

    with (
        override_settings(
            INTEGRATIONS={
                "ENCRYPTION_KEYS": [wrapped(2, os.urandom(32)), PLAIN_V1],
                "KEY_WRAPPER": LOCAL,
            }
        ),
        translation.override("fr"),
    ):
        (warning,) = check_keyring()
    assert warning.msg.startswith("INTEGRATIONS['KEY_WRAPPER'] est défini")
    assert warning.hint.startswith("Exécutez `manage.py rewrap_keys`")


def test_check_when_kms_is_unreachable(monkeypatch):
    import socket
    import struct

    pytest.importorskip("boto3")
    from tests.motoserver import CREDENTIALS

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with socket.socket() as sock:  # a loopback port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    arn = b"arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    blob = b"KMS\x01" + struct.pack(">H", len(arn)) + arn + os.urandom(64)
    entry = "2:wrapped:" + base64.urlsafe_b64encode(blob).decode()
    wrapper = {
        "BACKEND": "aws_kms",
        "OPTIONS": {"KEY_ID": arn.decode(), "ENDPOINT_URL": f"http://127.0.0.1:{port}"},
    }
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [entry], "KEY_WRAPPER": wrapper}):
        (error,) = check_keyring()
    assert error.id == "integrations.E030"
    assert error.msg.startswith("key version 2 could not be unwrapped by the aws_kms key wrapper")
    assert "KMS is unreachable [EndpointConnectionError; KMS key " + arn.decode() in error.msg
    assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in error.msg + error.hint


# -- index keys are wrapped under a purpose of their own (issue 23) --------------------

INDEX_CANARY = b"index-canary-0123456789abcdef-42"


def test_an_index_key_entry_does_not_unwrap_as_a_data_key():
    index_entry = wrap_entry(
        LocalAesWrapper({}), 1, INDEX_CANARY, purpose="sealed-integrations index key"
    )
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [index_entry], "KEY_WRAPPER": LOCAL}):
        with pytest.raises(Exception, match="could not be unwrapped") as failed:
            app_settings.keyring  # noqa: B018
        assert_no_secret(str(failed.value))
    settings = {"ENCRYPTION_KEYS": [wrapped(2)], "INDEX_KEYS": [index_entry], "KEY_WRAPPER": LOCAL}
    with override_settings(INTEGRATIONS=settings):
        assert app_settings.index_keys.versions == (1,)


def test_index_key_entries_wrapped_before_their_purpose_still_unwrap_and_are_rewrapped():
    """Entries made by generate_encryption_key --wrap before index keys had a purpose
    of their own (the data keys' one) are not stranded: read, and re-wrapped by
    rewrap_keys --index-keys into entries that no longer unwrap as data keys."""
    from integrations.crypto.blind_index import IndexKeys

    legacy = wrapped(3, key=INDEX_CANARY)  # the data keys' purpose
    expected = IndexKeys.from_roots([(3, INDEX_CANARY)]).for_purpose("p").compute(b"v")
    settings = {"ENCRYPTION_KEYS": [wrapped(2)], "INDEX_KEYS": [legacy], "KEY_WRAPPER": LOCAL}
    with override_settings(INTEGRATIONS=settings):
        assert app_settings.index_keys.for_purpose("p").compute(b"v") == expected
        out, err = run("rewrap_keys", "--index-keys")
    (entry,) = out.split()
    assert entry.startswith("3:wrapped:") and entry != legacy
    assert "index key" in err
    assert_no_secret(out + err)
    settings["INDEX_KEYS"] = [entry]
    with override_settings(INTEGRATIONS=settings):
        assert app_settings.index_keys.for_purpose("p").compute(b"v") == expected
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [entry], "KEY_WRAPPER": LOCAL}):
        with pytest.raises(Exception, match="could not be unwrapped"):
            app_settings.keyring  # noqa: B018


def test_generate_encryption_key_wrap_index_key():
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [wrapped(2)], "KEY_WRAPPER": LOCAL}):
        out, err = run("generate_encryption_key", "--wrap", "--index-key")
        assert out.startswith("1:wrapped:") and "INDEX_KEYS" in err
        with override_settings(
            INTEGRATIONS={
                "ENCRYPTION_KEYS": [wrapped(2)],
                "INDEX_KEYS": [out],
                "KEY_WRAPPER": LOCAL,
            }
        ):
            assert app_settings.index_keys.versions == (1,)
        with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [out], "KEY_WRAPPER": LOCAL}):
            with pytest.raises(Exception, match="could not be unwrapped"):
                app_settings.keyring  # noqa: B018


def test_rewrap_keys_index_keys_needs_index_keys():
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [wrapped(2)], "KEY_WRAPPER": LOCAL}):
        with pytest.raises(CommandError, match="INDEX_KEYS"):
            run("rewrap_keys", "--index-keys")
