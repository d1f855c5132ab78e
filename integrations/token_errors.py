"""Why a token cannot be handed out: the token services' exceptions, in one place
at the bottom of the services layer (codes only, never a secret).
"""

from .outages import ServiceUnavailable, retry_after


class TokenUnavailable(Exception):
    """No valid access token can be handed out; ``code`` says why (never a secret)."""

    def __init__(self, code: str, *, status: str = "") -> None:
        self.code = code
        self.status = status
        super().__init__(f"no valid access token: {code}")


class ReauthorizationRequired(TokenUnavailable):
    """The user must connect the account again (revoked, refused, expired without refresh token)."""


class TokenUnreadable(ReauthorizationRequired):
    """A stored token cannot be opened: tampered or corrupt (``token_unreadable``),
    legacy plaintext while plaintext reads are off (``token_not_sealed``), or sealed
    with a key version the keyring lacks or has retired (``token_key_unknown``).

    The integration is marked ``needs_reauth``: connecting again replaces the
    tokens; an operator who restores the key (or runs ``encrypt_legacy``) can set
    the status back to ``active``.
    """


class RefreshFailed(TokenUnavailable):
    """The refresh failed for a reason that may pass (network, provider 5xx); tokens are kept."""


class RefreshRateLimited(RefreshFailed):
    """A forced refresh refused before asking the provider: this integration was
    force-refreshed too often (``INTEGRATION_REFRESH_SCOPE``'s rate, 10/min by
    default). Nothing changes on the row; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("refresh_rate_limited")
        self.retry_after = retry_after


class DatabaseUnavailable(TokenUnavailable, ServiceUnavailable):
    """The database holding the tokens could not be reached (code
    ``database_unavailable``): nothing was handed out, nothing stored is lost, and
    a provider's answer received meanwhile is kept for the next refresh to store.
    Try again shortly: as a :class:`~integrations.outages.ServiceUnavailable`,
    pages and the API answer it with 503 and ``Retry-After``."""

    def __init__(self, code: str = "database_unavailable", *, status: str = "") -> None:
        TokenUnavailable.__init__(self, code, status=status)
        self.backend = "database"
        self.retry_after = retry_after()


class RefreshLimitUnavailable(TokenUnavailable, ServiceUnavailable):
    """A forced refresh could not be counted against its limit: the cache that
    holds the counters (Redis through ``CACHE_URL``) cannot be reached (code
    ``cache_unavailable``). Refused, as the limits fail closed: nothing is sent
    to the provider and the tokens are kept; pages and the API answer 503 with
    ``Retry-After``. (``RATELIMIT_FAIL_OPEN = True`` lets it through uncounted.)"""

    def __init__(self, code: str = "cache_unavailable", *, status: str = "") -> None:
        TokenUnavailable.__init__(self, code, status=status)
        self.backend = "cache"
        self.retry_after = retry_after()
