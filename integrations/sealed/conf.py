"""The app's settings: one object, defaults, validation, read lazily.

Projects configure the app with one dict::

    INTEGRATIONS = {"ENCRYPTION_KEYS": ["2:<base64>", "1:<base64>"]}

``app_settings`` reads it on first use and again after ``override_settings`` or
any other ``setting_changed`` signal, so tests and key rotation in a running
process see the new values. The keyring (``app_settings.keyring``) is built on
first use, not per value; ``KeyringError`` from building it names what is wrong.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from ..crypto import IndexKeys, Keyring
from ..crypto.wrapping import WrapperError, load_backend
from .redaction import register_key_material

# Each key: (default, accepted types, smallest accepted number or None). The
# sealed-values layer declares its own; a layer built on it (the integrations
# app) adds its keys with register_settings(), so the INTEGRATIONS dict stays one.
_SPECS: dict[str, tuple[Any, tuple[type[Any], ...], int | None]] = {}
DEFAULTS: dict[str, Any] = {}


def register_settings(specs):
    """Add keys to the ``INTEGRATIONS`` dict: ``{name: (default, types, minimum)}``.

    Unknown keys are refused by :meth:`IntegrationsSettings.validate`, so a layer
    registers its keys when it is imported (its app config imports its conf).
    """
    for name, (default, types, minimum) in specs.items():
        _SPECS[name] = (default, tuple(types), minimum)
        DEFAULTS[name] = default
    app_settings.reload()


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
        for name, (_default, types, minimum) in _SPECS.items():
            if name not in user:
                continue
            value = user[name]
            if not isinstance(value, types):
                expected = " or ".join(t.__name__ for t in types)
                raise ImproperlyConfigured(f"INTEGRATIONS[{name!r}] must be {expected}")
            if (
                minimum is not None
                and value is not None
                and (isinstance(value, bool) or value < minimum)
            ):
                raise ImproperlyConfigured(f"INTEGRATIONS[{name!r}] must be a number >= {minimum}")

    def __getattr__(self, name):
        # Only called for names not yet cached in the instance __dict__: after
        # the first read, a setting (and the keyring) is a plain attribute.
        if name == "keyring":
            value = self._load_keyring()
        elif name == "key_wrapper":
            value = self._load_key_wrapper()
        elif name == "index_keys":
            value = self._load_index_keys()
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
        return Keyring(
            _registered(Keyring.parse_entries(self.ENCRYPTION_KEYS, wrapper=self.key_wrapper)),
            min_decryption_version=self.MIN_DECRYPTION_VERSION,
        )

    def _load_key_wrapper(self):
        """The ``KEY_WRAPPER`` backend, or None; built once, like the keyring."""
        config = self.KEY_WRAPPER
        if config is None:
            return None
        unknown = sorted(set(config) - {"BACKEND", "OPTIONS"})
        if unknown or "BACKEND" not in config:
            raise WrapperError(
                "INTEGRATIONS['KEY_WRAPPER'] must be {'BACKEND': ..., 'OPTIONS': {...}}"
                + (f"; unknown key(s): {', '.join(map(str, unknown))}" if unknown else ""),
                code="bad_wrapper",
            )
        return load_backend(config["BACKEND"], config.get("OPTIONS", {}))

    def _load_index_keys(self):
        """Blind-index keys: INDEX_KEYS when set, else derived from the keyring."""
        if self.INDEX_KEYS:
            return IndexKeys.from_roots(
                _registered(IndexKeys.parse_entries(self.INDEX_KEYS, wrapper=self.key_wrapper))
            )
        return self.keyring.index_keys()

    def reload(self):
        for name in [*DEFAULTS, "keyring", "key_wrapper", "index_keys"]:
            self.__dict__.pop(name, None)


def _registered(pairs):
    """``(version, key)`` pairs, each key made known to the redaction layer first.

    Whatever prints a key by accident (a library's debug line with a KMS
    response, a traceback's locals) is then redacted by the log filter and the
    error reports, in every encoding a key is written in.
    """
    for _version, key in pairs:
        register_key_material(key)
    return pairs


app_settings = IntegrationsSettings()

register_settings(
    {
        # Keyring entries "N:<base64 of 32 bytes>", primary first; or one
        # comma-separated string of them.
        "ENCRYPTION_KEYS": ((), (list, tuple, str), None),
        # Dotted path to a callable returning a Keyring (a KMS or Vault provider).
        # When set, it replaces ENCRYPTION_KEYS.
        "KEY_PROVIDER": (None, (str, type(None)), None),
        # Data keys wrapped by a KEK in a KMS or HSM: {"BACKEND": "pkcs11" |
        # "aws_kms" | dotted path, "OPTIONS": {...}}; entries "N:wrapped:<base64url>".
        "KEY_WRAPPER": (None, (dict, type(None)), None),
        # Return legacy unsealed values instead of raising (logs a warning per read).
        "ALLOW_PLAINTEXT_READS": (False, (bool,), None),
        # Retire old keys: values sealed with a lower key version refuse to open
        # (RetiredKeyVersionError). Set it after `rotate_keys`, before deleting keys.
        "MIN_DECRYPTION_VERSION": (None, (int, type(None)), None),
        # Blind-index keys for searchable fields, "N:<base64 of 32 bytes>", primary
        # first. Unset: derived from the encryption keys (one per key version).
        "INDEX_KEYS": (None, (list, tuple, str, type(None)), None),
        # Re-sealing (rotate_keys, encrypt_legacy, the admin action): a batch ends
        # at --batch-size rows or once its stored values reach this many bytes,
        # whichever comes first, so memory stays flat whatever the value sizes.
        "RESEAL_BATCH_BYTES": (4 * 2**20, (int,), 1),
    }
)


def _reload_on_change(*, setting, **kwargs):
    if setting == "INTEGRATIONS":
        app_settings.reload()


setting_changed.connect(_reload_on_change)
