"""System checks of the integrations layer: what the full app needs around it.

The sealed-values checks (keys, plaintext reads, purposes, the error reporter)
live in :mod:`integrations.sealed.checks` and are re-exported here.
"""

from django.apps import apps
from django.core import checks

from .sealed.checks import (  # noqa: F401  (the public names of the checks)
    KEY_HINT,
    check_exception_reporter,
    check_keyring,
    check_plaintext_reads,
    check_unique_purposes,
)

# What the integrations app cannot work without, and why.
REQUIRED_APPS = {
    "integrations.sealed": "the sealed fields, the keyring and the key commands",
    "django.contrib.auth": "owners of integrations and credentials",
    "django.contrib.contenttypes": "permissions",
    "django.contrib.sessions": "the OAuth state and PKCE verifier between connect and callback",
    "django.contrib.messages": "the outcome messages of the user pages",
}


@checks.register()
def check_required_apps(app_configs=None, **kwargs):
    """The full app is installed without what it builds on."""
    return [
        checks.Error(
            f"'integrations' needs {name!r} in INSTALLED_APPS ({why}).",
            hint='INSTALLED_APPS = [..., "integrations.sealed", "integrations"]; a project '
                 'that only wants sealed fields lists "integrations.sealed" alone.',
            id="integrations.E020",
        )
        for name, why in REQUIRED_APPS.items()
        if not apps.is_installed(name)
    ]
