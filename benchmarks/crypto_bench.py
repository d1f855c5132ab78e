"""Sealing and opening one value: the Keyring against raw AES-GCM and Fernet."""

import os
import secrets
import uuid
from itertools import repeat

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from integrations.conf import app_settings
from integrations.crypto.format import header_for

from .common import Row, Section, compare

# Tokens of 105 ASCII characters seal to 187 characters (the run prints it).
PLAINTEXT_CHARS = 105
GOAL_ROUNDTRIP = 2.0


def section(quick):
    values, repeats = (500, 3) if quick else (5_000, 15)
    keyring = app_settings.keyring
    text = secrets.token_urlsafe(PLAINTEXT_CHARS)[:PLAINTEXT_CHARS]
    plaintext = text.encode("ascii")
    # A row-bound context as EncryptedTokenField builds it.
    context = b"testapp.account.token|%s" % str(uuid.uuid4()).encode("ascii")
    sealed = keyring.encrypt(plaintext, context)

    # The baseline: AES-256-GCM with the same AAD (the Keyring authenticates
    # the header too) and no envelope: no base64, no header, no lookups.
    aesgcm = AESGCM(AESGCM.generate_key(bit_length=256))
    aad = header_for(keyring.primary_version) + context
    aes_encrypt, aes_decrypt = aesgcm.encrypt, aesgcm.decrypt
    urandom = os.urandom
    nonce = urandom(12)
    blob = nonce + aes_encrypt(nonce, plaintext, aad)
    encrypt, decrypt = keyring.encrypt, keyring.decrypt

    def raw_roundtrip():
        for _ in repeat(None, values):
            nonce = urandom(12)
            data = nonce + aes_encrypt(nonce, plaintext, aad)
            aes_decrypt(data[:12], data[12:], aad)

    def raw_seal():
        for _ in repeat(None, values):
            nonce = urandom(12)
            nonce + aes_encrypt(nonce, plaintext, aad)

    def raw_open():
        for _ in repeat(None, values):
            aes_decrypt(blob[:12], blob[12:], aad)

    def keyring_roundtrip():
        for _ in repeat(None, values):
            decrypt(encrypt(plaintext, context), context)

    def keyring_seal():
        for _ in repeat(None, values):
            encrypt(plaintext, context)

    def keyring_open():
        for _ in repeat(None, values):
            decrypt(sealed, context)

    rows = []
    for name, ours, theirs, goal in (
        ("seal+open vs raw AESGCM", keyring_roundtrip, raw_roundtrip, GOAL_ROUNDTRIP),
        ("seal only vs raw AESGCM", keyring_seal, raw_seal, None),
        ("open only vs raw AESGCM", keyring_open, raw_open, None),
    ):
        value, baseline, ratios = compare(ours, theirs, repeats=repeats)
        rows.append(Row(name, value / values, baseline / values, "µs", goal, ratios))

    notes = [
        f"{len(plaintext)}-byte plaintext -> sealed {len(sealed)} chars; "
        f"{values:,} values per sample, median of {repeats}"
    ]
    fernet = _fernet_row(text, keyring, context, values, repeats)
    if fernet is None:
        notes.append("encrypted_fields (django-fernet-encrypted-fields) not installed: skipped")
    else:
        row, fernet_chars = fernet
        rows.append(row)
        notes.append(f"encrypted_fields seals the same plaintext to {fernet_chars} chars")
    return Section("crypto: seal and open one value", rows, notes)


def _fernet_row(text, keyring, context, values, repeats):
    """Keyring against django-fernet-encrypted-fields, or None if not installed."""
    try:
        from encrypted_fields.fields import EncryptedTextField
    except ImportError:
        return None
    from django.db import connection
    from django.test import override_settings

    # Its field derives a Fernet key from SECRET_KEY and SALT_KEY (PBKDF2, once
    # per field instance: the warm-up pays for it). Both sides work on str, as
    # the fields do, so ours includes the UTF-8 encode and decode.
    with override_settings(SALT_KEY="benchmark-salt"):
        field = EncryptedTextField()
        prep, load = field.get_db_prep_value, field.from_db_value
        encrypt, decrypt = keyring.encrypt, keyring.decrypt

        def fernet_roundtrip():
            for _ in repeat(None, values):
                load(prep(text, connection), None, connection)

        def keyring_roundtrip():
            for _ in repeat(None, values):
                decrypt(encrypt(text.encode("utf-8"), context), context).decode("utf-8")

        value, baseline, ratios = compare(keyring_roundtrip, fernet_roundtrip, repeats=repeats)
        fernet_chars = len(prep(text, connection))
    row = Row(
        "seal+open vs encrypted_fields (Fernet)",
        value / values,
        baseline / values,
        "µs",
        ratios=ratios,
    )
    return row, fernet_chars
