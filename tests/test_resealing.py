import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import close_old_connections, connection
from django.test.utils import override_settings

from integrations.conf import app_settings
from integrations.crypto import Keyring, generate_key, is_sealed
from integrations.sealed import resealing
from tests.dbutil import raw_column, write_raw
from tests.settings import TEST_KEY_V1, TEST_KEY_V2
from tests.testapp.models import Account, Settings

ROOT = Path(__file__).resolve().parents[1]
V1_ONLY = {"ENCRYPTION_KEYS": [TEST_KEY_V1]}
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL row locks"
)


def version_of(model, column, pk):
    return app_settings.keyring.key_version(raw_column(model, column, pk))


def make_mixed_table():
    """Two rows on the old key, one on the primary, one plaintext, one NULL, one empty."""
    with override_settings(INTEGRATIONS=V1_ONLY):
        old = [Account.objects.create(token=f"old-{i}") for i in range(2)]
    current = Account.objects.create(token="current")
    plaintext = Account.objects.create(token=None)
    write_raw(Account, "token", plaintext.pk, "legacy-plaintext-token")
    null = Account.objects.create(token=None)
    empty = Account.objects.create(token="")
    return old, current, plaintext, null, empty


def token_field():
    return Account._meta.get_field("token")


@pytest.mark.django_db
class TestRotate:
    def test_mixed_table(self):
        old, current, plaintext, null, empty = make_mixed_table()
        before_current = raw_column(Account, "token", current.pk)
        report = resealing.reseal_field(Account, token_field(), batch_size=1)
        assert (report.resealed, report.current, report.plaintext, report.empty) == (2, 1, 1, 2)
        assert (report.changed, report.remaining, report.unreadable) == (0, 0, [])
        for i, account in enumerate(old):
            assert version_of(Account, "token", account.pk) == 2
            assert Account.objects.get(pk=account.pk).token == f"old-{i}"
        assert raw_column(Account, "token", current.pk) == before_current  # not rewritten
        assert raw_column(Account, "token", plaintext.pk) == "legacy-plaintext-token"
        assert raw_column(Account, "token", null.pk) is None
        assert raw_column(Account, "token", empty.pk) == ""

    def test_dry_run_writes_nothing(self):
        old, *_ = make_mixed_table()
        before = [raw_column(Account, "token", a.pk) for a in old]
        report = resealing.reseal_field(Account, token_field(), dry_run=True)
        assert report.resealed == 2 and report.dry_run
        assert [raw_column(Account, "token", a.pk) for a in old] == before

    def test_second_run_changes_nothing(self):
        make_mixed_table()
        resealing.reseal_field(Account, token_field())
        snapshot = list(Account.objects.order_by("id").values_list("token", flat=True))
        again = resealing.reseal_field(Account, token_field())
        assert (again.resealed, again.current) == (0, 3)
        assert list(Account.objects.order_by("id").values_list("token", flat=True)) == snapshot

    def test_unknown_key_is_reported_and_the_rest_resealed(self):
        old, *_ = make_mixed_table()
        stranger = Account.objects.create(token="x")
        foreign = Keyring.parse([generate_key(7)])
        write_raw(Account, "token", stranger.pk, foreign.encrypt(b"x", b"anything"))
        report = resealing.reseal_field(Account, token_field())
        assert report.resealed == 2
        assert [(u.pk, u.error, u.key_version) for u in report.unreadable] == [
            (str(stranger.pk), "UnknownKeyVersionError", 7)
        ]
        assert report.remaining == 1
        assert all(version_of(Account, "token", a.pk) == 2 for a in old)

    def test_tampered_value_is_reported(self):
        with override_settings(INTEGRATIONS=V1_ONLY):
            account = Account.objects.create(token="t")
        stored = raw_column(Account, "token", account.pk)
        write_raw(Account, "token", account.pk, stored[:-6] + "AAAAA=")
        report = resealing.reseal_field(Account, token_field())
        assert [u.error for u in report.unreadable] in (
            ["DecryptionError"],
            ["MalformedValueError"],
        )
        assert raw_column(Account, "token", account.pk) == stored[:-6] + "AAAAA="

    def test_a_value_changed_between_read_and_write_is_not_overwritten(self, monkeypatch):
        with override_settings(INTEGRATIONS=V1_ONLY):
            accounts = [Account.objects.create(token=f"t{i}") for i in range(3)]
        real = resealing._reseal_rows

        def writer_sneaks_in(column, rows, mode, keyring, report):
            updates = real(column, rows, mode, keyring, report)
            fresh = Account.objects.get(pk=accounts[1].pk)
            fresh.token = "written by the app meanwhile"
            fresh.save()
            return updates

        monkeypatch.setattr(resealing, "_reseal_rows", writer_sneaks_in)
        report = resealing.reseal_field(Account, token_field(), batch_size=10)
        assert (report.resealed, report.changed) == (2, 1)
        assert Account.objects.get(pk=accounts[1].pk).token == "written by the app meanwhile"
        assert [Account.objects.get(pk=a.pk).token for a in (accounts[0], accounts[2])] == [
            "t0",
            "t2",
        ]

    def test_only_selected_rows(self):
        with override_settings(INTEGRATIONS=V1_ONLY):
            accounts = [Account.objects.create(token=f"t{i}") for i in range(3)]
        report = resealing.reseal_field(Account, token_field(), pks=[accounts[0].pk])
        assert report.resealed == 1
        assert [version_of(Account, "token", a.pk) for a in accounts] == [2, 1, 1]

    def test_windows_with_nothing_to_do_are_walked_past(self):
        """Whole batches of rows already on the primary (in key order) before and
        between rows that need work: the walk goes on to the end of the table."""
        # Keys fix the order: 4 windows of 2 current rows, then the old ones.
        current = [Account.objects.create(id=uuid.UUID(int=i), token=f"c{i}") for i in range(9)]
        with override_settings(INTEGRATIONS=V1_ONLY):
            old = [
                Account.objects.create(id=uuid.UUID(int=100 + i), token=f"o{i}") for i in range(4)
            ]
        ordered = current + old
        report = resealing.reseal_field(Account, token_field(), batch_size=2)
        assert (report.resealed, report.current, report.remaining) == (4, 9, 0)
        assert [version_of(Account, "token", a.pk) for a in ordered] == [2] * 13
        assert sorted(a.token for a in Account.objects.all()) == sorted(
            [f"c{i}" for i in range(9)] + [f"o{i}" for i in range(4)]
        )

    def test_only_selected_rows_across_several_batches(self):
        with override_settings(INTEGRATIONS=V1_ONLY):
            accounts = [Account.objects.create(token=f"t{i}") for i in range(7)]
        chosen = accounts[::2]
        report = resealing.reseal_field(
            Account, token_field(), batch_size=1, pks=[a.pk for a in chosen]
        )
        assert report.resealed == 4
        assert [version_of(Account, "token", a.pk) for a in accounts] == [2, 1, 2, 1, 2, 1, 2]

    def test_json_and_column_bound_fields(self):
        with override_settings(INTEGRATIONS=V1_ONLY):
            settings_row = Settings.objects.create(token="s", data={"k": [1, 2]})
            account = Account.objects.create(data={"nested": {"a": None}})
        for model, sealed_field in resealing.sealed_columns(
            ["testapp.Settings", "testapp.Account"]
        ):
            resealing.reseal_field(model, sealed_field)
        assert Settings.objects.get(pk=settings_row.pk).data == {"k": [1, 2]}
        assert Account.objects.get(pk=account.pk).data == {"nested": {"a": None}}
        assert version_of(Settings, "data", settings_row.pk) == 2


