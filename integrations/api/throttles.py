"""Scoped rate limits for the credential and refresh endpoints.

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` under the scopes
below (``None`` switches one off), read on every request so a changed setting
takes effect at once; a project that sets none gets the defaults here. Counts
live in Django's default cache, which must be shared by every process (Redis
through ``CACHE_URL`` in production): a per-process cache would multiply the
limit by the number of processes.
"""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

CREDENTIALS_SCOPE = "integrations_credentials"
REFRESH_SCOPE = "integrations_refresh"

DEFAULT_RATES = {
    CREDENTIALS_SCOPE: "120/min",
    REFRESH_SCOPE: "10/min",
}


class _ScopedThrottle(SimpleRateThrottle):
    """A per-user (per-IP when anonymous) limit for one fixed scope."""

    scope = None

    def __init__(self):
        # The rate is read per request (SimpleRateThrottle reads it once, at
        # import time, which ignores later settings changes).
        pass

    def get_rate(self):
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        if self.scope in rates:
            return rates[self.scope]
        return DEFAULT_RATES[self.scope]

    def allow_request(self, request, view):
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        user = getattr(request, "user", None)
        ident = user.pk if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class CredentialsThrottle(_ScopedThrottle):
    """Every request to ``/api/credentials/``."""

    scope = CREDENTIALS_SCOPE


class RefreshThrottle(_ScopedThrottle):
    """``POST /api/integrations/{id}/refresh/``: each one calls the provider."""

    scope = REFRESH_SCOPE
