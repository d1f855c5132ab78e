"""The integrations layer's settings, in the same ``INTEGRATIONS`` dict.

The settings object itself is the sealed-values layer's
(:mod:`integrations.sealed.conf`): one dict, one object, read lazily. This
module adds the keys of the OAuth and token services and re-exports it, so
``from integrations.conf import app_settings`` keeps working.
"""

from .sealed.conf import DEFAULTS, IntegrationsSettings, app_settings, register_settings

__all__ = ["DEFAULTS", "IntegrationsSettings", "app_settings"]

register_settings({
    # get_valid_token refreshes an access token that expires within this many seconds.
    "REFRESH_MARGIN_SECONDS": (60, (int,), 0),
    # How long an OAuth `state` (and its PKCE verifier) waits for the callback.
    "STATE_TTL_SECONDS": (600, (int,), 1),
    # Timeout of every request to a provider (token, userinfo, revocation, discovery).
    "HTTP_TIMEOUT_SECONDS": (10, (int, float), 0.001),
    # How long an OIDC discovery document or JWKS is cached (in the default cache).
    "DISCOVERY_CACHE_SECONDS": (3600, (int,), 0),
})
