"""The provider icons shipped with the app (issue 26): one file for every icon the
catalog names, each a small, safe SVG (no script, no event attribute, nothing
loaded from elsewhere), their sources and licences written down, and the wheel
carries them."""

import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from integrations.providers import PRESETS

ROOT = Path(__file__).resolve().parent.parent
ICONS = ROOT / "integrations" / "static" / "integrations" / "icons"
CATALOG = ROOT / "integrations" / "providers" / "catalog"
SVG = "{http://www.w3.org/2000/svg}"
SHAPES = set(
    "svg g path circle ellipse rect line polyline polygon defs linearGradient "
    "radialGradient stop clipPath mask use title".split()
)


def _script():
    spec = importlib.util.spec_from_file_location("vendor_icons", ROOT / "scripts/vendor_icons.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def catalog_icons():
    """Every icon name the catalog's TOML files and the loaded presets use."""
    names = {
        entry["metadata"]["icon"]
        for entry in PRESETS.values()
        if (entry.get("metadata") or {}).get("icon")
    }
    for path in CATALOG.glob("*.toml"):
        with path.open("rb") as file:
            names |= {e["icon"] for e in tomllib.load(file).values() if isinstance(e, dict)}
    return names


def svg_problems(text):
    """Why ``text`` is not a safe, self-contained SVG icon (empty when it is)."""
    if re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        return ["DTD"]
    problems = []
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DTD (checked above)
    except ET.ParseError as exc:
        return [f"not well-formed: {exc}"]
    if root.tag != f"{SVG}svg" or not root.get("viewBox"):
        problems.append("not an <svg> with a viewBox")
    for element in root.iter():
        if not element.tag.startswith(SVG) or element.tag[len(SVG) :] not in SHAPES:
            problems.append(f"element {element.tag}")
        for name, value in element.attrib.items():
            local = name.rpartition("}")[2].lower()
            if local.startswith("on"):
                problems.append(f"event attribute {name}")
            if local == "href" and not value.startswith("#"):
                problems.append(f"reference {value}")
            if any(not ref.startswith("#") for ref in re.findall(r"url\(['\"]?([^)'\"]*)", value)):
                problems.append(f"reference in {name}")
            if re.search(r"(javascript|data|https?):", value, re.IGNORECASE):
                problems.append(f"URL in {name}")
    return problems


def test_every_icon_the_catalog_names_has_its_file():
    shipped = {path.stem for path in ICONS.glob("*.svg")}
    planned = set(_script().PLANNED)
    missing = sorted((catalog_icons() | planned) - shipped)
    assert not missing, f"no icon file for {missing}: run scripts/vendor_icons.py"
    assert len(shipped) >= 100


def test_every_icon_is_a_small_safe_svg():
    files = sorted(ICONS.glob("*.svg"))
    assert files
    for path in files:
        text = path.read_text()
        assert not svg_problems(text), (path.name, svg_problems(text))
        root = ET.fromstring(text)  # noqa: S314 - checked above
        assert (root.get("width"), root.get("height")) == ("32", "32"), path.name
        assert len(text) < 20_000, path.name


@pytest.mark.parametrize(
    "bad",
    [
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><script>alert(1)</script></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1" onload="alert(1)"/>',
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink" '
        'viewBox="0 0 1 1"><use x:href="https://evil.example/a.svg#i"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1">'
        '<path fill="url(https://evil.example/p)" d="M0 0h1v1z"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><foreignObject/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1">'
        '<style>@import "x"</style></svg>',
        '<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>',
        "<svg viewBox='0 0 1 1'><path d='M0 0'></svg>",  # not well-formed
    ],
)
def test_the_checks_refuse_unsafe_svgs(bad):
    assert svg_problems(bad)
    try:
        assert _script().unsafe_parts(bad)  # the script refuses to write them as well
    except ET.ParseError:
        pass


def test_the_licences_name_each_set_its_version_and_every_icon():
    script = _script()
    licences = (ICONS / "LICENSES.md").read_text()
    used = {script.MAPPING[path.stem][0] for path in ICONS.glob("*.svg")}
    for name in used:
        package, version, licence, _ = script.SETS[name]
        assert f"| {name} | `{package}` | {version} | {licence} |" in licences
        assert licence in {"CC0-1.0", "MIT"}
    for path in ICONS.glob("*.svg"):
        assert f"| `{path.stem}` |" in licences
    assert "Permission is hereby granted" in licences  # Tabler's MIT notice


def test_brand_colours_read_on_the_white_tile():
    script = _script()
    assert script.brand_fill("635BFF") == "#635BFF"  # Stripe: 4.8:1 on white
    assert script.brand_fill("FFE01B") == script.TEXT_COLOUR  # Mailchimp yellow: 1.3:1
    assert script.brand_fill("not a colour") == script.TEXT_COLOUR
    for path in ICONS.glob("*.svg"):
        for colour in re.findall(r'(?:fill|stroke)="#([0-9A-Fa-f]{6})"', path.read_text()):
            if script.MAPPING[path.stem][0] != "logos":  # the full-colour logos keep theirs
                assert script.contrast_with_white(colour) >= 3, (path.name, colour)


def test_every_planned_icon_name_is_mapped():
    script = _script()
    assert set(script.PLANNED) <= set(script.MAPPING)
    assert catalog_icons() <= set(script.MAPPING)
    subprocess.run([sys.executable, str(ROOT / "scripts/vendor_icons.py"), "--check"], check=True)


@pytest.mark.slow
def test_the_wheel_carries_the_icons_and_the_filter_script(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.pypi.md", "LICENSE", "MANIFEST.in"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(
        ROOT / "integrations", source / "integrations", ignore=shutil.ignore_patterns("__pycache__")
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in ICONS.iterdir():
        assert f"integrations/static/integrations/icons/{path.name}" in names
    assert "integrations/static/integrations/preset_filter.js" in names
