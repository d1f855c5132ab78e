"""The app's settings: one object, defaults, validation, read lazily.

Projects configure the app with one dict::

    INTEGRATIONS = {"ENCRYPTION_KEYS": ["2:<base64>", "1:<base64>"]}

``app_settings`` reads it on first use and again after ``override_settings`` or
any other ``setting_changed`` signal, so tests and key rotation in a running
process see the new values. The keyring (``app_settings.keyring``) is built on first use, not per value;
``KeyringError`` from building it names what is wrong.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from .crypto import Keyring

DEFAULTS = {
    # Keyring entries "N:<base64 of 32 bytes>", primary first; or one
    # comma-separated string of them.
    "ENCRYPTION_KEYS": (),
    # Dotted path to a callable returning a Keyring (a KMS or Vault provider).
    # When set, it replaces ENCRYPTION_KEYS.
    "KEY_PROVIDER": None,
    # Return legacy unsealed values instead of raising (logs a warning per read).
    "ALLOW_PLAINTEXT_READS": False,
    # Retire old keys: values sealed with a lower key version refuse to open
    # (RetiredKeyVersionError). Set it after `rotate_keys`, before deleting keys.
    "MIN_DECRYPTION_VERSION": None,
    # get_valid_token refreshes an access token that expires within this many seconds.
    "REFRESH_MARGIN_SECONDS": 60,
    # How long an OAuth `state` (and its PKCE verifier) waits for the callback.
    "STATE_TTL_SECONDS": 600,
    # Timeout of every request to a provider (token, userinfo, revocation, discovery).
    "HTTP_TIMEOUT_SECONDS": 10,
    # How long an OIDC discovery document or JWKS is cached (in the default cache).
    "DISCOVERY_CACHE_SECONDS": 3600,
}

# Numeric OAuth settings and the smallest value each accepts.
_MINIMUMS = {
    "REFRESH_MARGIN_SECONDS": 0,
    "STATE_TTL_SECONDS": 1,
    "HTTP_TIMEOUT_SECONDS": 0.001,
    "DISCOVERY_CACHE_SECONDS": 0,
}


def _setting_types():
    return {
        "ENCRYPTION_KEYS": (list, tuple, str),
        "KEY_PROVIDER": (str, type(None)),
        "ALLOW_PLAINTEXT_READS": (bool,),
        "MIN_DECRYPTION_VERSION": (int, type(None)),
        "REFRESH_MARGIN_SECONDS": (int,),
        "STATE_TTL_SECONDS": (int,),
        "HTTP_TIMEOUT_SECONDS": (int, float),
        "DISCOVERY_CACHE_SECONDS": (int,),
    }


class IntegrationsSettings:
    """Attribute access to the ``INTEGRATIONS`` dict, validated, with defaults."""

    @property
    def user_settings(self):
        value = getattr(settings, "INTEGRATIONS", {})
        if not isinstance(value, dict):
            raise ImproperlyConfigured("settings.INTEGRATIONS must be a dict")
        return value

    def validate(self):
        """Raise ImproperlyConfigured for unknown names and wrong types."""
        user = self.user_settings
        unknown = sorted(set(user) - set(DEFAULTS))
        if unknown:
            raise ImproperlyConfigured(
                f"unknown INTEGRATIONS setting(s): {', '.join(unknown)}; "
                f"known: {', '.join(sorted(DEFAULTS))}"
            )
        for name, types in _setting_types().items():
            if name in user and not isinstance(user[name], types):
                expected = " or ".join(t.__name__ for t in types)
                raise ImproperlyConfigured(f"INTEGRATIONS[{name!r}] must be {expected}")
        for name, minimum in _MINIMUMS.items():
            if name not in user:
                continue
            value = user[name]
            if isinstance(value, bool) or value < minimum:
                raise ImproperlyConfigured(
                    f"INTEGRATIONS[{name!r}] must be a number of seconds >= {minimum}"
                )

    def __getattr__(self, name):
        # Only called for names not yet cached in the instance __dict__: after
        # the first read, a setting (and the keyring) is a plain attribute.
        if name == "keyring":
            value = self._load_keyring()
        elif name in DEFAULTS:
            self.validate()
            value = self.user_settings.get(name, DEFAULTS[name])
        else:
            raise AttributeError(f"no INTEGRATIONS setting named {name!r}")
        setattr(self, name, value)
        return value

    def _load_keyring(self):
        if self.KEY_PROVIDER:
            keyring = import_string(self.KEY_PROVIDER)()
            if not isinstance(keyring, Keyring):
                raise ImproperlyConfigured(
                    f"INTEGRATIONS['KEY_PROVIDER'] {self.KEY_PROVIDER!r} must return a Keyring"
                )
            if self.MIN_DECRYPTION_VERSION is not None:
                # Retirement is a setting of this app, whoever supplies the keys.
                keyring = keyring.with_min_decryption_version(self.MIN_DECRYPTION_VERSION)
            return keyring
        return Keyring.parse(
            self.ENCRYPTION_KEYS, min_decryption_version=self.MIN_DECRYPTION_VERSION
        )

    def reload(self):
        for name in (*DEFAULTS, "keyring"):
            self.__dict__.pop(name, None)


app_settings = IntegrationsSettings()


def _reload_on_change(*, setting, **kwargs):
    if setting == "INTEGRATIONS":
        app_settings.reload()


setting_changed.connect(_reload_on_change)
