"""What can be said about a stored secret without opening it.

Every surface that shows secrets (admin, REST API) shows only this: whether a
value is set, the version of the key that sealed it, or that it is legacy
plaintext or damaged. Everything here reads the stored sealed string
(``obj.<field>_sealed``) alone: nothing decrypts, and no value is ever returned.
"""

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from ..crypto import PREFIX, CryptoError, is_sealed
from ..crypto.format import read_version
from .conf import app_settings


def is_set(sealed):
    """Whether the column holds a value (sealed, legacy plaintext or damaged)."""
    return sealed is not None and sealed != ""


def _damaged(sealed):
    """Not sealed yet not plaintext: a damaged text value, or any unsealed bytes
    (a binary column never holds legacy plaintext)."""
    return isinstance(sealed, bytes) or (isinstance(sealed, str) and sealed.startswith(PREFIX))


def sealed_key_version(sealed):
    """The version of the key that sealed ``sealed``, or ``None`` when it is not
    set, legacy plaintext or damaged. Reads the header only; needs no key."""
    if not is_set(sealed) or not is_sealed(sealed):
        return None
    return read_version(sealed)


def sealed_state(sealed):
    """A stable machine-readable word: ``not_set``, ``sealed``, ``legacy_plaintext``
    or ``damaged``."""
    if not is_set(sealed):
        return "not_set"
    if is_sealed(sealed):
        return "sealed"
    if _damaged(sealed):
        return "damaged"
    return "legacy_plaintext"


def sealed_status(sealed):
    """Describe a stored sealed value without opening it.

    ``sealed`` is what the column holds (``obj.<field>_sealed``). Returns "Not
    set", "Sealed (key vN)" (with a note when that key is not the primary one or
    is not configured), "Legacy plaintext" or "Damaged sealed value".
    """
    if sealed is None or sealed == "":
        return _("Not set")
    if not is_sealed(sealed):
        if _damaged(sealed):
            return _("Damaged sealed value")
        return _("Legacy plaintext")
    try:
        keyring = app_settings.keyring
    except (CryptoError, ImproperlyConfigured):
        return _("Sealed (keyring not configured)")
    version = keyring.key_version(sealed)
    if version not in keyring.versions:
        return _("Sealed (key v%(version)s, key not configured)") % {"version": version}
    if keyring.needs_reseal(sealed):
        return _("Sealed (key v%(version)s, not the primary key)") % {"version": version}
    return _("Sealed (key v%(version)s)") % {"version": version}
