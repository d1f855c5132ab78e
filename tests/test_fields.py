import copy
import json
import logging
import pickle
import uuid
from unittest import mock

import pytest
from django import forms
from django.core import serializers
from django.core.exceptions import FieldError
from django.db import connection, models, transaction
from django.test.utils import CaptureQueriesContext, isolate_apps, override_settings

from integrations.conf import app_settings
from integrations.crypto import (
    CryptoError,
    DecryptionError,
    Keyring,
    NotSealedError,
    UnknownKeyVersionError,
    generate_key,
    is_sealed,
)
from integrations.fields import EncryptedTokenField, SealedValue
from tests.dbutil import raw_column, write_raw
from tests.settings import TEST_KEY_V1, TEST_KEY_V2
from tests.testapp.models import Account, ManualKey, Settings

pytestmark = pytest.mark.django_db


def fresh(instance):
    return type(instance).objects.get(pk=instance.pk)


class TestRoundTrips:
    @pytest.mark.parametrize(
        "value",
        ["ya29.a0-access-token", "x", "h\u00e9llo \u2603 \U0001f600 \u0000 tab\t", "a" * 100_000],
    )
    def test_token(self, value):
        account = Account.objects.create(token=value)
        assert fresh(account).token == value

    def test_none_stays_null_and_empty_stays_empty(self):
        account = Account.objects.create(token=None, other_token="")
        assert raw_column(Account, "token", account.pk) is None
        assert raw_column(Account, "other_token", account.pk) == ""
        loaded = fresh(account)
        assert loaded.token is None
        assert loaded.other_token == ""
        assert Account.objects.filter(token__isnull=True).count() == 1
        assert Account.objects.filter(other_token__isnull=True).count() == 0

    @pytest.mark.parametrize(
        "value",
        [
            {"access": "tok", "n": 3, "f": 1.25, "yes": True, "no": False, "none": None},
            [1, 2.5, "three", None, [True, {"deep": {"deeper": ["\u00e9\U0001f600"]}}]],
            "just a string",
            "",
            0,
            -17,
            10**30,
            3.141592653589793,
            True,
            False,
            {},
            [],
        ],
    )
    def test_json_keeps_types(self, value):
        account = Account.objects.create(data=value)
        loaded = fresh(account).data
        assert loaded == value
        assert json.dumps(loaded) == json.dumps(value)  # same types, not just equal
        assert type(loaded) is type(value)

    def test_json_none_is_sql_null(self):
        account = Account.objects.create(data=None)
        assert raw_column(Account, "data", account.pk) is None
        assert fresh(account).data is None

    def test_token_rejects_non_strings(self):
        with pytest.raises(TypeError, match="takes str values"):
            Account(token=b"bytes")
        with pytest.raises(TypeError, match="takes str values"):
            Account(token=123)

    def test_json_rejects_unserializable_without_echoing_it(self, canary):
        class Opaque:
            def __repr__(self):
                return canary

        account = Account(data={"x": Opaque()})
        with pytest.raises(TypeError) as info:
            account.save()
        assert "not JSON serializable" in str(info.value)
        assert canary not in str(info.value)


