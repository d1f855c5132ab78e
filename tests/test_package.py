"""The package as PyPI and pip see it (issue 11, item 4)."""

import re
from pathlib import Path

import integrations

ROOT = Path(__file__).resolve().parent.parent


def test_the_pypi_description_stands_on_its_own():
    text = (ROOT / "README.pypi.md").read_text()
    assert "make " not in text  # no repository commands
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert all(link.startswith("https://") for link in links), links  # no relative paths
    assert "![" not in text  # no images that would need the repository


def test_the_version_is_the_package_s():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'version = {attr = "integrations.__version__"}' in pyproject
    assert re.fullmatch(r"\d+\.\d+\.\d+", integrations.__version__)
    assert f"## [{integrations.__version__}]" in (ROOT / "CHANGELOG.md").read_text()


def test_the_license_and_typing_marker_ship_with_the_package():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert (ROOT / "integrations" / "py.typed").exists()
