#!/usr/bin/env python3
"""Vendor the provider icons: ``integrations/static/integrations/icons/<icon>.svg``.

Downloads the icon packages below with ``npm pack`` (into a temporary directory;
nothing is installed), checks that each package's own ``package.json`` states the
licence this script expects, and writes one small, clean SVG per icon name the
catalog uses (every ``icon = ...`` of ``integrations/providers/catalog/*.toml``, plus
the planned names in ``PLANNED`` while the catalog is being written), then
``LICENSES.md`` naming each set, its version and licence, and which icon came from
where. Run it from the repository's root::

    python scripts/vendor_icons.py            # (re)write the icons
    python scripts/vendor_icons.py --check    # fail when an icon name has no mapping

Colours, so that every icon reads on the white tile the pages draw it on (in the
light and dark layouts alike): a monochrome simple-icons path gets its brand colour
(simple-icons' ``hex``) when that colour has a contrast ratio of at least 3:1 with
white (WCAG 2.x, non-text contrast), else the pages' text colour ``#1f2933``; the
other monochrome sets (``currentColor``) get the text colour; the full-colour SVG
Logos keep theirs.

A brand none of the sets has gets a neutral icon of its category (a truck for a
shipping API, an envelope for an email one, ...): ``GENERIC`` lists them, so that
a better source can replace them later.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ICONS = ROOT / "integrations" / "static" / "integrations" / "icons"
CATALOG = ROOT / "integrations" / "providers" / "catalog"
TEXT_COLOUR = "#1f2933"
SIZE = 32

# set -> (npm package, pinned version, the licence its package.json must state, home page)
SETS = {
    "simple-icons": ("simple-icons", "16.37.0", "CC0-1.0", "https://simpleicons.org/"),
    "logos": (
        "@iconify-json/logos",
        "1.2.20",
        "CC0-1.0",
        "https://github.com/gilbarbara/logos",
    ),
    "cib": (
        "@iconify-json/cib",
        "1.2.3",
        "CC0-1.0",
        "https://github.com/coreui/coreui-icons",
    ),
    "tabler": ("@iconify-json/tabler", "1.2.41", "MIT", "https://tabler.io/icons"),
}

# Brands no set above has: a neutral icon of the provider's category (tabler).
GENERIC = {
    "oidc": "user-shield",
    "oauth1": "key",
    "pcloud": "cloud",
    "attio": "users",
    "copper": "users",
    "pipedrive": "users",  # SVG Logos has only its wide wordmark
    "freshdesk": "headset",
    "mollie": "credit-card",
    "gocardless": "credit-card",
    "shippo": "truck-delivery",
    "easypost": "truck-delivery",
    "shipstation": "truck-delivery",
    "sendcloud": "truck-delivery",
    "shipengine": "truck-delivery",
    "postmark": "mail",
    "constant-contact": "mail",
    "klaviyo": "mail",
    "messagebird": "message",
    "plivo": "message",
    "sinch": "message",
    "clicksend": "message",
    "telnyx": "message",  # SVG Logos has only its wide wordmark
}

# icon name -> (set, icon id in that set)
MAPPING = {
    **{name: ("tabler", icon) for name, icon in GENERIC.items()},
    # simple-icons: monochrome, in the brand's colour
    **{
        name: ("simple-icons", name.replace("-", ""))
        for name in (
            "google okta auth0 keycloak facebook instagram tiktok pinterest reddit twitch x "
            "tumblr spotify strava vimeo youtube discord zoom webex intercom dropbox box "
            "google-drive egnyte hubspot zendesk github gitlab bitbucket atlassian asana "
            "linear notion figma miro todoist stripe paypal square xero quickbooks adyen "
            "braintree razorpay wise paddle sumup aftership ups dhl mailchimp mailgun brevo "
            "resend gmail vonage google-analytics mixpanel posthog shopify airtable clickup "
            "calendly typeform trello"
        ).split()
    },
    "x-oauth2": ("simple-icons", "x"),
    "stripe-connect": ("simple-icons", "stripe"),
    "backblaze-b2": ("simple-icons", "backblaze"),
    "zoho-crm": ("simple-icons", "zoho"),
    "plausible": ("simple-icons", "plausibleanalytics"),
    # SVG Logos: full colour, the square marks
    "microsoft": ("logos", "microsoft-icon"),
    "linkedin": ("logos", "linkedin-icon"),
    "slack": ("logos", "slack-icon"),
    "front": ("logos", "frontapp"),
    "microsoft-teams": ("logos", "microsoft-teams"),
    "onedrive": ("logos", "microsoft-onedrive"),
    "salesforce": ("logos", "salesforce"),
    "close": ("logos", "close"),
    "sendgrid": ("logos", "sendgrid-icon"),
    "mailjet": ("logos", "mailjet-icon"),
    "twilio": ("logos", "twilio-icon"),
    "amplitude": ("logos", "amplitude-icon"),
    "segment": ("logos", "segment-icon"),
    "monday": ("logos", "monday-icon"),
    # CoreUI brand icons: monochrome
    "amazon": ("cib", "amazon"),
    "yahoo": ("cib", "yahoo"),
    "docusign": ("cib", "docusign"),
}

# The catalog's icon names as planned (issue 26); the TOML files add theirs.
PLANNED = (
    "google microsoft oidc okta auth0 keycloak amazon yahoo facebook instagram linkedin tiktok "
    "pinterest reddit twitch x x-oauth2 tumblr spotify strava vimeo youtube slack discord zoom "
    "webex intercom front microsoft-teams dropbox box google-drive onedrive egnyte pcloud "
    "backblaze-b2 salesforce hubspot pipedrive zendesk zoho-crm close attio freshdesk copper "
    "github gitlab bitbucket atlassian asana linear notion figma miro todoist stripe-connect "
    "stripe paypal square xero quickbooks mollie adyen braintree razorpay gocardless wise paddle "
    "sumup shippo easypost shipstation sendcloud shipengine aftership ups dhl sendgrid mailchimp "
    "mailgun postmark brevo resend constant-contact klaviyo gmail mailjet twilio vonage "
    "messagebird plivo sinch telnyx clicksend google-analytics mixpanel amplitude segment posthog "
    "plausible shopify airtable monday clickup calendly typeform docusign trello oauth1"
).split()

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
# What an icon may contain: shapes, groups, gradients, clips and masks.
ALLOWED_TAGS = frozenset(
    "svg g path circle ellipse rect line polyline polygon defs linearGradient "
    "radialGradient stop clipPath mask use title".split()
)
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def unsafe_parts(svg_text):
    """What makes an SVG unfit to ship (an empty list when it is fine): elements
    outside ALLOWED_TAGS (script, foreignObject, image, style ...), event
    attributes, and references outside the file. Raises ``ET.ParseError`` when it
    is not well-formed XML."""
    if re.search(r"<!(DOCTYPE|ENTITY)", svg_text, re.IGNORECASE):
        return ["a DOCTYPE or ENTITY declaration"]  # never parsed: no entity expansion
    problems = []
    root = ET.fromstring(svg_text)  # noqa: S314 - no DTD (checked above)
    if root.tag != f"{{{SVG_NS}}}svg":
        problems.append(f"root element {root.tag}")
    for element in root.iter():
        namespace, _, tag = element.tag.rpartition("}")
        if namespace != "{" + SVG_NS or tag not in ALLOWED_TAGS:
            problems.append(f"element {element.tag}")
        for attribute, value in element.attrib.items():
            local = attribute.rpartition("}")[2].lower()
            if local.startswith("on"):
                problems.append(f"event attribute {attribute}")
            if local == "href" and not value.startswith("#"):
                problems.append(f"external reference {value[:40]}")
            for ref in re.findall(r"url\(\s*['\"]?([^)'\"]*)", value):
                if not ref.startswith("#"):
                    problems.append(f"external reference url({ref[:40]})")
            if re.search(r"javascript:|data:|https?:", value, re.IGNORECASE) and local != "xmlns":
                problems.append(f"URL in attribute {attribute}")
    return problems


def catalog_icon_names():
    """Every ``icon`` of the catalog's TOML files (none while there are none)."""
    names = set()
    for path in sorted(CATALOG.glob("*.toml")):
        with path.open("rb") as file:
            for entry in tomllib.load(file).values():
                if isinstance(entry, dict) and entry.get("icon"):
                    names.add(entry["icon"])
    return names