@pytest.mark.django_db
class TestEncryptLegacy:
    def test_seals_plaintext_and_leaves_the_rest(self):
        old, current, plaintext, null, empty = make_mixed_table()
        report = resealing.reseal_field(Account, token_field(), mode=resealing.LEGACY)
        assert (report.resealed, report.current, report.empty, report.remaining) == (1, 3, 2, 0)
        assert is_sealed(raw_column(Account, "token", plaintext.pk))
        assert Account.objects.get(pk=plaintext.pk).token == "legacy-plaintext-token"
        assert version_of(Account, "token", old[0].pk) == 1  # rotation is rotate_keys' job

    def test_legacy_json_must_be_valid(self):
        account = Account.objects.create()
        write_raw(Account, "data", account.pk, '{"ok": true}')
        other = Account.objects.create()
        write_raw(Account, "data", other.pk, "not json at all")
        report = resealing.reseal_field(
            Account, Account._meta.get_field("data"), mode=resealing.LEGACY
        )
        assert report.resealed == 1
        assert [(u.pk, u.error) for u in report.unreadable] == [(str(other.pk), "JSONDecodeError")]
        assert Account.objects.get(pk=account.pk).data == {"ok": True}

    def test_works_whatever_allow_plaintext_reads_says(self):
        account = Account.objects.create()
        write_raw(Account, "token", account.pk, "plain")
        with override_settings(
            INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V2], "ALLOW_PLAINTEXT_READS": False}
        ):
            resealing.reseal_field(Account, token_field(), mode=resealing.LEGACY)
        assert Account.objects.get(pk=account.pk).token == "plain"


