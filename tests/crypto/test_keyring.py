import base64
import binascii
import os
import threading

import pytest

from integrations.crypto import (
    PREFIX,
    CryptoError,
    DecryptionError,
    Keyring,
    KeyringError,
    MalformedValueError,
    MissingKeysError,
    NotSealedError,
    UnknownKeyVersionError,
    generate_key,
    is_sealed,
)

CANARY_KEY = bytes(range(32))
CANARY_KEY_TEXT = base64.urlsafe_b64encode(CANARY_KEY).decode()
CANARY_PLAINTEXT = b"canary-plaintext-91c2f0-never-in-messages"


@pytest.fixture(scope="module")
def keyring():
    return Keyring.parse([generate_key(2), generate_key(1)])


def assert_no_secret(text):
    assert CANARY_KEY_TEXT not in text
    assert CANARY_KEY_TEXT.rstrip("=") not in text
    assert CANARY_PLAINTEXT.decode() not in text


class TestParse:
    def test_comma_separated_string_primary_first(self):
        ring = Keyring.parse(f" {generate_key(3)} , {generate_key(1)},")
        assert ring.primary_version == 3
        assert ring.versions == (3, 1)

    def test_list_form_equals_string_form(self):
        entries = [generate_key(5), generate_key(4)]
        sealed = Keyring.parse(entries).encrypt(b"x")
        assert Keyring.parse(",".join(entries)).decrypt(sealed) == b"x"

    def test_standard_and_unpadded_base64_are_accepted(self):
        key = os.urandom(32)
        standard = base64.b64encode(key).decode()
        unpadded = base64.urlsafe_b64encode(key).decode().rstrip("=")
        sealed = Keyring.parse(f"1:{standard}").encrypt(b"v")
        assert Keyring.parse(f"1:{unpadded}").decrypt(sealed) == b"v"

    @pytest.mark.parametrize("spec", ["", " , ", [], ["  "]])
    def test_empty(self, spec):
        with pytest.raises(MissingKeysError) as info:
            Keyring.parse(spec)
        assert info.value.code == "missing"

    def test_duplicate_version_names_the_version(self):
        with pytest.raises(KeyringError, match="key version 7 is listed twice") as info:
            Keyring.parse([generate_key(7), f"7:{CANARY_KEY_TEXT}"])
        assert info.value.code == "duplicate"
        assert_no_secret(str(info.value))

    @pytest.mark.parametrize(
        ("entry", "code", "fragment"),
        [
            (
                f"3:{base64.b64encode(bytes(31)).decode()}",
                "bad_length",
                "key version 3 is 31 bytes",
            ),
            (
                f"3:{base64.b64encode(bytes(33)).decode()}",
                "bad_length",
                "key version 3 is 33 bytes",
            ),
            ("3:not*base64!", "bad_base64", "key version 3 is not valid base64"),
            ("3:QUJD=A", "bad_base64", "key version 3 is not valid base64"),
            (CANARY_KEY_TEXT, "bad_entry", "does not start with a version"),
            (f"0:{CANARY_KEY_TEXT}", "bad_entry", "does not start with a version"),
            (f"-1:{CANARY_KEY_TEXT}", "bad_entry", "does not start with a version"),
            (f"x:{CANARY_KEY_TEXT}", "bad_entry", "does not start with a version"),
            (f"01:{CANARY_KEY_TEXT}", "bad_entry", "does not start with a version"),
        ],
    )
    def test_malformed_entries_name_the_version_never_the_key(self, entry, code, fragment):
        with pytest.raises(KeyringError) as info:
            Keyring.parse([entry])
        assert info.value.code == code
        assert fragment in str(info.value)
        assert_no_secret(str(info.value))
        assert_no_secret(repr(info.value))

    def test_non_string_spec(self):
        with pytest.raises(KeyringError):
            Keyring.parse(42)
        with pytest.raises(KeyringError):
            Keyring.parse([42])

    def test_repr_shows_versions_only(self):
        ring = Keyring.parse(f"9:{CANARY_KEY_TEXT}")
        assert repr(ring) == "<Keyring primary=9 versions=[9]>"
        assert not hasattr(ring, "__dict__")  # no stray attribute can hold key bytes

    def test_generate_key_is_random_and_valid(self):
        first, second = generate_key(1), generate_key(1)
        assert first != second
        assert first.startswith("1:")
        assert len(base64.urlsafe_b64decode(first[2:])) == 32
        with pytest.raises(KeyringError):
            generate_key(0)


