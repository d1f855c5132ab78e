"""rotate_keys when the database goes away under it (``make faults``).

The command runs as an operator runs it (``manage.py`` in its own process)
against the private cluster; the test restarts the server, or kills the
command's connections, mid-run. Expected: exit status 4, one line on stderr
(no traceback) saying what failed and to run again; nothing lost; the next run
finishes and every value opens. (A process killed mid-run is covered by
tests/test_resealing.py::test_sigkill_mid_run_then_resume.)
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import override_settings

from integrations.conf import app_settings
from tests.settings import TEST_KEY_V1
from tests.testapp.models import Account

ROOT = Path(__file__).resolve().parents[2]
ROWS = 20_000
HEADER_V2 = "$si1$2$"

pytestmark = pytest.mark.faults


def _command(*args):
    settings = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": (
            f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
        ),
    }
    return (
        [sys.executable, "manage.py", "rotate_keys", "--model", "testapp.Account", *args],
        env,
    )


def _on_primary():
    connection.close()  # the test's own connection did not survive a restart either
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM testapp_account WHERE SUBSTR(token, 1, 7) = %s", [HEADER_V2]
        )
        return cursor.fetchone()[0]


def _rotate_and_break(command, env, fault):
    """Start the command on ``ROWS`` old rows, call ``fault()`` once 500 are done,
    and return the command's ``(exit status, stderr)``."""
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V1]}):
        Account.objects.bulk_create([Account(token=f"t{i}") for i in range(ROWS)], batch_size=2000)
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while _on_primary() < 500 and time.monotonic() < deadline:
            time.sleep(0.02)
        fault()
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, err


def _error_lines(stderr):
    """stderr without the progress lines (``testapp.Account.token: 10/20000``)."""
    return [line for line in stderr.splitlines() if line and not line.startswith("testapp.")]


@pytest.mark.parametrize("fault", ["restart", "terminate_backends"])
def test_rotate_keys_with_the_database_failing_mid_run(pg_cluster, fault):
    command, env = _command("--batch-size", "10")

    def break_it():
        if fault == "restart":
            pg_cluster.restart(down_for=1.0)
        else:
            pg_cluster.terminate_backends(connection.settings_dict["NAME"])

    code, err = _rotate_and_break(command, env, break_it)
    done = _on_primary()
    assert 0 < done < ROWS, "the fault should have stopped the run mid-way"
    assert code == 4, err
    assert "Traceback" not in err
    (line,) = _error_lines(err)
    assert line.startswith("CommandError: rotate_keys stopped by a database error")
    assert "OperationalError" in line or "InterfaceError" in line
    assert "still to do: nothing is lost, run again to continue" in line

    # The next run finishes the job; every value opens to what was stored.
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    connection.close()
    tokens = []
    for account in Account.objects.all():
        assert app_settings.keyring.key_version(account.token_sealed) == 2
        tokens.append(account.token)
    assert sorted(tokens) == sorted(f"t{i}" for i in range(ROWS))


def test_a_stopped_run_is_audited_when_the_database_is_back(pg_cluster):
    """Backends killed, the server up: the audit record of the stopped run is
    written on a new connection and names what stopped it."""
    from integrations.models import AuditEvent

    command, env = _command("--batch-size", "10", "--actor", "ops-faults")
    code, err = _rotate_and_break(
        command, env, lambda: pg_cluster.terminate_backends(connection.settings_dict["NAME"])
    )
    assert code == 4, err
    assert "audit record" not in err  # it was written
    connection.close()
    (event,) = AuditEvent.objects.filter(action="reseal", actor_label="ops-faults")
    assert event.outcome == "failure"
    assert "stopped before the end (" in event.detail
