"""Blind-index keys and values (integrations.crypto.blind_index): the KDF is the
documented HKDF, each column gets its own key, lookups see every key version."""

import base64
import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from integrations.crypto import IndexKeys, Keyring, KeyringError, generate_key
from integrations.crypto.blind_index import INFO_PREFIX

KEY_V1 = bytes(range(32))
KEY_V2 = bytes(range(32, 64))


def entry(version, key):
    return f"{version}:{base64.urlsafe_b64encode(key).decode()}"


def expected_index(root, purpose, value, length=16, version=1):
    """The index as docs/how-to/searchable-fields.md specifies it, from first principles."""
    key = HKDF(hashes.SHA256(), 32, salt=None, info=INFO_PREFIX + purpose).derive(root)
    mac = hmac.new(key, value, hashlib.sha256).digest()[:length]
    return f"{version}:" + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def test_index_is_hkdf_then_truncated_hmac_with_its_key_version():
    keyring = Keyring.parse([entry(2, KEY_V2), entry(1, KEY_V1)])
    index = keyring.index_keys().for_purpose("app.model.field")
    assert index.compute(b"value") == expected_index(
        KEY_V2, b"app.model.field", b"value", version=2
    )
    assert index.candidates(b"value") == [
        expected_index(KEY_V2, b"app.model.field", b"value", version=2),
        expected_index(KEY_V1, b"app.model.field", b"value", version=1),
    ]


def test_explicit_index_keys_use_the_same_kdf():
    keys = IndexKeys.parse(f"{entry(7, KEY_V1)},")
    assert keys.versions == (7,)
    assert keys.for_purpose("p").compute(b"x") == expected_index(KEY_V1, b"p", b"x", version=7)


@pytest.mark.parametrize("length", [8, 16, 32])
def test_truncation_length_sets_the_encoded_size(length):
    index = IndexKeys.from_roots([(3, KEY_V1)]).for_purpose("p", length)
    value = index.compute(b"x")
    assert value == expected_index(KEY_V1, b"p", b"x", length=length, version=3)
    assert len(value) == index.current_length
    assert index.is_current(value)


@pytest.mark.parametrize("length", [7, 33, 0, True])
def test_truncation_outside_8_to_32_bytes_is_refused(length):
    with pytest.raises(ValueError, match="8 to 32"):
        IndexKeys.from_roots([(1, KEY_V1)]).for_purpose("p", length)


def test_each_purpose_and_each_value_gets_its_own_index():
    keys = IndexKeys.from_roots([(1, KEY_V1)])
    a, b = keys.for_purpose("a"), keys.for_purpose("b")
    assert a.compute(b"same") != b.compute(b"same")
    assert a.compute(b"one") != a.compute(b"two")
    assert a.compute(b"same") == keys.for_purpose(b"a").compute(b"same")


def test_index_keys_differ_from_the_encryption_key_they_derive_from():
    """Domain separation: the index key is not the AES key, nor a plain HMAC under it."""
    index = Keyring.parse([entry(1, KEY_V1)]).index_keys().for_purpose("p")
    plain_hmac = hmac.new(KEY_V1, b"x", hashlib.sha256).digest()[:16]
    assert index.compute(b"x") != "1:" + base64.urlsafe_b64encode(plain_hmac).decode().rstrip("=")


def test_stale_indexes_are_recognised_by_version_and_length():
    old = IndexKeys.from_roots([(1, KEY_V1)]).for_purpose("p")
    new = IndexKeys.from_roots([(2, KEY_V2), (1, KEY_V1)]).for_purpose("p")
    assert not new.is_current(old.compute(b"x"))
    assert new.is_current(new.compute(b"x"))
    longer = IndexKeys.from_roots([(2, KEY_V2)]).for_purpose("p", 20)
    assert not new.is_current(longer.compute(b"x"))
    assert old.compute(b"x") in new.candidates(b"x")


def test_retired_versions_find_nothing():
    keyring = Keyring.parse([entry(2, KEY_V2), entry(1, KEY_V1)], min_decryption_version=2)
    assert keyring.index_keys().versions == (2,)
    assert Keyring.parse([entry(2, KEY_V2), entry(1, KEY_V1)]).with_min_decryption_version(
        2
    ).index_keys().versions == (2,)


@pytest.mark.parametrize("spec", ["1:not-base64!", "nope", "1:" + "A" * 10, [3]])
def test_malformed_index_keys_are_refused_without_echoing_them(spec):
    with pytest.raises(KeyringError) as caught:
        IndexKeys.parse(spec)
    assert "not-base64" not in str(caught.value) and "nope" not in str(caught.value)


def test_no_key_material_in_repr():
    key = generate_key(1)
    keys = IndexKeys.parse([key])
    text = repr(keys) + repr(keys.for_purpose("p"))
    assert key.split(":")[1] not in text
    assert "versions=[1]" in repr(keys)