class TestRoundTrip:
    @pytest.mark.parametrize(
        "plaintext",
        [b"", b"a", b"token-" * 20, "h\u00e9llo \u2603 \U0001f600".encode(), os.urandom(333)],
    )
    def test_round_trip(self, keyring, plaintext):
        sealed = keyring.encrypt(plaintext, b"ctx")
        assert sealed.startswith(f"{PREFIX}2$")
        assert sealed.isascii()
        assert keyring.decrypt(sealed, b"ctx") == plaintext

    def test_one_megabyte(self, keyring):
        plaintext = os.urandom(1024 * 1024)
        sealed = keyring.encrypt(plaintext, b"big")
        assert keyring.decrypt(sealed, b"big") == plaintext
        truncated = sealed[:-8] + sealed[-4:]
        with pytest.raises(CryptoError):
            keyring.decrypt(truncated, b"big")

    def test_every_seal_uses_a_fresh_nonce(self, keyring):
        values = {keyring.encrypt(b"same", b"c") for _ in range(200)}
        assert len(values) == 200

    def test_str_context_equals_its_utf8_bytes(self, keyring):
        sealed = keyring.encrypt(b"v", "caf\u00e9")
        assert keyring.decrypt(sealed, "caf\u00e9".encode()) == b"v"

    def test_context_binds_the_value(self, keyring):
        sealed = keyring.encrypt(b"v", b"column-a|row-1")
        for other in (b"column-b|row-1", b"column-a|row-2", b"", b"column-a|row-1 "):
            with pytest.raises(DecryptionError):
                keyring.decrypt(sealed, other)

    def test_header_is_authenticated_with_the_context(self, keyring):
        # Moving bytes between header and context must not verify.
        sealed = keyring.encrypt(b"v", b"x")
        with pytest.raises(CryptoError):
            keyring.decrypt(sealed.replace("$2$", "$2$x", 1), b"")


class TestRotation:
    def test_old_key_still_opens_and_new_writes_use_primary(self):
        old, new = generate_key(1), generate_key(2)
        before = Keyring.parse([old])
        sealed_old = before.encrypt(b"secret", b"c")
        after = Keyring.parse([new, old])
        assert after.decrypt(sealed_old, b"c") == b"secret"
        sealed_new = after.encrypt(b"secret", b"c")
        assert after.key_version(sealed_old) == 1
        assert after.key_version(sealed_new) == 2
        assert after.needs_reseal(sealed_old) is True
        assert after.needs_reseal(sealed_new) is False
        with pytest.raises(UnknownKeyVersionError) as info:
            before.decrypt(sealed_new, b"c")
        assert info.value.key_version == 2
        assert "key version 2" in str(info.value)

    def test_key_version_needs_no_key(self):
        sealed = Keyring.parse([generate_key(12)]).encrypt(b"v")
        assert Keyring.parse([generate_key(1)]).key_version(sealed) == 12

    def test_wrong_key_with_same_version(self):
        sealed = Keyring.parse([generate_key(1)]).encrypt(b"v")
        with pytest.raises(DecryptionError) as info:
            Keyring.parse([generate_key(1)]).decrypt(sealed)
        assert info.value.key_version == 1

    def test_key_version_of_plaintext(self, keyring):
        with pytest.raises(NotSealedError):
            keyring.key_version("plain token")
        with pytest.raises(NotSealedError):
            keyring.needs_reseal("plain token")


def _flip_every_bit(text):
    data = text.encode("ascii")
    for index in range(len(data)):
        for bit in range(8):
            mutated = bytearray(data)
            mutated[index] ^= 1 << bit
            yield bytes(mutated).decode("latin-1")


def _payload_flips(sealed):
    """Flip every bit of the decoded nonce, ciphertext and tag, re-encoded validly."""
    header, _, body = sealed.rpartition("$")
    payload = base64.urlsafe_b64decode(body)
    for index in range(len(payload)):
        for bit in range(8):
            mutated = bytearray(payload)
            mutated[index] ^= 1 << bit
            yield f"{header}${base64.urlsafe_b64encode(bytes(mutated)).decode()}"


