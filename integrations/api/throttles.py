"""Scoped rate limits for the credential and refresh endpoints.

A DRF face for :mod:`integrations.ratelimit`, which holds the one mechanism
(atomic counters in the shared cache) and the rates; the credential pages use
the same counters, so a user's API calls and page posts share one limit.
"""

from rest_framework.throttling import BaseThrottle

from ..ratelimit import (
    CONNECT_SESSIONS_SCOPE,
    CREDENTIALS_SCOPE,
    DEFAULT_RATES,
    REFRESH_SCOPE,
    hit,
)

__all__ = ["DEFAULT_RATES", "ConnectSessionsThrottle", "CredentialsThrottle", "RefreshThrottle"]


class _ScopedThrottle(BaseThrottle):
    """A per-user (per-IP when anonymous) limit for one fixed scope."""

    scope: str

    def allow_request(self, request, view):
        self.usage = hit(request, self.scope)
        return self.usage.allowed

    def wait(self):
        return self.usage.retry_after


class CredentialsThrottle(_ScopedThrottle):
    """Every request to ``/api/credentials/``."""

    scope = CREDENTIALS_SCOPE


class RefreshThrottle(_ScopedThrottle):
    """``POST /api/integrations/{id}/refresh/``: each one calls the provider."""

    scope = REFRESH_SCOPE


class ConnectSessionsThrottle(_ScopedThrottle):
    """``POST /api/connect-sessions/``: each one stores a session and an audit row."""

    scope = CONNECT_SESSIONS_SCOPE