class TestStorage:
    def test_database_holds_only_sealed_values(self, canary):
        account = Account.objects.create(token=canary, data={"key": canary})
        for column in ("token", "data"):
            stored = raw_column(Account, column, account.pk)
            assert is_sealed(stored)
            assert canary not in stored
            assert app_settings.keyring.key_version(stored) == 2

    def test_an_opened_token_keeps_no_bytes_copy_of_the_secret(self, canary):
        """The instance remembers the opened text (one copy of the secret), not
        also the decrypted bytes it came from, after a save or a read."""
        saved = Account.objects.create(token=canary)
        loaded = Account.objects.get(pk=saved.pk)
        assert loaded.token == canary
        for instance in (saved, loaded):
            held = [
                item
                for value in vars(instance).values()
                for item in (value if isinstance(value, tuple) else (value,))
            ]
            assert not any(isinstance(item, bytes) and canary.encode() in item for item in held)

    def test_attname_exposes_the_sealed_form(self):
        account = Account.objects.create(token="t")
        assert account.token_sealed == raw_column(Account, "token", account.pk)
        assert Account._meta.get_field("token").column == "token"

    def test_values_returns_sealed_strings(self, canary):
        Account.objects.create(token=canary)
        (row,) = Account.objects.values_list("token", flat=True)
        assert is_sealed(row)
        assert canary not in row

    def test_loading_does_not_open_values(self):
        Account.objects.bulk_create([Account(token=f"t{i}", other_token="o") for i in range(5)])
        keyring = app_settings.keyring
        with mock.patch.object(type(keyring), "decrypt", autospec=True) as decrypt:
            accounts = list(Account.objects.all())
            assert decrypt.call_count == 0
            decrypt.side_effect = lambda self, sealed, context: b"opened"
            accounts[0].token
            accounts[0].token  # cached after the first read
            assert decrypt.call_count == 1

    def test_saving_untouched_values_keeps_their_ciphertext(self):
        account = Account.objects.create(token="t", data={"a": 1})
        before = raw_column(Account, "token", account.pk), raw_column(Account, "data", account.pk)
        loaded = fresh(account)
        loaded.label = "renamed"
        loaded.save()
        loaded.data  # opened, unchanged
        loaded.save()
        after = raw_column(Account, "token", account.pk), raw_column(Account, "data", account.pk)
        assert after == before

    def test_saving_a_row_keeps_a_damaged_value_exactly_as_stored(self):
        # A value with the sealed prefix that does not parse is never taken for
        # legacy plaintext and wrapped in a new envelope: reading it raises, and
        # saving the row's other columns leaves it as it was.
        account = Account.objects.create(token="t", label="before")
        damaged = "$si1$1$" + "A" * 10
        write_raw(Account, "token", account.pk, damaged)
        loaded = fresh(account)
        loaded.label = "after"
        loaded.save()
        assert raw_column(Account, "token", account.pk) == damaged
        assert raw_column(Account, "label", account.pk) == "after"
        with pytest.raises(CryptoError):
            fresh(account).token  # noqa: B018
        copy_ = fresh(account)
        copy_.pk = uuid.uuid4()
        copy_._state.adding = True
        with pytest.raises(CryptoError), transaction.atomic():
            copy_.save()
        assert not Account.objects.filter(pk=copy_.pk).exists()

    def test_assignment_seals_on_save(self):
        account = Account.objects.create(token="old")
        account.token = "new"
        assert account.token == "new"
        account.save()
        assert fresh(account).token == "new"

    def test_json_mutated_in_place_is_saved(self):
        account = Account.objects.create(data={"scopes": ["read"]})
        loaded = fresh(account)
        loaded.data["scopes"].append("write")
        loaded.save()
        assert fresh(account).data == {"scopes": ["read", "write"]}

    def test_refresh_from_db_sees_another_writer(self):
        account = Account.objects.create(token="first")
        assert account.token == "first"
        other = fresh(account)
        other.token = "second"
        other.save()
        account.refresh_from_db()
        assert account.token == "second"

    def test_deferred_field_loads_on_access(self):
        account = Account.objects.create(token="deferred", label="l")
        loaded = Account.objects.only("label").get(pk=account.pk)
        assert "token_sealed" in loaded.get_deferred_fields()
        assert loaded.token == "deferred"

    def test_update_fields_by_name(self):
        account = Account.objects.create(token="a", label="x")
        account.token = "b"
        account.label = "y"
        account.save(update_fields=["token"])
        loaded = fresh(account)
        assert (loaded.token, loaded.label) == ("b", "x")