class TestTamperMatrix:
    @pytest.mark.parametrize("size", [0, 1, 2, 3, 16, 105])
    def test_every_bit_of_the_text_is_covered(self, keyring, size):
        plaintext = os.urandom(size)
        sealed = keyring.encrypt(plaintext, b"ctx")
        for mutated in _flip_every_bit(sealed):
            with pytest.raises(CryptoError):
                keyring.decrypt(mutated, b"ctx")

    @pytest.mark.parametrize("size", [0, 5, 64])
    def test_every_bit_of_nonce_body_and_tag_is_covered(self, keyring, size):
        sealed = keyring.encrypt(os.urandom(size), b"ctx")
        flips = list(_payload_flips(sealed))
        assert len(flips) == (12 + size + 16) * 8
        for mutated in flips:
            with pytest.raises(DecryptionError):
                keyring.decrypt(mutated, b"ctx")

    def test_truncation_at_every_length(self, keyring):
        sealed = keyring.encrypt(b"some secret value", b"ctx")
        for end in range(len(sealed)):
            with pytest.raises(CryptoError):
                keyring.decrypt(sealed[:end], b"ctx")

    @pytest.mark.parametrize("suffix", ["=", "==", "A", "AAAA", " ", "\n", "\x00", "$", "\u00e9"])
    def test_padding_and_appended_bytes(self, keyring, suffix):
        sealed = keyring.encrypt(b"value", b"ctx")
        with pytest.raises(CryptoError):
            keyring.decrypt(sealed + suffix, b"ctx")
        with pytest.raises(CryptoError):
            keyring.decrypt(suffix + sealed, b"ctx")

    def test_non_canonical_trailing_bits_are_rejected(self, keyring):
        # nonce + tag are 28 bytes: 0 more bytes pad with "==", 1 more with "=".
        for size in (0, 1):
            sealed = keyring.encrypt(os.urandom(size), b"ctx")
            assert sealed.endswith("=")
            head, tail = sealed.rstrip("="), sealed[len(sealed.rstrip("=")) :]
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            last = alphabet.index(head[-1])
            unused = 0x0F if tail == "==" else 0x03
            for extra in range(1, unused + 1):
                variant = head[:-1] + alphabet[last | extra] + tail
                if variant == sealed:
                    continue
                # A lenient decoder yields the same bytes; we must refuse.
                assert binascii.a2b_base64(variant.replace("-", "+").replace("_", "/")) == (
                    binascii.a2b_base64(sealed.replace("-", "+").replace("_", "/"))
                )
                with pytest.raises(MalformedValueError):
                    keyring.decrypt(variant, b"ctx")
                assert not is_sealed(variant)

    def test_standard_alphabet_inside_value_is_rejected(self, keyring):
        for _ in range(50):
            sealed = keyring.encrypt(os.urandom(30), b"c")
            if "-" in sealed or "_" in sealed:
                break
        std = sealed.replace("-", "+").replace("_", "/")
        with pytest.raises(MalformedValueError):
            keyring.decrypt(std, b"c")

    @pytest.mark.parametrize(
        ("value", "error"),
        [
            ("plain-oauth-token", NotSealedError),
            ("", NotSealedError),
            ("$si2$1$AAAA", NotSealedError),
            ("si1$1$AAAA", NotSealedError),
            ("caf\u00e9", NotSealedError),
            ("$si1$", MalformedValueError),
            ("$si1$$AAAA", MalformedValueError),
            ("$si1$01$" + "A" * 40, MalformedValueError),
            ("$si1$+1$" + "A" * 40, MalformedValueError),
            ("$si1$1", MalformedValueError),
            ("$si1$1$", MalformedValueError),
            ("$si1$1$AAAA", MalformedValueError),
            ("$si1$1$" + "A" * 37 + "\u00e9", MalformedValueError),
            ("$si1$\u0661$" + "A" * 40, MalformedValueError),
        ],
    )
    def test_malformed_values(self, keyring, value, error):
        with pytest.raises(error):
            keyring.decrypt(value, b"")
        assert not is_sealed(value)

    def test_non_string_input(self, keyring):
        with pytest.raises(MalformedValueError):
            keyring.decrypt(b"$si1$1$AAAA", b"")
        with pytest.raises(MalformedValueError):
            keyring.decrypt(None, b"")

    def test_unknown_version(self, keyring):
        other = Keyring.parse([generate_key(77)])
        with pytest.raises(UnknownKeyVersionError) as info:
            keyring.decrypt(other.encrypt(b"v"), b"")
        assert info.value.key_version == 77
        assert "versions: 2, 1" in str(info.value)

    def test_every_failure_is_a_crypto_error(self):
        for cls in (
            KeyringError,
            MissingKeysError,
            NotSealedError,
            MalformedValueError,
            UnknownKeyVersionError,
            DecryptionError,
        ):
            assert issubclass(cls, CryptoError)


class TestIsSealed:
    def test_sealed_and_not(self, keyring):
        sealed = keyring.encrypt(b"v")
        assert is_sealed(sealed)
        assert not is_sealed(sealed[:-2])
        assert not is_sealed(None)
        assert not is_sealed(b"bytes")
        assert not is_sealed("ya29.a0AfH6SMB-plain-google-token")


def test_concurrent_use_from_threads(keyring):
    errors = []

    def worker(seed):
        try:
            for i in range(300):
                plaintext = f"{seed}-{i}".encode()
                context = f"row-{seed}".encode()
                assert keyring.decrypt(keyring.encrypt(plaintext, context), context) == plaintext
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_no_message_contains_a_key_or_plaintext():
    ring = Keyring.parse([f"3:{CANARY_KEY_TEXT}"])
    sealed = ring.encrypt(CANARY_PLAINTEXT, b"ctx")
    attempts = [
        lambda: ring.decrypt(sealed, b"other"),
        lambda: ring.decrypt(sealed[:-6], b"ctx"),
        lambda: Keyring.parse([generate_key(1)]).decrypt(sealed),
        lambda: Keyring.parse([generate_key(3)]).decrypt(sealed, b"ctx"),
        lambda: ring.decrypt(CANARY_PLAINTEXT.decode(), b"ctx"),
        lambda: Keyring.parse([f"3:{CANARY_KEY_TEXT}", f"3:{CANARY_KEY_TEXT}"]),
        lambda: Keyring.parse([CANARY_KEY_TEXT]),
        lambda: Keyring.parse([f"3:{CANARY_KEY_TEXT[:-3]}"]),
    ]
    for attempt in attempts:
        with pytest.raises(CryptoError) as info:
            attempt()
        assert_no_secret(str(info.value))
        assert_no_secret(repr(info.value))
        assert sealed not in str(info.value)
