"""The token service's public face: ``integrations.tokens``.

The only code that reads or writes an integration's tokens lives in the
services below it — :mod:`.token_store` (store, read), :mod:`.token_refresh`
(refresh exactly once, the lease), :mod:`.token_reading` (a valid token, audited),
:mod:`.scheduled_refresh`, :mod:`.revocation` — and the provider-call sessions in
:mod:`.provider_calls` build on them. This module gathers their public names
(the stable import path) and adds the sessions and the async twins; nothing in
the package imports it.
"""

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError

from .host_metadata import filter_by_tags, set_host_metadata, validate_host_metadata
from .provider_calls import (
    IntegrationTokens,
    ProviderCallAuth,
    ProviderCallSession,
    api_base_url,
)
from .provider_data import TokenResponseError, parse_scopes
from .revocation import Disconnection, disconnect
from .scheduled_refresh import RefreshReport, refresh_expiring
from .token_errors import (
    DatabaseUnavailable,
    ReauthorizationRequired,
    RefreshFailed,
    RefreshLimitUnavailable,
    RefreshRateLimited,
    TokenUnavailable,
    TokenUnreadable,
)
from .token_reading import get_signing_credentials, get_valid_token
from .token_refresh import Outcome, refresh_integration, refresh_rejected
from .token_store import (
    apply_oauth1_token,
    apply_token_response,
    connect,
    get_integration,
    list_integrations,
    read_access_token,
    store_token_response,
)


def session(integration, *, purpose, actor=None, allowed_hosts=None):
    """A ``requests.Session`` whose requests carry a valid access token, refreshed
    before it expires and once after a 401 (see :mod:`integrations.provider_calls`).
    For an OAuth 1.0a integration each request is signed (RFC 5849) with the
    access token and its secret instead; nothing is refreshed.

    ``allowed_hosts`` (opt-in): ``"provider"`` (the host of the provider's
    ``base_url``) or host names; a request to any other host is refused
    (``HostNotAllowed``, audited) before the token is read or sent."""
    return ProviderCallSession(
        IntegrationTokens(integration, purpose=purpose, actor=actor, allowed_hosts=allowed_hosts)
    )


def httpx_auth(integration, *, purpose, actor=None, allowed_hosts=None):
    """An ``httpx.Auth`` doing what :func:`session` does, for ``httpx.Client`` and
    ``httpx.AsyncClient``."""
    return ProviderCallAuth(
        IntegrationTokens(integration, purpose=purpose, actor=actor, allowed_hosts=allowed_hosts)
    )


# Async twins for async views: the sync service runs in Django's thread-sensitive
# executor, so the lease and refresh logic stays in one place and the ORM is never
# called from the event loop.


async def aget_valid_token(integration, *, purpose, actor=None, ip_address=None):
    """:func:`get_valid_token` for async code."""
    return await sync_to_async(get_valid_token, thread_sensitive=True)(
        integration, purpose=purpose, actor=actor, ip_address=ip_address
    )


async def aread_access_token(integration, *, purpose, actor=None, ip_address=None):
    """:func:`read_access_token` for async code."""
    return await sync_to_async(read_access_token, thread_sensitive=True)(
        integration, purpose=purpose, actor=actor, ip_address=ip_address
    )


async def arefresh_integration(integration, **options):
    """:func:`refresh_integration` for async code (same keyword options)."""
    return await sync_to_async(refresh_integration, thread_sensitive=True)(integration, **options)


__all__ = [
    "api_base_url",
    "DatabaseUnavailable",
    "Disconnection",
    "Outcome",
    "ReauthorizationRequired",
    "RefreshFailed",
    "RefreshLimitUnavailable",
    "RefreshRateLimited",
    "RefreshReport",
    "TokenResponseError",
    "TokenUnavailable",
    "TokenUnreadable",
    "ValidationError",
    "apply_oauth1_token",
    "apply_token_response",
    "aget_valid_token",
    "aread_access_token",
    "arefresh_integration",
    "connect",
    "disconnect",
    "filter_by_tags",
    "get_integration",
    "get_signing_credentials",
    "get_valid_token",
    "httpx_auth",
    "list_integrations",
    "parse_scopes",
    "read_access_token",
    "refresh_expiring",
    "refresh_integration",
    "refresh_rejected",
    "session",
    "set_host_metadata",
    "store_token_response",
    "validate_host_metadata",
]
