"""Template helpers for the app's pages: a provider's letter avatar and "… ago".

``{% load integrations_ui %}``. They only format what a template already has;
nothing here reads a secret or the database.
"""

import re
import zlib

from django import template
from django.utils import timezone
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