def _luminance(hex_colour):
    def channel(value):
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast_with_white(hex_colour):
    return 1.05 / (_luminance(hex_colour) + 0.05)


def brand_fill(hex_colour):
    """The brand colour when it reads on white (3:1), else the text colour."""
    if hex_colour and re.fullmatch(r"[0-9A-Fa-f]{6}", hex_colour):
        if contrast_with_white(hex_colour) >= 3:
            return "#" + hex_colour.upper()
    return TEXT_COLOUR


def _npm_pack(package, version, workdir):
    """Download ``package@version`` with ``npm pack``; return its unpacked root."""
    output = subprocess.run(  # noqa: S603 - fixed arguments
        [shutil.which("npm") or "npm", "pack", "--silent", f"{package}@{version}"],
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    target = workdir / output.removesuffix(".tgz")
    with tarfile.open(workdir / output) as archive:
        archive.extractall(target, filter="data")
    return target / "package"


def _svg(view_box, body, title):
    svg = (
        f'<svg xmlns="{SVG_NS}" width="{SIZE}" height="{SIZE}" viewBox="{view_box}">'
        f"<title>{title}</title>{body}</svg>\n"
    )
    problems = unsafe_parts(svg)
    if problems:
        raise SystemExit(f"{title}: unsafe icon: {'; '.join(problems)}")
    return svg


def _escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Source:
    def __init__(self, name, root):
        self.name = name
        self.root = root
        package = json.loads((root / "package.json").read_text())
        _, version, licence, _ = SETS[name]
        if package.get("license") != licence or package.get("version") != version:
            raise SystemExit(
                f"{name}: expected {licence} {version}, the package says "
                f"{package.get('license')} {package.get('version')}"
            )
        if name == "simple-icons":
            data = json.loads((root / "data" / "simple-icons.json").read_text())
            self.colours = {entry["slug"]: entry["hex"] for entry in data}
            self.titles = {entry["slug"]: entry["title"] for entry in data}
        else:
            self.iconify = json.loads((root / "icons.json").read_text())

    def icon(self, icon_id):
        if self.name == "simple-icons":
            source = (self.root / "icons" / f"{icon_id}.svg").read_text()
            if unsafe_parts(source):
                raise SystemExit(f"simple-icons {icon_id}: {unsafe_parts(source)}")
            root = ET.fromstring(source)  # noqa: S314 - checked by unsafe_parts
            paths = root.findall(f"{{{SVG_NS}}}path")
            if len(paths) != 1 or set(paths[0].attrib) != {"d"}:
                raise SystemExit(f"simple-icons {icon_id}: expected one plain path")
            fill = brand_fill(self.colours[icon_id])
            body = f'<path fill="{fill}" d="{paths[0].attrib["d"]}"/>'
            return _svg(root.attrib["viewBox"], body, _escape(self.titles[icon_id]))
        icons = self.iconify["icons"]
        entry = icons[icon_id]
        width = entry.get("width", self.iconify.get("width", 16))
        height = entry.get("height", self.iconify.get("height", 16))
        left, top = entry.get("left", 0), entry.get("top", 0)
        if set(entry) - {"body", "width", "height", "left", "top", "hidden"}:
            raise SystemExit(f"{self.name}:{icon_id}: transformations are not supported")
        body = entry["body"].replace("currentColor", TEXT_COLOUR)
        return _svg(f"{left} {top} {width} {height}", body, _escape(icon_id))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="only check that every icon name has a mapping"
    )
    args = parser.parse_args(argv)
    wanted = sorted(set(PLANNED) | catalog_icon_names())
    bad = [name for name in wanted if not _NAME.fullmatch(name)]
    missing = [name for name in wanted if name not in MAPPING]
    if bad or missing:
        raise SystemExit(
            f"icon names without a mapping in {Path(__file__).name}: {', '.join(missing + bad)}"
        )
    if args.check:
        print(f"{len(wanted)} icon names, all mapped")
        return
    if shutil.which("npm") is None:
        raise SystemExit("npm is needed (it downloads the icon packages; nothing is installed)")
    used = sorted({MAPPING[name][0] for name in wanted})
    with tempfile.TemporaryDirectory() as tmp:
        sources = {}
        for name in used:
            package, version, _, _ = SETS[name]
            sources[name] = Source(name, _npm_pack(package, version, Path(tmp)))
        ICONS.mkdir(parents=True, exist_ok=True)
        for old in ICONS.glob("*.svg"):
            old.unlink()
        for name in wanted:
            set_name, icon_id = MAPPING[name]
            (ICONS / f"{name}.svg").write_text(sources[set_name].icon(icon_id))
    _write_licences(wanted, used)
    print(f"wrote {len(wanted)} icons to {ICONS.relative_to(ROOT)}")