class TestBinding:
    def test_row_swap_fails(self):
        first = Account.objects.create(token="first-secret")
        second = Account.objects.create(token="second-secret")
        write_raw(Account, "token", second.pk, raw_column(Account, "token", first.pk))
        with pytest.raises(DecryptionError) as info:
            fresh(second).token
        assert f"testapp.Account.token pk={second.pk}" in str(info.value)
        assert "first-secret" not in str(info.value)

    def test_column_swap_fails(self):
        account = Account.objects.create(token="a-secret", other_token="b-secret")
        write_raw(Account, "other_token", account.pk, raw_column(Account, "token", account.pk))
        with pytest.raises(DecryptionError):
            fresh(account).other_token

    def test_json_and_token_columns_do_not_mix(self):
        account = Account.objects.create(token='"quoted"', data="quoted")
        write_raw(Account, "data", account.pk, raw_column(Account, "token", account.pk))
        with pytest.raises(DecryptionError):
            fresh(account).data

    def test_autofield_models_bind_to_the_column(self):
        first = Settings.objects.create(token="s1")
        second = Settings.objects.create(token="s2")
        assert not Settings._meta.get_field("token").binds_to_row
        # Rows are not bound (their key is assigned by the database on insert),
        # but columns are.
        write_raw(Settings, "token", second.pk, raw_column(Settings, "token", first.pk))
        assert fresh(second).token == "s1"
        write_raw(Settings, "data", second.pk, raw_column(Settings, "token", first.pk))
        with pytest.raises(DecryptionError):
            fresh(second).data

    def test_copied_instance_is_resealed_for_its_new_row(self):
        original = Account.objects.create(token="copy me", data={"k": 1})
        copy_ = fresh(original)
        copy_.token, copy_.data  # read before the key changes
        copy_.pk = uuid.uuid4()
        copy_._state.adding = True
        copy_.save()
        assert fresh(copy_).token == "copy me"
        assert fresh(copy_).data == {"k": 1}
        assert fresh(original).token == "copy me"

    def test_copying_an_unread_value_to_a_new_row_is_refused(self):
        original = Account.objects.create(token="copy me")
        copy_ = fresh(original)
        copy_.pk = uuid.uuid4()
        copy_._state.adding = True
        with pytest.raises(DecryptionError, match=f"pk={copy_.pk}"), transaction.atomic():
            copy_.save()
        assert not Account.objects.filter(pk=copy_.pk).exists()

    def test_primary_key_needed_before_sealing(self):
        with pytest.raises(FieldError, match="primary key"), transaction.atomic():
            ManualKey(token="t").save()

    def test_value_assigned_before_the_primary_key(self):
        record = ManualKey(token="early")
        record.pk = uuid.uuid4()
        record.save()
        assert fresh(record).token == "early"
        # bulk_update seals with the primary key current at write time.
        late = ManualKey(token="assigned before its key")
        late.pk = record.pk
        ManualKey.objects.bulk_update([late], ["token"])
        assert fresh(record).token == "assigned before its key"

    @isolate_apps("tests.testapp")
    def test_a_primary_key_declared_after_the_field_binds_values_to_the_row(self):
        # The field is added to the model before its primary key exists: the
        # binding is settled when the first value is sealed, not when the field
        # is declared.
        class Late(models.Model):
            token = EncryptedTokenField(purpose="testapp.late.token")
            id = models.UUIDField(primary_key=True, default=uuid.uuid4)

            class Meta:
                app_label = "testapp"

        field = Late._meta.get_field("token")
        original = Late(token="row-bound secret")
        sealed = field.pre_save(original, add=True)
        same_row, other_row = Late(id=original.pk), Late()
        same_row.token_sealed = other_row.token_sealed = str(sealed)
        assert same_row.token == "row-bound secret"
        with pytest.raises(DecryptionError):
            other_row.token  # noqa: B018
        assert field.context_for_pk(original.pk).endswith(str(original.pk).encode())

    @isolate_apps("tests.testapp")
    def test_each_child_of_an_abstract_base_binds_by_its_own_primary_key(self):
        class Base(models.Model):
            token = EncryptedTokenField(purpose="testapp.base.token")

            class Meta:
                abstract = True
                app_label = "testapp"

        class Keyed(Base):  # a UUID key: values bound to the row
            id = models.UUIDField(primary_key=True, default=uuid.uuid4)

            class Meta:
                app_label = "testapp"

        class Numbered(Base):  # an AutoField: values bound to the column only
            class Meta:
                app_label = "testapp"

        original = Keyed(token="keyed secret")
        sealed = str(Keyed._meta.get_field("token").pre_save(original, add=True))
        loaded, elsewhere = Keyed(id=original.pk), Keyed()
        loaded.token_sealed = elsewhere.token_sealed = sealed
        assert loaded.token == "keyed secret"
        with pytest.raises(DecryptionError):
            elsewhere.token  # noqa: B018

        sealed = str(Numbered._meta.get_field("token").pre_save(Numbered(token="n"), add=True))
        assert Numbered(id=7, token_sealed=sealed).token == "n"
        assert Numbered(id=8, token_sealed=sealed).token == "n"


