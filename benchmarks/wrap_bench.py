"""Wrapped keys (KEY_WRAPPER): the cost of unwrapping at startup, and none per value.

Startup: building a keyring of N wrapped entries (a new wrapper, then one
unwrap per key: a login + one AES-GCM decrypt in the SoftHSM2 token, one
Decrypt call to moto's KMS server on loopback) against parsing the same N keys
in plaintext. Per value: seal+open with the keyring built from wrapped entries
against the one built from the same keys in plaintext: the keyring holds the
same AESGCM objects either way, so the ratio should be 1.00.
"""

import base64
import importlib.util
import logging
import os
import secrets
from itertools import repeat

from integrations.crypto import Keyring, generate_key
from integrations.crypto.wrapping import load_backend, wrap_entry

from .common import Row, Section, compare

# The same AESGCM objects either way: anything above 1.0 is the machine's noise.
GOAL_PER_VALUE = 1.2


def _keys(count):
    return [generate_key(version) for version in range(count, 0, -1)]


def _wrapped(entries, wrapper):
    return [
        wrap_entry(wrapper, int(v), base64.urlsafe_b64decode(k))
        for v, k in (e.split(":", 1) for e in entries)
    ]


def _backends(notes):
    """(name, backend, options, cleanup) for each backend that can run here."""
    from tests import softhsm

    found = []
    if softhsm.available():
        softhsm.ensure_token()
        found.append(("pkcs11 (SoftHSM2)", "pkcs11", softhsm.options(), None))
    else:
        notes.append("SoftHSM2 or python-pkcs11 not installed: pkcs11 skipped")
    if importlib.util.find_spec("moto") and importlib.util.find_spec("boto3"):
        from tests.motoserver import CREDENTIALS, REGION, MotoServer

        os.environ.update(CREDENTIALS)
        # "Found credentials in environment variables", once per new wrapper.
        logging.getLogger("botocore.credentials").setLevel(logging.WARNING)
        server = MotoServer()
        arn = server.client().create_key()["KeyMetadata"]["Arn"]
        options = {"KEY_ID": arn, "REGION": REGION, "ENDPOINT_URL": server.url}
        found.append(("aws_kms (moto on loopback)", "aws_kms", options, server.stop))
    else:
        notes.append("boto3 or moto not installed: aws_kms skipped")
    return found


def section(quick):
    count = 3 if quick else 10
    repeats = 3 if quick else 7
    values = 500 if quick else 5_000
    notes = [
        f"startup: a new wrapper and {count} keys unwrapped (median of {repeats}); "
        f"per value: {values:,} seal+open of a 105-byte token per sample"
    ]
    rows = []
    plain = _keys(count)
    plaintext = secrets.token_urlsafe(105)[:105].encode("ascii")
    context = b"testapp.account.token|bench"
    for name, backend, options, cleanup in _backends(notes):
        try:
            entries = _wrapped(plain, load_backend(backend, options))

            def unwrap_all(backend=backend, options=options, entries=entries):
                Keyring.parse(entries, wrapper=load_backend(backend, options))

            def parse_plain():
                Keyring.parse(plain)

            value, baseline, ratios = compare(unwrap_all, parse_plain, repeats=repeats)
            rows.append(
                Row(
                    f"startup, {count} keys: {name} vs plaintext",
                    value,
                    baseline,
                    "ms",
                    None,
                    ratios,
                )
            )

            wrapped_ring = Keyring.parse(entries, wrapper=load_backend(backend, options))
            plain_ring = Keyring.parse(plain)

            def roundtrip(ring):
                encrypt, decrypt = ring.encrypt, ring.decrypt

                def run():
                    for _ in repeat(None, values):
                        decrypt(encrypt(plaintext, context), context)

                return run

            value, baseline, ratios = compare(
                roundtrip(wrapped_ring), roundtrip(plain_ring), repeats=repeats
            )
            rows.append(
                Row(
                    f"seal+open per value: {name} keys vs plaintext keys",
                    value / values,
                    baseline / values,
                    "µs",
                    GOAL_PER_VALUE,
                    ratios,
                )
            )
        finally:
            if cleanup is not None:
                cleanup()
    return Section("key wrappers: startup unwrapping and per-value cost", rows, notes)