@pytest.mark.django_db
class TestCommands:
    def run(self, name, *args):
        out, err = StringIO(), StringIO()
        call_command(name, *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    def test_rotate_keys_table_and_json(self):
        make_mixed_table()
        out, _ = self.run("rotate_keys", "--model", "testapp.Account", "--dry-run")
        assert "would re-seal" in out
        assert "testapp.Account.token" in out
        out, _ = self.run(
            "rotate_keys", "--model", "testapp.Account", "--json", "--batch-size", "1"
        )
        summary = json.loads(out)
        token = next(f for f in summary["fields"] if f["field"] == "token")
        assert (summary["mode"], token["resealed"], token["current"]) == ("rotate", 2, 1)

    def test_unreadable_values_fail_the_command_naming_rows_never_values(self, canary):
        account = Account.objects.create(token="x")
        foreign = Keyring.parse([generate_key(7)])
        write_raw(Account, "token", account.pk, foreign.encrypt(canary.encode(), b"x"))
        out, err = StringIO(), StringIO()
        with pytest.raises(CommandError, match="could not be opened"):
            call_command("rotate_keys", "--model", "testapp.Account", stdout=out, stderr=err)
        assert (
            f"testapp.Account.token pk={account.pk}: UnknownKeyVersionError (key version 7)"
            in err.getvalue()
        )
        assert canary not in out.getvalue() + err.getvalue()

    def test_encrypt_legacy_command(self):
        account = Account.objects.create()
        write_raw(Account, "token", account.pk, "legacy-secret-value")
        out, _ = self.run("encrypt_legacy", "--model", "testapp.Account")
        assert "legacy-secret-value" not in out
        assert is_sealed(raw_column(Account, "token", account.pk))

    def test_encryption_status(self):
        make_mixed_table()
        foreign = Keyring.parse([generate_key(7)])
        stray = Account.objects.create()
        write_raw(Account, "other_token", stray.pk, foreign.encrypt(b"v", b"c"))
        out, _ = self.run("encryption_status", "--model", "testapp.Account", "--json")
        fields = {f["field"]: f for f in json.loads(out)["fields"]}
        token = fields["token"]
        assert token["by_version"] == {"1": 2, "2": 1}
        assert (token["plaintext"], token["null"], token["empty"], token["needs_rotation"]) == (
            1,
            2,
            1,
            2,
        )
        assert fields["other_token"]["missing_versions"] == [7]
        text, _ = self.run("encryption_status", "--model", "testapp.Account")
        assert "run `manage.py rotate_keys`" in text
        assert "key version(s) 7 are not in the keyring" in text

    def test_unknown_model(self):
        with pytest.raises(CommandError, match="unknown model"):
            self.run("rotate_keys", "--model", "testapp.Nope")

    def test_every_run_is_audited_with_who_which_columns_and_counts(self, canary):
        from integrations.models import AuditEvent

        make_mixed_table()
        self.run("rotate_keys", "--model", "testapp.Account", "--actor", "ops-alice")
        self.run("encrypt_legacy", "--model", "testapp.Account", "--dry-run")
        rotate, legacy = AuditEvent.objects.filter(action="reseal").order_by("created_at")
        assert (rotate.actor_label, rotate.purpose, rotate.outcome) == (
            "ops-alice",
            "rotate_keys",
            "success",
        )
        assert rotate.target_type == "sealed_columns"
        assert (
            rotate.target_label
            == "testapp.Account.token, testapp.Account.other_token, testapp.Account.data"
        )
        assert rotate.detail.startswith("2 re-sealed, 1 current,")
        assert legacy.actor_label.startswith("os:") and legacy.purpose == "encrypt_legacy"
        assert legacy.detail.startswith("dry run: 1 would be re-sealed")

    def test_a_run_with_unreadable_values_is_audited_as_a_failure(self, canary):
        from integrations.models import AuditEvent

        account = Account.objects.create(token="x")
        write_raw(
            Account,
            "token",
            account.pk,
            Keyring.parse([generate_key(7)]).encrypt(canary.encode(), b"x"),
        )
        with pytest.raises(CommandError):
            self.run("rotate_keys", "--model", "testapp.Account")
        (event,) = AuditEvent.objects.filter(action="reseal")
        assert event.outcome == "failure" and "1 unreadable" in event.detail
        assert canary not in " ".join([event.detail, event.target_label, event.purpose])

    def test_a_run_stopped_by_a_broken_keyring_is_audited(self):
        from integrations.models import AuditEvent

        with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": ["1:broken"]}):
            with pytest.raises(CommandError):
                self.run("rotate_keys", "--model", "testapp.Account")
        (event,) = AuditEvent.objects.filter(action="reseal")
        assert event.outcome == "failure" and "stopped before the end" in event.detail

    def test_all_installed_models_are_discovered(self):
        labels = {(m._meta.label, f.name) for m, f in resealing.sealed_columns()}
        assert ("integrations.Integration", "access_token") in labels
        assert ("integrations.Provider", "client_secret") in labels
        assert ("testapp.Account", "data") in labels


@pytest.mark.django_db
def test_retired_key_refuses_and_rotation_before_retirement_works():
    with override_settings(INTEGRATIONS=V1_ONLY):
        account = Account.objects.create(token="retire me")
    retired = {"ENCRYPTION_KEYS": [TEST_KEY_V2, TEST_KEY_V1], "MIN_DECRYPTION_VERSION": 2}
    with override_settings(INTEGRATIONS=retired):
        from integrations.crypto import RetiredKeyVersionError

        with pytest.raises(RetiredKeyVersionError, match="retired"):
            Account.objects.get(pk=account.pk).token
    resealing.reseal_field(Account, token_field())
    with override_settings(INTEGRATIONS=retired):
        assert Account.objects.get(pk=account.pk).token == "retire me"


# -- PostgreSQL: real concurrency ------------------------------------------------


def _rotate_in_thread(results, **kwargs):
    try:
        results.append(resealing.reseal_field(Account, token_field(), **kwargs))
    finally:
        close_old_connections()
        connection.close()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_rotations_at_once_reseal_each_row_once():
    with override_settings(INTEGRATIONS=V1_ONLY):
        Account.objects.bulk_create([Account(token=f"t{i}") for i in range(600)])
    results = []
    threads = [
        threading.Thread(target=_rotate_in_thread, args=(results,), kwargs={"batch_size": 25})
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.resealed for r in results) == 600
    assert sum(r.changed for r in results) == 0
    for account in Account.objects.all():
        assert account.token.startswith("t")
        assert app_settings.keyring.key_version(account.token_sealed) == 2


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_writers_during_rotation_lose_nothing():
    with override_settings(INTEGRATIONS=V1_ONLY):
        accounts = Account.objects.bulk_create([Account(token=f"t{i}") for i in range(400)])
    last_written = {}
    stop = threading.Event()
    errors = []

    def writer():
        try:
            n = 0
            while not stop.is_set():
                account = accounts[n % len(accounts)]
                value = f"written-{n}"
                fresh = Account.objects.get(pk=account.pk)
                fresh.token = value
                fresh.save(update_fields=["token"])
                last_written[account.pk] = value
                n += 1
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            connection.close()

    writers = [threading.Thread(target=writer) for _ in range(2)]
    for thread in writers:
        thread.start()
    try:
        results = []
        _rotate_in_thread(results, batch_size=10)
    finally:
        stop.set()
        for thread in writers:
            thread.join()
    assert errors == []
    for account in Account.objects.all():
        expected = last_written.get(account.pk)
        assert account.token == (expected or account.token)
        if expected is None:
            assert account.token.startswith("t")
        assert app_settings.keyring.key_version(account.token_sealed) == 2


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_sigkill_mid_run_then_resume():
    with override_settings(INTEGRATIONS=V1_ONLY):
        Account.objects.bulk_create([Account(token=f"t{i}") for i in range(4000)])
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": (
            f"postgres://{connection.settings_dict['USER']}@{connection.settings_dict['HOST']}:"
            f"{connection.settings_dict['PORT']}/{connection.settings_dict['NAME']}"
        ),
    }
    command = [
        sys.executable,
        "manage.py",
        "rotate_keys",
        "--model",
        "testapp.Account",
        "--batch-size",
        "10",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    header = "$si1$2$"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT COUNT(*) FROM testapp_account WHERE SUBSTR(token, 1, 7) = %s", [header]
                )
                if cursor.fetchone()[0] >= 200:
                    break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM testapp_account WHERE SUBSTR(token, 1, 7) = %s", [header]
        )
        done_before = cursor.fetchone()[0]
    assert 0 < done_before < 4000, "the process should have been killed mid-run"
    finished = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert finished.returncode == 0, finished.stderr
    for account in Account.objects.all():
        assert app_settings.keyring.key_version(account.token_sealed) == 2
        assert account.token.startswith("t")


