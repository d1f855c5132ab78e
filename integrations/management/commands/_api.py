"""The API-token commands need the ``api`` extra; without it they say so.

(A leading underscore keeps Django from listing this module as a command.)
"""

from django.core.management.base import CommandError


def api_tokens():
    """:mod:`integrations.api.api_tokens`, or a CommandError naming the extra."""
    try:
        from integrations.api import api_tokens as module
    except ImportError:
        raise CommandError(
            "API tokens need the REST API: pip install 'sealed-integrations[api]' and add "
            "'rest_framework' and 'knox' to INSTALLED_APPS."
        ) from None
    return module
