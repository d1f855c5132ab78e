import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test.utils import override_settings

from integrations.crypto import Keyring

ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("generate_encryption_key", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_prints_one_ready_entry_above_the_highest_version():
    entry, hint = run()
    assert entry.startswith("3:")  # tests configure versions 2 and 1
    assert Keyring.parse(entry).primary_version == 3
    assert "\n" not in entry
    assert entry not in hint


def test_explicit_version_and_fresh_randomness():
    first, _ = run("--key-version", "7")
    second, _ = run("--key-version", "7")
    assert first.startswith("7:") and second.startswith("7:")
    assert first != second


def test_invalid_version():
    with pytest.raises(CommandError):
        run("--key-version", "0")


@pytest.mark.parametrize("keys", [[], ["1:broken"]])
def test_works_without_usable_keys(keys):
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": keys}):
        entry, _ = run()
    assert entry.startswith("1:")


def test_stdout_is_only_the_entry_from_a_shell():
    result = subprocess.run(
        [sys.executable, "manage.py", "generate_encryption_key", "--key-version", "4"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DEBUG": "true", "INTEGRATIONS_ENCRYPTION_KEYS": ""},
        check=True,
    )
    assert Keyring.parse(result.stdout.strip()).primary_version == 4


def test_hint_speaks_of_the_setting_to_any_project():
    """Run in the user's project, it must not speak of the demo's variable."""
    entry, hint = run("--key-version", "5")
    assert "Put this entry first in INTEGRATIONS['ENCRYPTION_KEYS']" in hint
    assert "INTEGRATIONS_ENCRYPTION_KEYS" not in hint
    assert "demo" not in hint.lower()