# -- the engine's hooks and its verification --------------------------------------


@pytest.mark.django_db
def test_a_field_can_write_extra_columns_in_the_same_update(monkeypatch):
    """reseal_columns/reseal_values: e.g. a blind index recomputed per re-sealed row."""
    with override_settings(INTEGRATIONS=V1_ONLY):
        old = [Account.objects.create(token=f"token-{i}", label="before") for i in range(5)]
    current = Account.objects.create(token="current", label="before")
    field = token_field()
    seen = []

    def values(plaintext, pk):
        seen.append(pk)
        return (f"len={len(plaintext)}",)

    monkeypatch.setattr(field, "reseal_columns", lambda: ["label"], raising=False)
    monkeypatch.setattr(field, "reseal_values", values, raising=False)
    report = resealing.reseal_field(Account, field, batch_size=2)
    assert report.resealed == 5 and len(seen) == 5
    for account in old:
        fresh = Account.objects.get(pk=account.pk)
        assert (fresh.label, fresh.token) == (f"len={len(account.token)}", account.token)
    assert Account.objects.get(pk=current.pk).label == "before"


@pytest.mark.django_db
def test_a_row_whose_extra_values_fail_is_reported_and_left_alone(monkeypatch):
    with override_settings(INTEGRATIONS=V1_ONLY):
        account = Account.objects.create(token="token", label="before")
    before = raw_column(Account, "token", account.pk)
    field = token_field()

    def refuse(plaintext, pk):
        raise ValueError("cannot index this value")

    monkeypatch.setattr(field, "reseal_columns", lambda: ["label"], raising=False)
    monkeypatch.setattr(field, "reseal_values", refuse, raising=False)
    report = resealing.reseal_field(Account, field)
    assert [u.error for u in report.unreadable] == ["ValueError"]
    assert raw_column(Account, "token", account.pk) == before