def _write_licences(wanted, used):
    lines = [
        "# Provider icons: sources and licences",
        "",
        "Written by `scripts/vendor_icons.py` (do not edit by hand). Each icon is a copy,",
        "re-wrapped as a small standalone SVG, of an icon of one of these packages",
        "(downloaded from npm with `npm pack`; the licence is checked in each package's",
        "`package.json`). Brand names and logos are trademarks of their owners; they",
        "are shown only to name the service a user connects to.",
        "",
        "| Set | npm package | Version | Licence | Home |",
        "|---|---|---|---|---|",
    ]
    for name in used:
        package, version, licence, home = SETS[name]
        lines.append(f"| {name} | `{package}` | {version} | {licence} | {home} |")
    lines += [
        "",
        "Tabler Icons (`@iconify-json/tabler`, Tabler Icons 3.x by Paweł Kuna) is under",
        "the MIT License:",
        "",
        "> Copyright (c) Paweł Kuna",
        ">",
        "> Permission is hereby granted, free of charge, to any person obtaining a copy of",
        '> this software and associated documentation files (the "Software"), to deal in',
        "> the Software without restriction, including without limitation the rights to",
        "> use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of",
        "> the Software, and to permit persons to whom the Software is furnished to do so,",
        "> subject to the following conditions:",
        ">",
        "> The above copyright notice and this permission notice shall be included in all",
        "> copies or substantial portions of the Software.",
        ">",
        '> THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR',
        "> IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS",
        "> FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR",
        "> COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN",
        "> AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION",
        "> WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.",
        "",
        "Brands none of the sets has are shown with a neutral Tabler icon of their",
        "category: " + ", ".join(f"`{name}`" for name in sorted(GENERIC) if name in wanted) + ".",
        "",
        "| Icon | Set | Icon id |",
        "|---|---|---|",
    ]
    for name in wanted:
        set_name, icon_id = MAPPING[name]
        lines.append(f"| `{name}` | {set_name} | `{icon_id}` |")
    (ICONS / "LICENSES.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
