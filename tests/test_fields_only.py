"""Fields-only mode: a project that installs ``integrations.sealed`` alone gets the
sealed fields, the checks and the key commands, and no table, model or import of
the integrations layer (issue 11, item 2). Run in a subprocess with its own
settings (tests/fieldsonly), as a third-party project would."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from integrations.crypto import generate_key

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "integrations"

# The sealed-values layer, and what it may import of the package.
SEALED_LAYER = ("integrations.crypto", "integrations.sealed")

_SCRIPT = r"""
import io, json, sys
import django
django.setup()
from django.core.management import call_command
from django.db import connection

call_command("migrate", verbosity=0)
call_command("check")
from tests.fieldsonly.models import Vault

vault = Vault.objects.create(name="one", api_key="canary-key-value", config={"k": "v"})
loaded = Vault.objects.get(pk=vault.pk)
assert (loaded.api_key, loaded.config) == ("canary-key-value", {"k": "v"})

out = {}
for name, args in [("generate_encryption_key", ["--key-version", "9"]),
                   ("encryption_status", ["--json"]),
                   ("rotate_keys", ["--json"]),
                   ("encrypt_legacy", ["--json"])]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=stdout, stderr=stderr)
    out[name] = stdout.getvalue()
from django.contrib.auth.models import User
from django.test import Client

client = Client()
client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
page = client.get("/admin/fieldsonly/vault/")
out["changelist"] = [page.status_code, page.content.decode()]
action = client.post("/admin/fieldsonly/vault/", {"action": "reseal_with_primary_key",
                                                  "_selected_action": [str(vault.pk)]}, follow=True)
out["action"] = [action.status_code, action.content.decode()]
out["tables"] = connection.introspection.table_names()
out["modules"] = sorted(m for m in sys.modules if m.startswith("integrations"))
print(json.dumps(out))
"""


@pytest.fixture
def project_env(tmp_path):
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.fieldsonly.settings",
        "FIELDS_ONLY_DB": str(tmp_path / "fields-only.sqlite3"),
        "FIELDS_ONLY_KEYS": f"{generate_key(2)},{generate_key(1)}",
        "PYTHONPATH": str(ROOT),
    }


def _run_project(env):
    """Run _SCRIPT in the fields-only project: the process result and its JSON output."""
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result, json.loads(result.stdout.strip().splitlines()[-1])


def test_fields_checks_and_key_commands_work_with_no_table_of_ours(project_env):
    result, out = _run_project(project_env)
    assert out["generate_encryption_key"].startswith("9:")
    status = json.loads(out["encryption_status"])
    assert {f["field"] for f in status["fields"]} == {"api_key", "config"}
    assert json.loads(out["rotate_keys"])["mode"] == "rotate"
    assert not [t for t in out["tables"] if t.startswith("integrations")]
    assert "fieldsonly_vault" in out["tables"]
    outside = [
        m
        for m in out["modules"]
        if m != "integrations"
        and not m.startswith(SEALED_LAYER)
        and m not in ("integrations.fields",)
    ]
    assert outside == [], outside
    assert "canary-key-value" not in result.stdout + result.stderr


def test_the_admin_mixin_works_with_the_sealed_layer_alone(project_env):
    result, out = _run_project(project_env)
    status, html = out["changelist"]
    assert status == 200
    assert html.count("Sealed (key v2)") == 2  # api_key and config, from the headers
    assert "column-api_key_status" in html
    status, html = out["action"]
    assert status == 200
    assert "0 value(s) re-sealed with key version 2" in html
    assert "canary-key-value" not in result.stdout + result.stderr


def test_the_full_app_without_the_sealed_layer_is_a_clear_error(project_env, tmp_path):
    script = (
        "import django; from django.conf import settings;"
        "settings.INSTALLED_APPS.remove('integrations.sealed');"
        "settings.INSTALLED_APPS += ['integrations'];"
        "django.setup(); from django.core.management import call_command;"
        "call_command('check')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=project_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "integrations.E020" in result.stderr
    assert "'integrations.sealed'" in result.stderr


def _imports(path, module):
    """Absolute names of the modules ``path`` (module ``module``) imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            yield name
            yield from (f"{name}.{alias.name}" for alias in node.names)


def test_the_sealed_layer_never_imports_the_integrations_layer():
    offenders = []
    for folder in ("crypto", "sealed"):
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for name in _imports(path, module):
                if name.startswith("integrations.") and not name.startswith(SEALED_LAYER):
                    offenders.append(f"{module} imports {name}")
    assert offenders == []


def test_the_crypto_core_imports_nothing_from_django():
    for path in sorted((PACKAGE / "crypto").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        assert not [n for n in _imports(path, module) if n.split(".")[0] == "django"], module


_SEARCHABLE_SCRIPT = r"""
import json
import django
django.setup()
from django.core.management import call_command
from django.db import IntegrityError, connection
from django.db.migrations.executor import MigrationExecutor

call_command("migrate", "fieldsonly", "0001", verbosity=0)
state = MigrationExecutor(connection).loader.project_state(("fieldsonly", "0001_initial"))
OldVault = state.apps.get_model("fieldsonly", "Vault")
for i in range(3):
    OldVault.objects.create(name=f"v{i}", api_key=f"canary-key-{i}", config={})
call_command("migrate", verbosity=0)

from tests.fieldsonly.models import Vault

out = {"found": Vault.objects.get(api_key="canary-key-1").name,
       "in": sorted(Vault.objects.filter(api_key__in=["canary-key-0", "canary-key-2"])
                    .values_list("name", flat=True))}
try:
    Vault.objects.create(name="dup", api_key="canary-key-2")
except IntegrityError:
    out["duplicate"] = "IntegrityError"
print(json.dumps(out))
"""


def test_a_third_party_project_makes_a_column_with_rows_searchable(project_env):
    """tests/fieldsonly 0002 (as makemigrations wrote it) makes ``Vault.api_key``
    searchable and unique on a table that already has rows."""
    result = subprocess.run(
        [sys.executable, "-c", _SEARCHABLE_SCRIPT],
        cwd=ROOT,
        env=project_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {"found": "v1", "in": ["v0", "v2"], "duplicate": "IntegrityError"}
    assert "canary-key" not in result.stderr