class _WrongCipher:
    """Seals like the real cipher, opens to other bytes: a broken primary key."""

    def __init__(self, real):
        self.real = real

    def encrypt(self, nonce, data, aad):
        return self.real.encrypt(nonce, data, aad)

    def decrypt(self, nonce, data, aad):
        return b"not what was sealed"


@pytest.mark.django_db
def test_a_new_value_that_does_not_open_to_the_same_bytes_is_never_written():
    with override_settings(INTEGRATIONS=V1_ONLY):
        account = Account.objects.create(token="keep me")
    before = raw_column(Account, "token", account.pk)
    keyring = Keyring.parse([TEST_KEY_V2, TEST_KEY_V1])
    keyring._primary_cipher = _WrongCipher(keyring._primary_cipher)
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V2, TEST_KEY_V1]}):
        app_settings.keyring = keyring  # the setting's keyring, its primary broken
        report = resealing.reseal_field(Account, token_field())
    assert [u.error for u in report.unreadable] == ["DecryptionError"]
    assert raw_column(Account, "token", account.pk) == before
    assert Account.objects.get(pk=account.pk).token == "keep me"


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_pipelined_workers_reseal_every_row_once_and_report_progress(monkeypatch):
    """Outside a transaction on PostgreSQL two workers share the batches."""
    with override_settings(INTEGRATIONS=V1_ONLY):
        Account.objects.bulk_create([Account(token=f"t{i}") for i in range(2345)])
    batches = []
    real = resealing._reseal_rows

    def counting(column, rows, mode, keyring, report):
        batches.append(threading.get_ident())
        return real(column, rows, mode, keyring, report)

    monkeypatch.setattr(resealing, "_reseal_rows", counting)
    progress = []
    report = resealing.reseal_field(
        Account, token_field(), batch_size=100, progress=progress.append
    )
    assert (report.resealed, report.changed, report.remaining, report.unreadable) == (
        2345,
        0,
        0,
        [],
    )
    assert sum(progress) == 2345 and len(batches) >= 24
    assert len(set(batches)) == 2  # both workers took batches
    tokens = sorted(a.token for a in Account.objects.all())
    assert tokens == sorted(f"t{i}" for i in range(2345))
    assert {app_settings.keyring.key_version(a.token_sealed) for a in Account.objects.all()} == {2}


