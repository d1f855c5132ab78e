"""What each install mode needs and what it says when something is missing (issue 25):
fields-only needs Django and cryptography alone; the full app names its extra when it
is not installed; the natural guess ``integrations.admin`` names the fields-only
path; the fields-only page's settings work as written, key first. Each runs in a
subprocess, as a third-party project would (tests/fieldsonly is that project)."""

import os
import re
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from integrations.apps import APP_EXTRA_MODULES

ROOT = Path(__file__).resolve().parent.parent
FIELDS_ONLY_PAGE = ROOT / "docs" / "how-to" / "fields-only.md"
CANARY_KEY = "1:Y2FuYXJ5LWtleS1ub3QtYS1yZWFsLWtleS0zMmJ5dGU="


def _run(script, env, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def fields_only_env(tmp_path):
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.fieldsonly.settings",
        "FIELDS_ONLY_DB": str(tmp_path / "fields-only.sqlite3"),
        "FIELDS_ONLY_KEYS": CANARY_KEY,
        "PYTHONPATH": str(ROOT),
    }


# -- the distribution's requirements --------------------------------------------


def _requirements():
    return [Requirement(line) for line in requires("sealed-integrations") or []]


def test_a_plain_install_needs_only_django_and_cryptography():
    unconditional = sorted(r.name.lower() for r in _requirements() if r.marker is None)
    assert unconditional == ["cryptography", "django"]


def test_the_apps_dependencies_come_with_the_app_extra_and_the_api_extra_brings_it():
    def extra(name):
        return {
            r.name.lower()
            for r in _requirements()
            if r.marker is not None and r.marker.evaluate({"extra": name})
        }

    app = extra("app")
    assert {"authlib", "oauthlib", "joserfc", "requests", "httpx"} <= app
    assert {"django-ratelimit", "tenacity", "standardwebhooks"} <= app
    # [api] (the old "full app" line) and [celery] keep working: they bring [app].
    assert "sealed-integrations" in extra("api")
    assert "sealed-integrations" in extra("celery")
    # Every module the app's config looks for is one the extra installs.
    assert len(APP_EXTRA_MODULES) == len(app)


# -- the full app without its extra ---------------------------------------------

_FULL_APP_WITHOUT = r"""
import sys
for name in {missing!r}:
    sys.modules[name] = None  # as if not installed
import django
from django.conf import settings
settings.configure(
    SECRET_KEY="x",
    INSTALLED_APPS=["django.contrib.admin", "django.contrib.contenttypes",
                    "django.contrib.auth", "django.contrib.sessions",
                    "django.contrib.messages", "integrations.sealed", "integrations"],
    DATABASES={{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}},
    INTEGRATIONS={{"ENCRYPTION_KEYS": [{key!r}]}},
)
django.setup()
"""


@pytest.mark.parametrize("missing", [("httpx",), ("authlib", "requests", "tenacity")])
def test_the_full_app_without_its_extra_stops_with_the_pip_line(fields_only_env, missing):
    result = _run(_FULL_APP_WITHOUT.format(missing=missing, key=CANARY_KEY), fields_only_env)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured:")
    assert 'pip install "sealed-integrations[app]"' in last
    assert all(name in last for name in missing)
    assert "integrations.sealed" in last  # the way out for a fields-only project
    assert CANARY_KEY.split(":")[1] not in result.stderr


# -- the natural guess for the admin mixin --------------------------------------


def test_integrations_admin_in_a_fields_only_project_names_the_sealed_admin(fields_only_env):
    script = (
        "import django; django.setup()\n"
        "try:\n"
        "    from integrations.admin import SealedFieldsAdminMixin\n"
        "except ImportError as exc:\n"
        "    print('ImportError:', exc)\n"
    )
    result = _run(script, fields_only_env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ImportError:" in result.stdout
    assert "from integrations.sealed.admin import SealedFieldsAdminMixin" in result.stdout


def test_integrations_admin_offers_the_mixin_when_the_full_app_is_installed():
    from integrations.admin import SealedFieldsAdminMixin
    from integrations.sealed.admin import SealedFieldsAdminMixin as sealed_mixin

    assert SealedFieldsAdminMixin is sealed_mixin


# -- the fields-only page, followed as written ----------------------------------


def _settings_blocks():
    """The page's ``settings.py`` snippets, in order (a changed page changes the test)."""
    text = FIELDS_ONLY_PAGE.read_text()
    return re.findall(r'```python title="settings.py"\n(.*?)```', text, re.S)


_BASE_SETTINGS = """
SECRET_KEY = "fields-only-page"
USE_TZ = True
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
"""


def test_the_fields_only_page_works_as_written_key_first(tmp_path):
    blocks = _settings_blocks()
    assert len(blocks) == 2, "the page adds the app, then (after the key) reads the key"
    settings = tmp_path / "page_settings.py"
    env = {
        **{k: v for k, v in os.environ.items() if k != "MYPROJECT_ENCRYPTION_KEYS"},
        "DJANGO_SETTINGS_MODULE": "page_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    manage = [sys.executable, "-m", "django"]  # what manage.py runs

    # Step 1: the app, no key anywhere yet; the key command runs.
    settings.write_text(_BASE_SETTINGS + blocks[0])
    generated = subprocess.run(
        [*manage, "generate_encryption_key"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert generated.returncode == 0, generated.stderr[-3000:]
    entry = generated.stdout.strip()
    assert re.fullmatch(r"1:[A-Za-z0-9_-]{43}=", entry)

    # Step 2: the settings read the key; `check` reports nothing, not even a warning.
    settings.write_text(_BASE_SETTINGS + blocks[0] + blocks[1])
    checked = subprocess.run(
        [*manage, "check", "--fail-level", "WARNING"],
        cwd=tmp_path,
        env={**env, "MYPROJECT_ENCRYPTION_KEYS": entry},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert "System check identified no issues" in checked.stdout
    assert entry.split(":")[1] not in checked.stdout + checked.stderr