class TestQuerySetWrites:
    def test_bulk_create_seals(self, canary):
        accounts = Account.objects.bulk_create(
            [Account(token=f"{canary}-{i}", data={"i": i}) for i in range(20)]
        )
        for i, account in enumerate(accounts):
            assert canary not in raw_column(Account, "token", account.pk)
            loaded = fresh(account)
            assert (loaded.token, loaded.data) == (f"{canary}-{i}", {"i": i})

    def test_bulk_update_seals_for_each_row(self):
        accounts = Account.objects.bulk_create([Account(token=f"old{i}") for i in range(5)])
        loaded = list(Account.objects.order_by("id"))
        for account in loaded:
            account.token = f"new-{account.pk}"
            account.data = {"pk": str(account.pk)}
        Account.objects.bulk_update(loaded, ["token", "data"])
        for account in accounts:
            again = fresh(account)
            assert again.token == f"new-{account.pk}"
            assert again.data == {"pk": str(account.pk)}

    def test_bulk_update_of_untouched_values_writes_them_unchanged(self):
        Account.objects.bulk_create([Account(token=f"t{i}") for i in range(3)])
        loaded = list(Account.objects.all())
        before = {a.pk: a.token_sealed for a in loaded}
        Account.objects.bulk_update(loaded, ["token"])
        assert {a.pk: raw_column(Account, "token", a.pk) for a in loaded} == before

    def test_queryset_update_with_plaintext_is_refused_for_row_bound_fields(self, canary):
        account = Account.objects.create(token="keep")
        with pytest.raises(FieldError, match="bound to each row") as info, transaction.atomic():
            Account.objects.filter(pk=account.pk).update(token=canary)
        assert canary not in str(info.value)
        assert fresh(account).token == "keep"

    def test_queryset_update_seals_column_bound_fields(self):
        first = Settings.objects.create(token="a")
        Settings.objects.create(token="b")
        assert Settings.objects.update(token="rotated", data={"n": 1}) == 2
        assert is_sealed(raw_column(Settings, "token", first.pk))
        assert {(s.token, s.data["n"]) for s in Settings.objects.all()} == {("rotated", 1)}

    def test_queryset_update_to_null_and_empty(self):
        account = Account.objects.create(token="t", other_token="o")
        Account.objects.filter(pk=account.pk).update(token=None, other_token="")
        loaded = fresh(account)
        assert (loaded.token, loaded.other_token) == (None, "")

    def test_sealed_values_are_never_sealed_twice(self):
        account = Account.objects.create(token="t")
        sealed = raw_column(Account, "token", account.pk)
        Account.objects.filter(pk=account.pk).update(token=sealed)
        assert raw_column(Account, "token", account.pk) == sealed
        assert fresh(account).token == "t"


class TestLookups:
    @pytest.mark.parametrize(
        "lookup",
        [
            "token",
            "token__exact",
            "token__iexact",
            "token__contains",
            "token__startswith",
            "token__in",
            "token__gt",
        ],
    )
    def test_lookups_other_than_isnull_raise(self, lookup):
        value = ["x"] if lookup.endswith("__in") else "x"
        with pytest.raises(FieldError, match="does not support"):
            list(Account.objects.filter(**{lookup: value}))

    def test_json_key_transforms_raise(self):
        with pytest.raises(FieldError, match="does not support"):
            list(Account.objects.filter(data__access="x"))

    def test_isnull(self):
        Account.objects.create(token="t")
        Account.objects.create(token=None)
        assert Account.objects.filter(token__isnull=False).count() == 1


class TestSerialization:
    def test_dumpdata_writes_sealed_and_loaddata_restores(self, canary):
        accounts = [
            Account.objects.create(token=f"{canary}{i}", data={"n": i}, other_token="")
            for i in range(3)
        ]
        dumped = serializers.serialize("json", Account.objects.all())
        assert canary not in dumped
        payload = json.loads(dumped)
        assert all(is_sealed(obj["fields"]["token"]) for obj in payload)
        Account.objects.all().delete()
        for deserialized in serializers.deserialize("json", dumped):
            deserialized.save()
        for i, account in enumerate(accounts):
            loaded = fresh(account)
            assert (loaded.token, loaded.data, loaded.other_token) == (f"{canary}{i}", {"n": i}, "")
        # Restored verbatim, not sealed a second time.
        restored = {obj["pk"]: obj["fields"]["token"] for obj in payload}
        for account in accounts:
            assert raw_column(Account, "token", account.pk) == restored[str(account.pk)]

    def test_loaddata_command(self, tmp_path, canary):
        from django.core.management import call_command

        account = Account.objects.create(token=canary)
        fixture = tmp_path / "accounts.json"
        with open(fixture, "w") as out:
            call_command("dumpdata", "testapp.Account", stdout=out)
        assert canary not in fixture.read_text()
        Account.objects.all().delete()
        call_command("loaddata", str(fixture), verbosity=0)
        assert fresh(account).token == canary

    def test_unsaved_value_serializes_sealed(self, canary):
        account = Account(token=canary)
        dumped = serializers.serialize("json", [account])
        assert canary not in dumped
        (restored,) = serializers.deserialize("json", dumped)
        restored.save()
        assert fresh(account).token == canary

    def test_to_python_marks_sealed_input(self):
        sealed = Account.objects.create(token="t").token_sealed
        field = Account._meta.get_field("token")
        assert type(field.to_python(sealed)) is SealedValue
        assert field.to_python("plain") == "plain"