# -- batches bounded by bytes --------------------------------------------------------


def _record_chunks(monkeypatch):
    """The rows each call of the engine's crypto step held: what is in memory at once."""
    chunks = []
    real = resealing._reseal_rows

    def recording(column, rows, mode, keyring, report):
        chunks.append([len(stored) for _pk, stored in rows])
        return real(column, rows, mode, keyring, report)

    monkeypatch.setattr(resealing, "_reseal_rows", recording)
    return chunks


def _assert_within(chunks, budget):
    """Each chunk stops at the value that reaches the budget (a larger one alone)."""
    for sizes in chunks:
        assert sum(sizes[:-1]) < budget, sizes


def _large_old_rows(sizes):
    with override_settings(INTEGRATIONS=V1_ONLY):
        return Account.objects.bulk_create(
            [Account(token=f"{i:03d}" + "v" * size) for i, size in enumerate(sizes)]
        )


@pytest.mark.django_db
def test_a_batch_of_large_values_is_split_by_bytes(monkeypatch):
    """12 values of ~4 kB, batches of 500 rows but 10 kB: no chunk holds more
    than the budget plus one value, and every value is re-sealed once."""
    _large_old_rows([3000] * 12)
    chunks = _record_chunks(monkeypatch)
    report = resealing.reseal_field(Account, token_field(), batch_size=500, batch_bytes=10_000)
    assert (report.resealed, report.remaining, report.unreadable) == (12, 0, [])
    _assert_within(chunks, 10_000)
    assert sum(len(sizes) for sizes in chunks) == 12
    assert [len(sizes) for sizes in chunks] == [3, 3, 3, 3]  # ~4 kB each: the 3rd reaches 10 kB
    assert sorted(a.token[:3] for a in Account.objects.all()) == [f"{i:03d}" for i in range(12)]


