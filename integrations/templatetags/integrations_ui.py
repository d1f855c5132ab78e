"""Template helpers for the app's pages: a provider's icon or letter avatar, and
"… ago".

``{% load integrations_ui %}``. They only format what a template already has;
nothing here reads a secret or the database.
"""

import re
import zlib
from pathlib import Path

from django import template
from django.templatetags.static import static
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

register = template.Library()

# Background colours for the letter avatars: each has a contrast ratio of at
# least 4.5:1 with white text (WCAG AA), and they are far enough apart that two
# providers side by side rarely look alike.
AVATAR_COLOURS = (
    "#1f56b3",  # blue
    "#2e7d32",  # green
    "#6a1b9a",  # purple
    "#ad1457",  # pink
    "#00695c",  # teal
    "#b23c17",  # rust
    "#4527a0",  # indigo
    "#455a64",  # slate
)

_WORD = re.compile(r"[^\W_]+")

# The icons shipped with the app (scripts/vendor_icons.py writes them).
ICONS_DIR = Path(__file__).resolve().parent.parent / "static" / "integrations" / "icons"
ICON_NAMES = frozenset(path.stem for path in ICONS_DIR.glob("*.svg"))
_ICON_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _value(provider, name):
    """A field of a Provider, or a key of a preset (a dict in its shape)."""
    if isinstance(provider, dict):
        return provider.get(name)
    return getattr(provider, name, None)


def shipped_icon(provider):
    """The static path of the provider's icon (``metadata["icon"]``) when the app
    ships that icon, else ``None``."""
    metadata = _value(provider, "metadata")
    name = metadata.get("icon") if isinstance(metadata, dict) else None
    if isinstance(name, str) and _ICON_NAME.fullmatch(name) and name in ICON_NAMES:
        return f"integrations/icons/{name}.svg"
    return None


@register.simple_tag
def provider_icon(provider, size=32, alt=None):
    """``{% provider_icon provider %}``: the provider's icon, ``size`` pixels square.

    An ``icon_url`` staff set on the provider wins (their choice, loaded with no
    referrer); else the icon the app ships for its ``metadata["icon"]``; else a
    letter avatar in a colour picked by its slug. Never a remote URL the app
    chose. ``alt`` defaults to the provider's name; pass ``alt=""`` where the
    name is written next to the icon (the avatar is then hidden from screen
    readers too). Works on a Provider and on a preset (``PRESETS[slug]``).
    """
    name = str(_value(provider, "name") or "")
    alt = name if alt is None else str(alt)
    size = int(size)  # the letter avatar's size is the stylesheet's
    # A preset's own icon_url is not a staff choice: never loaded from here.
    icon_url = None if isinstance(provider, dict) else _value(provider, "icon_url")
    path = shipped_icon(provider)
    if icon_url:
        return format_html(
            '<img class="provider-icon" src="{}" alt="{}" width="{}" height="{}" '
            'referrerpolicy="no-referrer" loading="lazy">',
            icon_url,
            alt,
            size,
            size,
        )
    if path:
        return format_html(
            '<img class="provider-icon shipped" src="{}" alt="{}" width="{}" height="{}" '
            'loading="lazy">',
            static(path),
            alt,
            size,
            size,
        )
    if alt:
        return format_html(
            '<span class="icon" role="img" aria-label="{}" style="background-color: {}">{}</span>',
            alt,
            avatar_colour(_value(provider, "slug")),
            avatar_initials(name),
        )
    return format_html(
        '<span class="icon" aria-hidden="true" style="background-color: {}">{}</span>',
        avatar_colour(_value(provider, "slug")),
        avatar_initials(name),
    )


@register.filter
def avatar_initials(name):
    """One or two letters for a provider without an icon: the initials of its
    first two words ("Demo (OAuth 1.0a)" → "DO"), or the first letter of one."""
    words = _WORD.findall(str(name or ""))
    if not words:
        return "?"
    return "".join(word[0] for word in words[:2]).upper()


@register.filter
def avatar_colour(slug):
    """A colour picked by the provider's slug: the same provider always gets the
    same one, different providers (most often) different ones."""
    return AVATAR_COLOURS[zlib.crc32(str(slug or "").encode()) % len(AVATAR_COLOURS)]


@register.filter
def ago(moment):
    """ "5 minutes ago", or "just now" under a minute (where ``timesince`` would
    say "0 minutes")."""
    if not moment:
        return ""
    if (timezone.now() - moment).total_seconds() < 60:
        return _("just now")
    return _("%(since)s ago") % {"since": timesince(moment)}
