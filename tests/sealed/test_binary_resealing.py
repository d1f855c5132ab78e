"""Key rotation, status and the legacy command on binary columns (binary=True),
on SQLite and PostgreSQL: the engine's SQL compares headers as bytes."""

import json
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test.utils import override_settings

from integrations.conf import app_settings
from integrations.crypto import Keyring, generate_key
from integrations.sealed import resealing
from tests.dbutil import raw_column, write_raw
from tests.settings import TEST_KEY_V1
from tests.testapp.models import BinaryAccount, BinarySettings

pytestmark = pytest.mark.django_db(transaction=True)
V1_ONLY = {"ENCRYPTION_KEYS": [TEST_KEY_V1]}


def stored(model, column, pk):
    value = raw_column(model, column, pk)
    return bytes(value) if isinstance(value, memoryview) else value


def field(name, model=BinaryAccount):
    return model._meta.get_field(name)


def make_mixed_table():
    """Three rows on the old key, one on the primary, one NULL, one empty."""
    with override_settings(INTEGRATIONS=V1_ONLY):
        old = [
            BinaryAccount.objects.create(token=f"old-{i}", api_key=f"key-{i}", data={"i": i})
            for i in range(3)
        ]
    current = BinaryAccount.objects.create(token="current", api_key="key-current")
    null = BinaryAccount.objects.create(token=None)
    empty = BinaryAccount.objects.create(token="", api_key="")
    return old, current, null, empty


def run(name, *args):
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


class TestRotate:
    @pytest.mark.parametrize("batch_size", [1, 500])
    def test_rotation_reseals_old_values_as_bytes_and_keeps_the_rest(self, batch_size):
        old, current, _null, _empty = make_mixed_table()
        before = stored(BinaryAccount, "token", current.pk)
        report = resealing.reseal_field(BinaryAccount, field("token"), batch_size=batch_size)
        assert (report.resealed, report.current, report.empty, report.plaintext) == (3, 1, 2, 0)
        assert (report.remaining, report.unreadable) == (0, [])
        for account in old:
            raw = stored(BinaryAccount, "token", account.pk)
            assert isinstance(raw, bytes) and raw.startswith(b"$si1$2$")
        assert stored(BinaryAccount, "token", current.pk) == before
        assert sorted(a.token or "" for a in BinaryAccount.objects.all()) == sorted(
            ["", "", "current", "old-0", "old-1", "old-2"]
        )
        again = resealing.reseal_field(BinaryAccount, field("token"))
        assert again.resealed == 0

    def test_dry_run_writes_nothing(self):
        old, *_ = make_mixed_table()
        before = stored(BinaryAccount, "token", old[0].pk)
        report = resealing.reseal_field(BinaryAccount, field("token"), dry_run=True)
        assert report.resealed == 3
        assert stored(BinaryAccount, "token", old[0].pk) == before

    def test_json_and_column_bound_binary_fields(self):
        with override_settings(INTEGRATIONS=V1_ONLY):
            row = BinarySettings.objects.create(token="s", data={"x": 1})
        for name in ("token", "data"):
            report = resealing.reseal_field(BinarySettings, field(name, BinarySettings))
            assert report.resealed == 1
        loaded = BinarySettings.objects.get(pk=row.pk)
        assert (loaded.token, loaded.data) == ("s", {"x": 1})
        assert stored(BinarySettings, "data", row.pk).startswith(b"$si1$2$")

    def test_searchable_binary_field_rotates_value_and_index(self):
        old, current, *_ = make_mixed_table()
        report = resealing.reseal_field(BinaryAccount, field("api_key"), batch_size=2)
        assert report.resealed == 3
        assert report.unreadable == []
        for i, account in enumerate(old):
            assert stored(BinaryAccount, "api_key", account.pk).startswith(b"$si1$2$")
            assert BinaryAccount.objects.get(api_key=f"key-{i}").pk == account.pk
        assert BinaryAccount.objects.get(api_key="key-current").pk == current.pk

    def test_tampered_and_foreign_values_are_reported_never_written(self, canary):
        old, *_ = make_mixed_table()
        raw = bytearray(stored(BinaryAccount, "token", old[0].pk))
        raw[-3] ^= 0x40
        write_raw(BinaryAccount, "token", old[0].pk, bytes(raw))
        foreign = Keyring.parse([generate_key(7)])
        write_raw(BinaryAccount, "token", old[1].pk, foreign.encrypt_binary(canary.encode(), b"c"))
        report = resealing.reseal_field(BinaryAccount, field("token"))
        errors = {item.pk: (item.error, item.key_version) for item in report.unreadable}
        assert errors == {
            str(old[0].pk): ("DecryptionError", 1),
            str(old[1].pk): ("UnknownKeyVersionError", 7),
        }
        assert stored(BinaryAccount, "token", old[0].pk) == bytes(raw)
        assert report.resealed == 1

    def test_a_value_changed_meanwhile_is_not_overwritten(self, monkeypatch):
        old, *_ = make_mixed_table()
        real = resealing._reseal_rows

        raced = []
        # On PostgreSQL two worker threads re-seal batches at once: only the
        # first batch to get here races (a plain `if not raced` let both race).
        first = threading.Lock()

        def racing(column, rows, *args, **kwargs):
            updates = real(column, rows, *args, **kwargs)
            if first.acquire(blocking=False):
                account = BinaryAccount.objects.get(pk=rows[0][0])
                account.token = "written-meanwhile"
                account.save()
                raced.append(account.pk)
            return updates

        monkeypatch.setattr(resealing, "_reseal_rows", racing)
        report = resealing.reseal_field(BinaryAccount, field("token"), batch_size=1)
        assert report.changed == 1
        assert report.resealed == 2
        assert BinaryAccount.objects.get(pk=raced[0]).token == "written-meanwhile"
        for i, account in enumerate(old):
            if account.pk != raced[0]:
                assert BinaryAccount.objects.get(pk=account.pk).token == f"old-{i}"


