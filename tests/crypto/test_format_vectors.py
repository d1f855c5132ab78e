"""The test vectors of docs/FORMAT.md, reproduced two independent ways."""

import base64
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from integrations.crypto import Keyring
from integrations.crypto.format import to_binary, to_text

FORMAT_MD = Path(__file__).resolve().parents[2] / "docs" / "FORMAT.md"


def _vectors_from_the_document():
    text = FORMAT_MD.read_text(encoding="utf-8")
    blocks = re.findall(r"### Vector \d+[^\n]*\n\n```\n(.*?)```", text, re.S)
    vectors = []
    for block in blocks:
        fields = dict(re.findall(r"^(\w+):\s*(.*?)\s*$", block, re.M))
        vectors.append(
            {
                "version": int(fields["version"]),
                "key": base64.urlsafe_b64decode(fields["key"]),
                "nonce": bytes.fromhex(fields["nonce"]),
                "context": b"" if fields["context"] == "(empty)" else fields["context"].encode(),
                "plaintext": b""
                if fields["plaintext"] == "(empty)"
                else bytes.fromhex(fields["plaintext"].split()[0]),
                "sealed": fields["sealed"],
                "binary": bytes.fromhex(fields["binary"]),
            }
        )
    return vectors


VECTORS = _vectors_from_the_document()


def test_the_document_has_at_least_three_vectors():
    assert len(VECTORS) >= 3
    assert all(vector["binary"] for vector in VECTORS)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"v{v['version']}")
def test_our_code_reproduces_the_vector(vector):
    ring = Keyring([(vector["version"], vector["key"])])
    sealed = ring._encrypt_with_nonce(vector["plaintext"], vector["context"], vector["nonce"])
    assert sealed == vector["sealed"]
    assert ring.decrypt(vector["sealed"], vector["context"]) == vector["plaintext"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"v{v['version']}")
def test_the_specification_alone_reproduces_the_vector(vector):
    """Build the string from FORMAT.md's rules with raw AES-GCM, not our module."""
    header = b"$si1$" + str(vector["version"]).encode() + b"$"
    aad = header + vector["context"]
    ct_and_tag = AESGCM(vector["key"]).encrypt(vector["nonce"], vector["plaintext"], aad)
    body = base64.urlsafe_b64encode(vector["nonce"] + ct_and_tag)
    assert (header + body).decode() == vector["sealed"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"v{v['version']}")
def test_our_code_reproduces_the_binary_vector(vector):
    ring = Keyring([(vector["version"], vector["key"])])
    sealed = ring._encrypt_binary_with_nonce(
        vector["plaintext"], vector["context"], vector["nonce"]
    )
    assert sealed == vector["binary"]
    assert ring.decrypt_binary(vector["binary"], vector["context"]) == vector["plaintext"]
    # decrypt() takes either form; the forms convert without a key.
    assert ring.decrypt(vector["binary"], vector["context"]) == vector["plaintext"]
    assert to_binary(vector["sealed"]) == vector["binary"]
    assert to_text(vector["binary"]) == vector["sealed"]
    assert ring.key_version(vector["binary"]) == vector["version"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"v{v['version']}")
def test_the_specification_alone_reproduces_the_binary_vector(vector):
    """header || nonce || ct || tag, with the same AAD as the text form."""
    header = b"$si1$" + str(vector["version"]).encode() + b"$"
    aad = header + vector["context"]
    ct_and_tag = AESGCM(vector["key"]).encrypt(vector["nonce"], vector["plaintext"], aad)
    assert header + vector["nonce"] + ct_and_tag == vector["binary"]
