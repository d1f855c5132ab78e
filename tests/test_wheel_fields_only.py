"""The built wheel, installed with no extra into a fresh venv, is fields-only mode and
nothing more (issue 25): Django and cryptography, no OAuth or HTTP library; a project
with ``integrations.sealed`` alone checks, seals and opens; one that installs the
full app is stopped with the pip line of the ``app`` extra.

Slow (a wheel build and a venv from PyPI, about half a minute): marked ``slow``, run by
``make test``. It needs the package index, as ``make run`` does."""

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP_ONLY = {
    "authlib",
    "oauthlib",
    "joserfc",
    "requests",
    "httpx",
    "django-ratelimit",
    "tenacity",
    "standardwebhooks",
}
CANARY = "canary-sealed-value-7f3a"

_SETTINGS = """
SECRET_KEY = "wheel-fields-only"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"  # as startproject writes it (5.2 warns)
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth",
                  "integrations.sealed", "vault"]
INTEGRATIONS = {"ENCRYPTION_KEYS": ["1:Y2FuYXJ5LWtleS1ub3QtYS1yZWFsLWtleS0zMmJ5dGU="]}
DEFAULT_EXCEPTION_REPORTER = "integrations.reporting.RedactingExceptionReporter"
"""

_MODELS = """
from django.db import models
from integrations.fields import EncryptedTokenField

class Vault(models.Model):
    api_key = EncryptedTokenField(purpose="vault.api_key", null=True)
"""

_SCRIPT = """
import json, sys
from importlib.metadata import requires
import django
django.setup()
from django.core.management import call_command
call_command("migrate", run_syncdb=True, verbosity=0)
call_command("check", fail_level="WARNING")
import integrations
from vault.models import Vault
row = Vault.objects.create(api_key=sys.argv[1])
opened = Vault.objects.get(pk=row.pk).api_key == sys.argv[1]
sealed = Vault.objects.values_list("api_key_sealed", flat=True).get(pk=row.pk)
try:
    from integrations.admin import SealedFieldsAdminMixin
    admin_guess = "imported"
except ImportError as exc:
    admin_guess = str(exc)
print(json.dumps({"opened": opened, "sealed_hides_it": sys.argv[1] not in sealed,
                  "package": integrations.__file__, "requires": requires("sealed-integrations"),
                  "admin_guess": admin_guess}))
"""


def _run(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return result


@pytest.fixture(scope="module")
def fields_only_venv(tmp_path_factory):
    """A fresh venv holding the wheel built from this tree, installed with no extra."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a copy: the build writes build/ and *.egg-info
    source.mkdir()
    for name in ("pyproject.toml", "README.pypi.md", "LICENSE", "MANIFEST.in"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(
        ROOT / "integrations", source / "integrations", ignore=shutil.ignore_patterns("__pycache__")
    )
    dist = tmp / "dist"
    # pip, not `build`: the matrix session without the dev extra has pip alone.
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(source)]
    )
    (wheel,) = dist.glob("*.whl")
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", str(wheel)])
    return python


def _project(tmp_path, settings_text):
    (tmp_path / "vault").mkdir()
    (tmp_path / "vault" / "__init__.py").write_text("")
    (tmp_path / "vault" / "models.py").write_text(_MODELS)
    (tmp_path / "project_settings.py").write_text(settings_text)
    return {"DJANGO_SETTINGS_MODULE": "project_settings", "PATH": "/usr/bin:/bin"}


@pytest.mark.slow
def test_the_plain_wheel_installs_no_oauth_or_http_library(fields_only_venv):
    listed = _run([str(fields_only_venv), "-m", "pip", "list", "--format", "json"])
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert {"django", "cryptography", "sealed-integrations"} <= installed
    assert not installed & APP_ONLY


@pytest.mark.slow
def test_a_fields_only_project_checks_seals_and_opens_from_the_wheel(fields_only_venv, tmp_path):
    env = _project(tmp_path, _SETTINGS)
    result = _run([str(fields_only_venv), "-c", _SCRIPT, CANARY], cwd=tmp_path, env=env)
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["opened"] and out["sealed_hides_it"]
    assert str(fields_only_venv.parent.parent) in out["package"]  # the wheel, not this tree
    assert all(
        "extra ==" in line
        for line in out["requires"]
        if not line.startswith(("Django", "cryptography"))
    )
    assert "from integrations.sealed.admin import SealedFieldsAdminMixin" in out["admin_guess"]
    assert CANARY not in result.stdout + result.stderr


@pytest.mark.slow
def test_the_full_app_from_the_plain_wheel_names_the_extra(fields_only_venv, tmp_path):
    env = _project(
        tmp_path,
        _SETTINGS.replace('"integrations.sealed",', '"integrations.sealed", "integrations",'),
    )
    result = subprocess.run(
        [str(fields_only_venv), "-m", "django", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured:")
    assert 'pip install "sealed-integrations[app]"' in last


@pytest.mark.slow
def test_the_wheel_ships_the_provider_catalog_and_its_icons(fields_only_venv):
    """The catalog is data files: a wheel without them would offer no presets."""
    import zipfile

    (wheel,) = (fields_only_venv.parent.parent.parent / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    catalog = sorted((ROOT / "integrations" / "providers" / "catalog").glob("*.toml"))
    assert catalog
    for path in catalog:
        assert f"integrations/providers/catalog/{path.name}" in names
    icons = sorted((ROOT / "integrations" / "static" / "integrations" / "icons").glob("*.svg"))
    for path in icons:
        assert f"integrations/static/integrations/icons/{path.name}" in names
