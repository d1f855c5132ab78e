"""``binary=True``: sealed fields stored as bytes in a binary column (bytea/BLOB)."""

import pickle
import uuid

import pytest
from django.core import serializers
from django.core.exceptions import FieldError
from django.db import connection
from django.test.utils import override_settings

from integrations.conf import app_settings
from integrations.crypto import (
    DecryptionError,
    MalformedValueError,
    NotSealedError,
    UnknownKeyVersionError,
    is_sealed,
)
from integrations.crypto.format import to_binary, to_text
from integrations.fields import EncryptedJSONField, EncryptedTokenField
from tests.dbutil import raw_column, write_raw
from tests.settings import TEST_KEY_V1, TEST_KEY_V2
from tests.testapp.models import Account, BinaryAccount, BinarySettings

pytestmark = pytest.mark.django_db


def fresh(instance):
    return type(instance).objects.get(pk=instance.pk)


def stored(model, column, pk):
    value = raw_column(model, column, pk)
    return bytes(value) if isinstance(value, memoryview) else value


class TestStorage:
    def test_the_column_is_binary(self):
        field = BinaryAccount._meta.get_field("token")
        expected = {"postgresql": "bytea", "sqlite": "BLOB"}[connection.vendor]
        assert field.db_type(connection) == expected
        assert Account._meta.get_field("token").db_type(connection) != expected

    def test_the_column_holds_the_binary_envelope_not_base64(self):
        account = BinaryAccount.objects.create(token="ya29.secret-token")
        raw = stored(BinaryAccount, "token", account.pk)
        assert isinstance(raw, bytes)
        assert raw.startswith(b"$si1$2$")
        assert b"ya29" not in raw
        # header 7 + nonce 12 + plaintext 17 + tag 16: no base64 growth
        assert len(raw) == 7 + 12 + len("ya29.secret-token") + 16
        assert is_sealed(raw)
        # The same envelope as the text form, byte for byte.
        assert to_binary(to_text(raw)) == raw

    @pytest.mark.parametrize("value", ["x", "h\u00e9llo \u2603 \U0001f600 \u0000", "a" * 50_000])
    def test_token_round_trip(self, value):
        account = BinaryAccount.objects.create(token=value)
        assert fresh(account).token == value

    def test_json_round_trip(self):
        value = {"a": [1, 2.5, None, {"b": "\u00e9"}], "t": True}
        account = BinaryAccount.objects.create(data=value)
        assert fresh(account).data == value

    def test_none_is_null_and_empty_stays_empty(self):
        account = BinaryAccount.objects.create(token=None, other_token="")
        assert stored(BinaryAccount, "token", account.pk) is None
        assert stored(BinaryAccount, "other_token", account.pk) == b""
        loaded = fresh(account)
        assert loaded.token is None
        assert loaded.other_token == ""
        assert BinaryAccount.objects.filter(token__isnull=True).count() == 1

    def test_auto_key_model_binds_to_the_column(self):
        row = BinarySettings.objects.create(token="t", data={"k": 1})
        loaded = fresh(row)
        assert (loaded.token, loaded.data) == ("t", {"k": 1})

    def test_attname_and_values_give_the_sealed_bytes(self):
        account = BinaryAccount.objects.create(token="secret-1")
        loaded = fresh(account)
        assert isinstance(loaded.token_sealed, bytes)
        (value,) = BinaryAccount.objects.values_list("token", flat=True)
        assert isinstance(value, bytes) and b"secret-1" not in value

    def test_lazy_opening_opens_nothing_until_read(self, monkeypatch):
        BinaryAccount.objects.create(token="a", other_token="b")
        calls = []
        original = type(app_settings.keyring).decrypt_binary

        def counting(self, *args, **kwargs):
            calls.append(1)
            return original(self, *args, **kwargs)

        monkeypatch.setattr(type(app_settings.keyring), "decrypt_binary", counting)
        (loaded,) = BinaryAccount.objects.all()
        assert calls == []
        assert loaded.token == "a"
        assert len(calls) == 1

    def test_save_without_change_writes_the_same_bytes(self):
        account = BinaryAccount.objects.create(token="keep")
        before = stored(BinaryAccount, "token", account.pk)
        loaded = fresh(account)
        loaded.label = "renamed"
        loaded.save()
        assert stored(BinaryAccount, "token", account.pk) == before
        loaded.token  # opened, unchanged: still not re-sealed
        loaded.save()
        assert stored(BinaryAccount, "token", account.pk) == before

    def test_json_edited_in_place_is_saved(self):
        account = BinaryAccount.objects.create(data={"n": 1})
        loaded = fresh(account)
        loaded.data["n"] = 2
        loaded.save()
        assert fresh(account).data == {"n": 2}

    def test_update_and_bulk_paths(self):
        rows = BinaryAccount.objects.bulk_create(
            [BinaryAccount(token=f"t{i}", data={"i": i}) for i in range(5)]
        )
        for row in rows:
            row.token = row.token + "-new"
        BinaryAccount.objects.bulk_update(rows, ["token"])
        assert sorted(r.token for r in BinaryAccount.objects.all()) == [
            f"t{i}-new" for i in range(5)
        ]
        # Column-bound (auto key): QuerySet.update() can seal plaintext.
        BinarySettings.objects.create(token="old")
        BinarySettings.objects.update(token="new")
        assert BinarySettings.objects.get().token == "new"
        # Row-bound: it cannot, and says so.
        with pytest.raises(FieldError):
            BinaryAccount.objects.update(token="x")

    def test_refresh_from_db_and_pickle(self):
        account = BinaryAccount.objects.create(token="p")
        account.token = "unsaved"
        data = pickle.dumps(account)
        assert b"unsaved" not in data
        account.refresh_from_db()
        assert account.token == "p"

    def test_dumpdata_writes_the_text_form_and_loaddata_reads_it(self):
        account = BinaryAccount.objects.create(token="fixture-secret", data={"x": 1})
        text = serializers.serialize("json", BinaryAccount.objects.all())
        assert "fixture-secret" not in text
        assert "$si1$2$" in text  # the text form of the same envelope
        BinaryAccount.objects.all().delete()
        for obj in serializers.deserialize("json", text):
            obj.save()
        loaded = fresh(account)
        assert (loaded.token, loaded.data) == ("fixture-secret", {"x": 1})
        assert isinstance(stored(BinaryAccount, "token", account.pk), bytes)

    def test_deconstruct_keeps_binary(self):
        field = BinaryAccount._meta.get_field("data")
        _name, path, _args, kwargs = field.deconstruct()
        assert path == "integrations.fields.EncryptedJSONField"
        assert kwargs["binary"] is True
        assert "binary" not in Account._meta.get_field("data").deconstruct()[3]
        rebuilt = EncryptedTokenField(purpose="p", binary=True)
        assert rebuilt.binary and rebuilt.get_internal_type() == "BinaryField"
        assert EncryptedJSONField(purpose="q").get_internal_type() == "TextField"


