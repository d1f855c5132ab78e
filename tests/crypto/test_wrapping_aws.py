"""The "aws_kms" key wrapper against moto's KMS server on loopback (tests/motoserver.py)."""

import base64
import importlib.util
import socket

import pytest

from integrations.crypto import Keyring
from integrations.crypto.entries import rewrap_entries
from integrations.crypto.wrapping import WrapperError, load_backend, wrap_entry
from tests.motoserver import CREDENTIALS, REGION, MotoServer

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("moto") is None or importlib.util.find_spec("boto3") is None,
    reason="needs boto3 and moto[server] (pip install -e '.[test]')",
)
CANARY_KEY = b"key-canary-0123456789abcdef-2718"


@pytest.fixture(scope="module")
def kms():
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def key_arn(kms):
    return kms.client().create_key(Description="sealed-integrations test KEK")["KeyMetadata"]["Arn"]


def wrapper(kms, key_id, **extra):
    return load_backend(
        "aws_kms", {"KEY_ID": key_id, "REGION": REGION, "ENDPOINT_URL": kms.url, **extra}
    )


def blob(entry):
    return base64.urlsafe_b64decode(entry.split(":wrapped:")[1])


def assert_no_secret(text):
    for canary in (
        CANARY_KEY.decode(),
        base64.urlsafe_b64encode(CANARY_KEY).decode().rstrip("="),
        base64.b64encode(CANARY_KEY).decode().rstrip("="),
        CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    ):
        assert canary not in text


def failure(entry, w):
    with pytest.raises(WrapperError) as caught:
        Keyring.parse([entry], wrapper=w)
    message = str(caught.value)
    assert caught.value.code == "unwrap_failed"
    assert f"key version {caught.value.key_version} could not be unwrapped" in message
    assert "by the aws_kms key wrapper" in message
    assert_no_secret(message)
    return message


def test_round_trip_records_the_key_arn(kms, key_arn):
    w = wrapper(kms, key_arn)
    entry = wrap_entry(w, 2, CANARY_KEY)
    assert_no_secret(entry)
    assert blob(entry).startswith(b"KMS\x01") and key_arn.encode() in blob(entry)
    assert w.describe(blob(entry)) == f"KMS key {key_arn}"
    keyring = Keyring.parse([entry], wrapper=w)
    plain = Keyring.parse([f"2:{base64.urlsafe_b64encode(CANARY_KEY).decode()}"])
    assert plain.decrypt(keyring.encrypt(b"token", "c"), "c") == b"token"


def test_an_alias_is_resolved_to_the_key_it_names_when_wrapping(kms, key_arn):
    kms.client().create_alias(AliasName="alias/sealed-kek", TargetKeyId=key_arn)
    entry = wrap_entry(wrapper(kms, "alias/sealed-kek"), 1, CANARY_KEY)
    assert key_arn.encode() in blob(entry)


def test_kek_rotation_with_rewrap(kms, key_arn):
    old = wrap_entry(wrapper(kms, key_arn), 2, CANARY_KEY)
    new_arn = kms.client().create_key()["KeyMetadata"]["Arn"]
    rotated = wrapper(kms, new_arn)
    keyring = Keyring.parse([old], wrapper=rotated)  # the old KEK still exists
    (new,) = rewrap_entries([old], rotated)
    assert new_arn.encode() in blob(new) and key_arn.encode() not in blob(new)
    assert_no_secret(new)
    sealed = keyring.encrypt(b"x", "c")
    assert Keyring.parse([new], wrapper=rotated).decrypt(sealed, "c") == b"x"


def test_access_denied_when_the_kek_is_not_the_one_allowed(kms, key_arn):
    # moto models no key policy, IAM or disabled keys; it refuses a Decrypt
    # pinned (KeyId) to a key other than the ciphertext's with
    # AccessDeniedException, as KMS does.
    entry = wrap_entry(wrapper(kms, key_arn), 3, CANARY_KEY)
    other_arn = kms.client().create_key()["KeyMetadata"]["Arn"]
    swapped = blob(entry).replace(key_arn.encode(), other_arn.encode())
    message = failure(
        "3:wrapped:" + base64.urlsafe_b64encode(swapped).decode(), wrapper(kms, key_arn)
    )
    assert "access denied (the key policy or IAM does not allow it) [AccessDeniedException" in (
        message
    )
    assert other_arn in message
    # A client configured for another region does not find the key.
    elsewhere = wrapper(kms, key_arn, REGION="us-east-1")
    assert "the KMS key does not exist [NotFoundException" in failure(entry, elsewhere)


def test_a_key_id_that_does_not_exist(kms):
    with pytest.raises(WrapperError) as caught:
        wrap_entry(wrapper(kms, "11111111-2222-3333-4444-555555555555"), 1, CANARY_KEY)
    assert caught.value.code == "wrap_failed"
    assert "the KMS key does not exist [NotFoundException" in str(caught.value)


def test_kms_unreachable(kms, key_arn):
    entry = wrap_entry(wrapper(kms, key_arn), 2, CANARY_KEY)
    with socket.socket() as sock:  # a loopback port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = load_backend(
        "aws_kms", {"KEY_ID": key_arn, "REGION": REGION, "ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    )
    message = failure(entry, down)
    assert "KMS is unreachable [EndpointConnectionError" in message


def test_tampered_and_moved_blobs(kms, key_arn):
    w = wrapper(kms, key_arn)
    entry = wrap_entry(w, 2, CANARY_KEY)
    raw = bytearray(blob(entry))
    raw[-5] ^= 1
    tampered = "2:wrapped:" + base64.urlsafe_b64encode(bytes(raw)).decode()
    assert "KMS refused the ciphertext" in failure(tampered, w)
    moved = "7:" + entry.partition(":")[2]
    assert "key version 7" in failure(moved, w)
    foreign = "2:wrapped:" + base64.urlsafe_b64encode(b"P11\x01\x01k" + bytes(40)).decode()
    assert "not made by the aws_kms key wrapper" in failure(foreign, w)


def test_no_credentials(kms, key_arn, monkeypatch, tmp_path):
    entry = wrap_entry(wrapper(kms, key_arn), 2, CANARY_KEY)
    for name in CREDENTIALS:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert "no AWS credentials were found" in failure(entry, wrapper(kms, key_arn))