class TestPickleAndCopy:
    def test_pickle_never_contains_the_plaintext(self, canary):
        account = Account.objects.create(token=canary, data={"k": canary})
        loaded = fresh(account)
        assert loaded.token == canary and loaded.data == {"k": canary}
        blob = pickle.dumps(loaded)
        assert canary.encode() not in blob
        restored = pickle.loads(blob)
        assert restored.token == canary
        assert restored.data == {"k": canary}

    def test_pickle_of_an_unsaved_assignment_is_sealed(self, canary):
        account = Account(token=canary)
        blob = pickle.dumps(account)
        assert canary.encode() not in blob
        account.save()  # the pickled pk is the same row
        restored = pickle.loads(blob)
        assert restored.token == canary

    def test_deepcopy(self):
        account = Account.objects.create(data={"list": [1]})
        loaded = fresh(account)
        loaded.data
        clone = copy.deepcopy(loaded)
        clone.data["list"].append(2)
        assert loaded.data == {"list": [1]}
        assert clone.data == {"list": [1, 2]}


class TestLegacyPlaintext:
    def test_refused_by_default_naming_the_row_not_the_value(self, canary):
        account = Account.objects.create()
        write_raw(Account, "token", account.pk, canary)
        with pytest.raises(NotSealedError) as info:
            fresh(account).token
        assert f"pk={account.pk}" in str(info.value)
        assert "encrypt_legacy" in str(info.value)
        assert canary not in str(info.value)

    def test_allowed_reads_warn_naming_the_row(self, canary, all_logs):
        account = Account.objects.create()
        write_raw(Account, "token", account.pk, canary)
        write_raw(Account, "data", account.pk, json.dumps({"legacy": canary}))
        with override_settings(
            INTEGRATIONS={
                "ENCRYPTION_KEYS": [TEST_KEY_V2, TEST_KEY_V1],
                "ALLOW_PLAINTEXT_READS": True,
            }
        ):
            loaded = fresh(account)
            assert loaded.token == canary
            assert loaded.data == {"legacy": canary}
            warnings = [r for r in all_logs.records if r.name == "integrations.fields"]
            assert len(warnings) == 2
            assert all(str(account.pk) in r.getMessage() for r in warnings)
            assert canary not in all_logs.text
            # Saving seals them.
            loaded.save()
        assert is_sealed(raw_column(Account, "token", account.pk))
        assert fresh(account).token == canary
        assert fresh(account).data == {"legacy": canary}

    def test_invalid_legacy_json(self):
        account = Account.objects.create()
        write_raw(Account, "data", account.pk, "not json")
        with override_settings(
            INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V2], "ALLOW_PLAINTEXT_READS": True}
        ):
            with pytest.raises(NotSealedError, match="neither sealed nor valid JSON"):
                fresh(account).data


class TestKeys:
    def test_old_key_opens_and_save_moves_opened_values_to_the_primary(self):
        with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V1]}):
            account = Account.objects.create(token="from v1", other_token="untouched")
        assert app_settings.keyring.key_version(raw_column(Account, "token", account.pk)) == 1
        loaded = fresh(account)
        assert loaded.token == "from v1"
        loaded.save()
        assert app_settings.keyring.key_version(raw_column(Account, "token", account.pk)) == 2
        # A value that was not opened is left for rotate_keys.
        assert app_settings.keyring.key_version(raw_column(Account, "other_token", account.pk)) == 1
        assert fresh(account).token == "from v1"

    def test_unknown_key_version_names_the_row(self):
        account = Account.objects.create(token="t")
        other = Keyring.parse([generate_key(9)])
        write_raw(Account, "token", account.pk, other.encrypt(b"t", b"whatever"))
        with pytest.raises(UnknownKeyVersionError) as info:
            fresh(account).token
        assert info.value.key_version == 9
        assert f"testapp.Account.token pk={account.pk}" in str(info.value)

    def test_missing_keys(self):
        account = Account.objects.create(token="t")
        with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": []}):
            with pytest.raises(CryptoError, match="no encryption keys"):
                fresh(account).token