class TestTamperingAndKeys:
    def test_a_flipped_byte_is_refused(self):
        account = BinaryAccount.objects.create(token="tamper-me")
        raw = bytearray(stored(BinaryAccount, "token", account.pk))
        raw[-1] ^= 1
        write_raw(BinaryAccount, "token", account.pk, bytes(raw))
        with pytest.raises(DecryptionError) as info:
            fresh(account).token
        assert "tamper-me" not in str(info.value)
        assert str(account.pk) in str(info.value)

    def test_a_truncated_value_is_malformed(self):
        account = BinaryAccount.objects.create(token="short")
        raw = stored(BinaryAccount, "token", account.pk)
        write_raw(BinaryAccount, "token", account.pk, raw[:30])
        with pytest.raises(MalformedValueError):
            fresh(account).token

    def test_a_value_moved_to_another_row_fails(self):
        one = BinaryAccount.objects.create(token="one")
        two = BinaryAccount.objects.create(token="two")
        write_raw(BinaryAccount, "token", two.pk, stored(BinaryAccount, "token", one.pk))
        with pytest.raises(DecryptionError):
            fresh(two).token

    def test_a_value_moved_to_another_column_fails(self):
        one = BinaryAccount.objects.create(token="one")
        write_raw(BinaryAccount, "other_token", one.pk, stored(BinaryAccount, "token", one.pk))
        with pytest.raises(DecryptionError):
            fresh(one).other_token

    def test_bytes_without_the_prefix_are_never_read_as_plaintext(self):
        account = BinaryAccount.objects.create(token="x")
        write_raw(BinaryAccount, "token", account.pk, b"legacy-plaintext")
        with override_settings(
            INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V2], "ALLOW_PLAINTEXT_READS": True}
        ):
            with pytest.raises(NotSealedError) as info:
                fresh(account).token
        assert "legacy-plaintext" not in str(info.value)

    def test_an_unknown_key_version_is_named(self):
        account = BinaryAccount.objects.create(token="v2-secret")
        with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V1]}):
            with pytest.raises(UnknownKeyVersionError) as info:
                fresh(account).token
        assert info.value.key_version == 2

    def test_a_wrong_key_under_the_right_version_fails(self):
        account = BinaryAccount.objects.create(token="w")
        wrong = "2:" + TEST_KEY_V1.split(":", 1)[1]
        with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [wrong]}):
            with pytest.raises(DecryptionError):
                fresh(account).token

    def test_older_key_values_open_and_are_resealed_on_save(self):
        with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V1]}):
            account = BinaryAccount.objects.create(token="old-key")
        assert stored(BinaryAccount, "token", account.pk).startswith(b"$si1$1$")
        loaded = fresh(account)
        assert loaded.token == "old-key"
        loaded.save()
        assert stored(BinaryAccount, "token", account.pk).startswith(b"$si1$2$")