class TestCommands:
    def test_rotate_keys_json(self):
        make_mixed_table()
        out, _ = run("rotate_keys", "--model", "testapp.BinaryAccount", "--json")
        fields = {f["field"]: f for f in json.loads(out)["fields"]}
        assert (fields["token"]["resealed"], fields["data"]["resealed"]) == (3, 3)

    def test_rotate_keys_names_unreadable_rows_never_values(self, canary):
        account = BinaryAccount.objects.create(token="x")
        foreign = Keyring.parse([generate_key(7)])
        write_raw(BinaryAccount, "token", account.pk, foreign.encrypt_binary(canary.encode()))
        out, err = StringIO(), StringIO()
        with pytest.raises(CommandError, match="could not be opened"):
            call_command("rotate_keys", "--model", "testapp.BinaryAccount", stdout=out, stderr=err)
        assert f"pk={account.pk}: UnknownKeyVersionError (key version 7)" in err.getvalue()
        assert canary not in out.getvalue() + err.getvalue()

    def test_encrypt_legacy_finds_nothing_to_seal_in_a_binary_column(self):
        make_mixed_table()
        out, _ = run("encrypt_legacy", "--model", "testapp.BinaryAccount", "--json")
        token = next(f for f in json.loads(out)["fields"] if f["field"] == "token")
        assert (token["resealed"], token["remaining"]) == (0, 0)

    def test_encryption_status_counts_versions_of_bytes(self):
        make_mixed_table()
        damaged = BinaryAccount.objects.create()
        write_raw(BinaryAccount, "token", damaged.pk, b"not-sealed-bytes")
        out, _ = run("encryption_status", "--model", "testapp.BinaryAccount", "--json")
        token = next(f for f in json.loads(out)["fields"] if f["field"] == "token")
        assert token["by_version"] == {"1": 3, "2": 1}
        assert (token["null"], token["empty"], token["plaintext"], token["malformed"]) == (
            1,
            1,
            0,
            1,
        )
        assert token["needs_rotation"] == 3
        assert app_settings.keyring.primary_version == 2