class TestSecretsDiscipline:
    def test_canary_never_reaches_logs_or_sql_params(self, canary, all_logs):
        with override_settings(DEBUG=True), CaptureQueriesContext(connection) as queries:
            account = Account.objects.create(token=canary, data={"k": canary})
            loaded = fresh(account)
            assert loaded.token == canary
            loaded.token = canary + "2"
            loaded.save()
            Account.objects.bulk_create([Account(token=canary)])
        assert queries.captured_queries
        assert canary not in json.dumps(queries.captured_queries)
        assert canary not in all_logs.text

    def test_reprs_and_errors_do_not_show_values(self, canary):
        account = Account(token=canary, data={"k": canary})
        assert canary not in repr(account.__dict__)
        account.save()
        loaded = fresh(account)
        loaded.token
        assert canary not in repr(loaded.__dict__)
        write_raw(Account, "token", account.pk, raw_column(Account, "token", account.pk)[:-4])
        with pytest.raises(CryptoError) as info:
            fresh(account).token
        assert canary not in str(info.value)


class TestJSONLimits:
    def nested(self, levels):
        """Lists ``levels`` deep, built without recursion (Python 3.11's json
        decoder recurses, and stops at about a thousand levels)."""
        value = []
        for _ in range(levels - 1):
            value = [value]
        return value

    def test_at_the_limit_round_trips(self):
        account = Account.objects.create(data=self.nested(100))
        assert fresh(account).data == self.nested(100)

    def test_assigning_too_deep_a_value_is_refused(self, canary):
        value = {"k": canary, "deep": self.nested(100)}
        with pytest.raises(ValueError, match="nested more than 100") as info:
            Account(data=value)
        assert canary not in str(info.value)
        with pytest.raises(ValueError, match="nested more than 100"):
            Account.objects.filter(pk=uuid.uuid4()).update(data=self.nested(5000))

    def test_too_deep_after_an_in_place_edit_is_refused_before_storing(self):
        from django.core.exceptions import ValidationError

        account = Account.objects.create(data={"x": []})
        account.data["x"] = self.nested(100)
        with pytest.raises(ValidationError, match="nested more than 100"):
            account.full_clean()
        with pytest.raises(ValueError, match="nested more than 100"), transaction.atomic():
            account.save()
        assert fresh(account).data == {"x": []}

    def test_nul_characters_are_stored_sealed(self):
        account = Account.objects.create(data={"a\u0000": "b\u0000"})
        assert fresh(account).data == {"a\u0000": "b\u0000"}


class TestForms:
    def test_model_form_never_renders_the_secret(self, canary):
        class AccountForm(forms.ModelForm):
            class Meta:
                model = Account
                fields = ["label", "token"]

        account = Account.objects.create(token=canary, label="x")
        html = AccountForm(instance=fresh(account)).as_p()
        assert canary not in html
        assert 'type="password"' in html

        form = AccountForm({"label": "y", "token": "typed-new"}, instance=fresh(account))
        assert form.is_valid(), form.errors
        form.save()
        assert fresh(account).token == "typed-new"
        assert canary not in form.as_p()


def test_field_deconstructs_with_its_purpose():
    field = Account._meta.get_field("data")
    name, path, args, kwargs = field.deconstruct()
    assert path == "integrations.fields.EncryptedJSONField"
    assert kwargs["purpose"] == "testapp.account.data"
    rebuilt = type(field)(*args, **kwargs)
    assert rebuilt.purpose == field.purpose


def test_logging_of_instances_is_safe(canary, all_logs):
    account = Account(token=canary)
    logging.getLogger("tests").debug("saving %r with %s", account, account.__dict__)
    assert canary not in all_logs.text


def test_row_keys_are_formatted_as_str_does():
    """The context's fast UUID formatting matches str(uuid) (FORMAT.md's row id)."""
    from integrations.sealed.values import _uuid_ascii

    samples = [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.UUID(int=1), uuid.UUID(int=2**127)]
    samples += [uuid.uuid4() for _ in range(2000)]
    for value in samples:
        assert _uuid_ascii(value) == str(value).encode("ascii")