@pytest.mark.django_db
def test_a_value_larger_than_the_budget_goes_alone(monkeypatch):
    _large_old_rows([10, 20_000, 10, 10])
    chunks = _record_chunks(monkeypatch)
    report = resealing.reseal_field(Account, token_field(), batch_bytes=1_000)
    assert (report.resealed, report.remaining) == (4, 0)
    _assert_within(chunks, 1_000)
    big = [sizes for sizes in chunks if max(sizes) > 20_000]
    assert len(big) == 1 and big[0][-1] > 20_000  # it ends its chunk
    assert sum(len(sizes) for sizes in chunks) == 4


@pytest.mark.django_db
def test_small_and_large_values_in_one_batch(monkeypatch):
    """On PostgreSQL the small values come with the batch's query and the large
    one is read after; every row is done once, in key order within a batch."""
    _large_old_rows([10] * 5 + [20_000] + [10] * 5)
    chunks = _record_chunks(monkeypatch)
    report = resealing.reseal_field(Account, token_field(), batch_size=4, batch_bytes=4_000)
    assert (report.resealed, report.remaining) == (11, 0)
    _assert_within(chunks, 4_000)
    assert sum(len(sizes) for sizes in chunks) == 11
    assert sorted(a.token[:3] for a in Account.objects.all()) == [f"{i:03d}" for i in range(11)]


@pytest.mark.django_db
def test_small_values_are_not_split(monkeypatch):
    """The common case: tokens far below the budget keep one chunk per batch."""
    _large_old_rows([50] * 30)
    chunks = _record_chunks(monkeypatch)
    resealing.reseal_field(Account, token_field(), batch_size=10)
    assert [len(sizes) for sizes in chunks] == [10, 10, 10]


def test_the_default_budget_is_the_setting():
    assert app_settings.RESEAL_BATCH_BYTES == 4 * 2**20
    with override_settings(INTEGRATIONS={**V1_ONLY, "RESEAL_BATCH_BYTES": 0}):
        from django.core.exceptions import ImproperlyConfigured

        with pytest.raises(ImproperlyConfigured, match="RESEAL_BATCH_BYTES"):
            app_settings.RESEAL_BATCH_BYTES


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_pipelined_batches_of_large_values_are_split_by_bytes(monkeypatch):
    """PostgreSQL, two workers: a window's rows are all locked by its one query,
    but only the values within the budget travel with it; the rest are read in
    chunks within the same transaction. Nothing is skipped or done twice."""
    _large_old_rows([3000 + i for i in range(40)])
    chunks = _record_chunks(monkeypatch)
    report = resealing.reseal_field(Account, token_field(), batch_size=16, batch_bytes=10_000)
    assert (report.resealed, report.changed, report.remaining, report.unreadable) == (
        40,
        0,
        0,
        [],
    )
    _assert_within(chunks, 10_000)
    assert sum(len(sizes) for sizes in chunks) == 40
    assert max(len(sizes) for sizes in chunks) == 3
    assert sorted(a.token[:3] for a in Account.objects.all()) == [f"{i:03d}" for i in range(40)]
    assert {app_settings.keyring.key_version(a.token_sealed) for a in Account.objects.all()} == {2}
