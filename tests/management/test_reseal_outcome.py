"""How rotate_keys / encrypt_legacy end: exit statuses, one line on stderr, --json.

A script retires an old key only on exit status 0, so every way a run can leave
values behind (rows held locked, a database failure, an interruption) must end
non-zero, say how far it got, and never hide the error behind the audit write.
"""

import json
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError, connection, transaction
from django.test.utils import override_settings

from integrations.conf import app_settings
from integrations.sealed import resealing
from integrations.sealed.management.commands import _reseal
from tests.settings import TEST_KEY_V1
from tests.testapp.models import Account

V1_ONLY = {"ENCRYPTION_KEYS": [TEST_KEY_V1]}
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL row locks"
)


def old_rows(count, prefix="t"):
    with override_settings(INTEGRATIONS=V1_ONLY):
        return Account.objects.bulk_create([Account(token=f"{prefix}{i}") for i in range(count)])


def rotate(*args):
    """``(exit status, stdout, stderr)`` of rotate_keys on testapp.Account, as
    ``manage.py`` would exit (Django turns a CommandError into its returncode)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("rotate_keys", "--model", "testapp.Account", *args, stdout=out, stderr=err)
    except CommandError as exc:
        err.write(f"CommandError: {exc}\n")
        return exc.returncode, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def error_lines(stderr):
    """stderr without the progress lines (``label: done/total``)."""
    return [line for line in stderr.splitlines() if line and not line.startswith("testapp.")]


class _FailingCause(Exception):
    """A driver error whose message quotes a value, as a real one may."""

    sqlstate = "57P01"


def database_error_after(monkeypatch, batches, message="server closed: token=%s"):
    """Make the engine's write fail, as a restarted database does, after
    ``batches`` batches were written."""
    real = resealing._write
    calls = []

    def write(column, updates):
        calls.append(len(updates))
        if len(calls) > batches:
            try:
                raise _FailingCause(message)
            except _FailingCause as cause:
                raise OperationalError(message) from cause
        return real(column, updates)

    monkeypatch.setattr(resealing, "_write", write)


@pytest.mark.django_db
class TestExitStatus:
    def test_a_finished_run_exits_0_and_says_done(self):
        old_rows(3)
        code, out, err = rotate("--json")
        summary = json.loads(out)
        assert code == 0 and "CommandError" not in err
        assert (summary["status"], summary["exit_code"], summary["remaining"]) == ("done", 0, 0)
        assert summary["error"] is None and summary["audit_recorded"] is True

    def test_a_dry_run_leaves_values_and_still_exits_0(self):
        old_rows(3)
        code, out, _ = rotate("--dry-run", "--json")
        assert code == 0 and json.loads(out)["status"] == "done"

    def test_a_database_error_stops_the_run_with_one_line_and_exit_4(self, monkeypatch, canary):
        old_rows(5)
        database_error_after(monkeypatch, 2, message=f"server closed: token={canary}")
        code, out, err = rotate("--batch-size", "1")
        assert code == _reseal.EXIT_DATABASE == 4
        (line,) = error_lines(err)
        assert "rotate_keys stopped by a database error in testapp.Account.token" in line
        assert "OperationalError (_FailingCause, code 57P01): the server shut down" in line
        assert "2 re-sealed, about 3 value(s) on an old key still to do" in line
        assert "run again to continue" in line
        assert "Traceback" not in err and canary not in out + err
        # What was committed stays; running again finishes the job.
        monkeypatch.undo()
        assert rotate()[0] == 0
        assert sorted(a.token for a in Account.objects.all()) == [f"t{i}" for i in range(5)]

    def test_json_says_the_same(self, monkeypatch, canary):
        old_rows(4)
        database_error_after(monkeypatch, 1, message=f"boom {canary}")
        code, out, _ = rotate("--batch-size", "1", "--json")
        summary = json.loads(out)
        assert (summary["status"], summary["exit_code"]) == ("database_error", 4)
        assert summary["error"] == {
            "type": "OperationalError",
            "driver_error": "_FailingCause",
            "code": "57P01",
            "reason": "the server shut down (restart or administrator)",
        }
        assert (summary["remaining"], summary["remaining_exact"]) == (3, False)
        token = next(f for f in summary["fields"] if f["field"] == "token")
        assert (token["resealed"], token["finished"]) == (1, False)
        assert "run again to continue" in summary["message"]
        assert canary not in out

    def test_the_audit_write_failing_too_never_hides_the_database_error(self, monkeypatch):
        from integrations import audit

        old_rows(3)
        database_error_after(monkeypatch, 1)

        def audit_fails(*args, **kwargs):
            raise OperationalError("could not connect to server")

        monkeypatch.setattr(audit, "record", audit_fails)
        code, out, err = rotate("--batch-size", "1", "--json")
        assert code == 4
        (line,) = error_lines(err)
        assert "stopped by a database error in testapp.Account.token" in line
        assert "the audit record of this run could not be written (OperationalError" in line
        summary = json.loads(out)
        assert summary["audit_recorded"] is False
        assert summary["audit_error"]["type"] == "OperationalError"

    def test_a_stopped_run_is_audited_with_what_stopped_it(self, monkeypatch):
        from integrations.models import AuditEvent

        old_rows(3)
        database_error_after(monkeypatch, 1)
        assert rotate("--batch-size", "1")[0] == 4
        (event,) = AuditEvent.objects.filter(action="reseal")
        assert event.outcome == "failure"
        assert event.detail.startswith("1 re-sealed,")
        assert "stopped before the end (OperationalError)" in event.detail

    def test_an_audit_failure_after_a_finished_run_exits_4(self, monkeypatch):
        from integrations import audit

        old_rows(2)

        def audit_fails(*args, **kwargs):
            raise OperationalError("gone")

        monkeypatch.setattr(audit, "record", audit_fails)
        code, _, err = rotate()
        assert code == 4
        assert "rotate_keys done (2 re-sealed" in err
        assert "audit record of this run could not be written" in err

    def test_an_interrupted_run_exits_3(self, monkeypatch):
        old_rows(4)
        real = resealing._write
        calls = []

        def write(column, updates):
            calls.append(1)
            if len(calls) > 1:
                raise KeyboardInterrupt
            return real(column, updates)

        monkeypatch.setattr(resealing, "_write", write)
        code, out, err = rotate("--batch-size", "1", "--json")
        assert code == _reseal.EXIT_INCOMPLETE == 3
        summary = json.loads(out)
        assert summary["status"] == "interrupted" and summary["remaining"] == 3
        assert "rotate_keys interrupted; 1 re-sealed" in err and "run again" in err

    def test_unreadable_values_keep_exit_1(self, canary):
        from integrations.crypto import Keyring, generate_key
        from tests.dbutil import write_raw

        (account,) = old_rows(1)
        write_raw(
            Account,
            "token",
            account.pk,
            Keyring.parse([generate_key(7)]).encrypt(canary.encode(), b"x"),
        )
        code, out, err = rotate("--json")
        assert code == _reseal.EXIT_UNREADABLE == 1
        assert json.loads(out)["status"] == "unreadable"
        assert canary not in out + err

    @pytest.mark.parametrize("value", ["nope", "0", "-5M"])
    def test_a_bad_batch_bytes_is_refused(self, value):
        with pytest.raises(CommandError, match="batch-bytes(: not a size| must be at least 1)"):
            call_command("rotate_keys", f"--batch-bytes={value}", stdout=StringIO())

    @pytest.mark.parametrize(
        ("text", "size"),
        [("8M", 8 * 2**20), ("512k", 512 * 2**10), ("1000", 1000), ("1GiB", 2**30)],
    )
    def test_batch_bytes_sizes(self, text, size):
        assert _reseal.parse_bytes(text) == size


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_rows_held_locked_by_another_process_exit_3_until_done():
    """Another transaction holds two rows (SKIP LOCKED passes them by): the run
    must not exit 0, or a script would retire the key with those rows on it."""
    accounts = old_rows(6)
    held = [accounts[1].pk, accounts[4].pk]
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                list(Account.objects.select_for_update().filter(pk__in=held))
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        code, out, err = rotate("--json", "--batch-size", "2")
    finally:
        release.set()
        holder.join()
    summary = json.loads(out)
    assert code == _reseal.EXIT_INCOMPLETE == 3
    assert (summary["status"], summary["remaining"], summary["remaining_exact"]) == (
        "incomplete",
        2,
        True,
    )
    token = next(f for f in summary["fields"] if f["field"] == "token")
    assert (token["resealed"], token["remaining"]) == (4, 2)
    (line,) = error_lines(err)
    assert "rotate_keys incomplete: 4 re-sealed, 2 value(s) on an old key still to do" in line
    assert "run again to continue; do not retire an old key yet" in line
    # The lock gone, the next run finishes and exits 0.
    assert rotate()[0] == 0
    primary = app_settings.keyring.primary_version
    assert {app_settings.keyring.key_version(a.token_sealed) for a in Account.objects.all()} == {
        primary
    }


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_sigterm_stops_the_run_cleanly_with_exit_3():
    """A deploy or ``kill`` sends SIGTERM: the batch in hand finishes, the run
    says how far it got and exits 3 (incomplete), no traceback; the next run
    finishes."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    old_rows(4000)
    settings = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": (
            f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
        ),
    }
    command = [sys.executable, "manage.py", "rotate_keys", "--model", "testapp.Account"]
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [*command, "--batch-size", "10"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT COUNT(*) FROM testapp_account WHERE SUBSTR(token, 1, 7) = '$si1$2$'"
                )
                if cursor.fetchone()[0] >= 200:
                    break
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 3, err
    assert "Traceback" not in err
    (line,) = error_lines(err)
    assert line.startswith("CommandError: rotate_keys interrupted; ")
    assert "run again to continue" in line
    finished = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert Account.objects.count() == 4000
    primary = app_settings.keyring.primary_version
    assert {app_settings.keyring.key_version(a.token_sealed) for a in Account.objects.all()} == {
        primary
    }


@pytest.mark.parametrize("name", ["rotate_keys", "encrypt_legacy"])
def test_help_lists_the_exit_statuses(name):
    from django.core.management import load_command_class

    command = load_command_class("integrations.sealed", name)
    text = command.create_parser("manage.py", name).format_help()
    assert "--batch-bytes BYTES" in text
    assert "\n  3  incomplete: values remain that another run will do" in text
    assert "\n  4  the database failed" in text
