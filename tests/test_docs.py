"""The documentation site (mkdocs.yml, docs/) builds strictly and stays true to the code.

A strict build fails on a link to a missing page or anchor and on a page left out
of the nav. The reference pages must name every setting, system check and command
option the code has, so a new one cannot ship undocumented.
"""

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import find_commands, load_command_class
from django.core.management.base import BaseCommand

from integrations.conf import DEFAULTS  # importing it registers the integrations layer's keys
from integrations.sealed import conf as sealed_conf

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"

needs_mkdocs = pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None,
    reason="mkdocs and mkdocs-material are not installed (pip install -e '.[docs]')",
)


def build(config, site_dir):
    """Run `mkdocs build --strict`; the completed process (output in .stdout)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(config),
            "--site-dir",
            str(site_dir),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": "/usr/bin:/bin", "NO_MKDOCS_2_WARNING": "1", "PYTHONUTF8": "1"},
    )


def output(result):
    return result.stdout + result.stderr


@needs_mkdocs
class TestSiteBuild:
    def test_builds_strictly_with_every_page_and_no_font_cdn(self, tmp_path):
        site = tmp_path / "site"
        result = build(ROOT / "mkdocs.yml", site)
        assert result.returncode == 0, output(result)
        for page in (
            "index.html",
            "tutorial/index.html",
            "FORMAT/index.html",
            "KEYS/index.html",
            "explanation/threat-model/index.html",
            "reference/settings/index.html",
            "how-to/production-checklist/index.html",
        ):
            assert (site / page).is_file(), page
        assert (site / "screenshot-admin.png").is_file()
        # theme.font is off: no page makes a reader's browser fetch Google Fonts.
        for html in site.rglob("*.html"):
            text = html.read_text(encoding="utf-8")
            assert "fonts.googleapis.com" not in text and "fonts.gstatic.com" not in text, html

    @pytest.mark.parametrize(
        "hostile",
        [
            "[gone](reference/no-such-page.md)",
            "[no anchor](tutorial.md#no-such-section)",
            "[escapes the site](../README.md)",
        ],
    )
    def test_a_broken_link_fails_the_build(self, tmp_path, hostile):
        """The configuration really is strict: a copy with one bad link does not build."""
        copy = tmp_path / "repo"
        shutil.copytree(DOCS, copy / "docs")
        shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
        index = copy / "docs" / "index.md"
        index.write_text(index.read_text(encoding="utf-8") + f"\n{hostile}\n", encoding="utf-8")
        result = build(copy / "mkdocs.yml", tmp_path / "site")
        assert result.returncode != 0, output(result)
        assert "index.md" in output(result)

    def test_a_page_missing_from_the_nav_fails_the_build(self, tmp_path):
        copy = tmp_path / "repo"
        shutil.copytree(DOCS, copy / "docs")
        shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
        (copy / "docs" / "orphan.md").write_text("# Not in the nav\n", encoding="utf-8")
        result = build(copy / "mkdocs.yml", tmp_path / "site")
        assert result.returncode != 0, output(result)
        assert "orphan.md" in output(result)


def test_every_setting_is_documented():
    """Both layers register keys in the one INTEGRATIONS dict: every one has a section."""
    assert DEFAULTS is sealed_conf.DEFAULTS
    # One key of each layer, so a registry that lost a layer cannot pass vacuously.
    assert {"ENCRYPTION_KEYS", "REFRESH_MARGIN_SECONDS"} <= set(DEFAULTS)
    text = (REFERENCE / "settings.md").read_text(encoding="utf-8")
    missing = [name for name in DEFAULTS if f"## `{name}`" not in text]
    assert not missing, f"settings without a section in docs/reference/settings.md: {missing}"


def test_every_system_check_id_is_documented():
    ids = set()
    for path in (ROOT / "integrations").rglob("*.py"):
        ids.update(re.findall(r"integrations\.[EW]\d{3}", path.read_text(encoding="utf-8")))
    assert ids, "no check ids found: the pattern is out of date"
    text = (REFERENCE / "checks.md").read_text(encoding="utf-8")
    missing = sorted(i for i in ids if f"`{i}`" not in text)
    assert not missing, f"check ids missing from docs/reference/checks.md: {missing}"


# The two apps' command packages: the sealed-values layer's and the integrations layer's.
COMMAND_APPS = {
    "integrations.sealed": ROOT / "integrations" / "sealed" / "management",
    "integrations": ROOT / "integrations" / "management",
}


def _our_commands():
    """(command name, app) for every command both apps ship, found on disk, so a
    command counts whether or not the test settings install its app."""
    return sorted(
        (name, app) for app, path in COMMAND_APPS.items() for name in find_commands(str(path))
    )


def test_every_command_and_option_is_documented():
    text = (REFERENCE / "commands.md").read_text(encoding="utf-8")
    # Options every Django command has (--verbosity, --settings...) are Django's to document.
    base = {
        option
        for action in BaseCommand().create_parser("manage.py", "any")._actions
        for option in action.option_strings
    }
    commands = _our_commands()
    names = {name for name, _app in commands}
    assert {"rotate_keys", "refresh_expiring_tokens"} <= names, "an app's commands were not found"
    missing = []
    for name, app in commands:
        if f"## `{name}`" not in text:
            missing.append(name)
        parser = load_command_class(app, name).create_parser("manage.py", name)
        for action in parser._actions:
            for option in action.option_strings:
                if option.startswith("--") and option not in base and f"`{option}" not in text:
                    missing.append(f"{name} {option}")
    assert not missing, f"undocumented in docs/reference/commands.md: {missing}"


def test_readme_links_resolve():
    """The README is the front door: every relative link in it leads somewhere."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    broken = [
        t
        for t in targets
        if not re.match(r"[a-z]+:", t)
        and not t.startswith("#")
        and not (ROOT / t.split("#")[0]).exists()
    ]
    assert not broken, f"README links to missing files: {broken}"