class TestSearchable:
    def test_exact_and_in_lookups(self):
        BinaryAccount.objects.create(api_key="sk_live_1")
        BinaryAccount.objects.create(api_key="sk_live_2")
        assert BinaryAccount.objects.get(api_key="sk_live_1").api_key == "sk_live_1"
        assert BinaryAccount.objects.filter(api_key__in=["sk_live_2", "nope"]).count() == 1

    def test_unique_on_the_index(self):
        from django.db import IntegrityError, transaction

        BinaryAccount.objects.create(api_key="dup")
        with pytest.raises(IntegrityError), transaction.atomic():
            BinaryAccount.objects.create(api_key="dup")

    def test_a_stored_value_set_after_loading_is_reindexed(self):
        one = BinaryAccount.objects.create(api_key="first")
        two = BinaryAccount.objects.create(api_key="second")
        moved = BinaryAccount.objects.get(pk=two.pk)
        # Its own stored bytes again, set on the attname: opened and indexed on save.
        moved.api_key_sealed = bytes(moved.api_key_sealed)
        moved.save()
        assert BinaryAccount.objects.get(api_key="second").pk == two.pk
        assert BinaryAccount.objects.get(api_key="first").pk == one.pk

    def test_bulk_update_keeps_the_index_in_step(self):
        rows = BinaryAccount.objects.bulk_create([BinaryAccount(api_key=f"k{i}") for i in range(3)])
        for row in rows:
            row.api_key = row.api_key + "x"
        BinaryAccount.objects.bulk_update(rows, ["api_key"])
        assert BinaryAccount.objects.filter(api_key__in=["k0x", "k1x", "k2x"]).count() == 3


def test_manual_uuid_key_seals_for_the_row():
    pk = uuid.uuid4()
    row = BinaryAccount(id=pk, token="manual")
    row.save()
    assert fresh(row).token == "manual"
