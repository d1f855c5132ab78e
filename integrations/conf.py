"""The integrations layer's settings, in the same ``INTEGRATIONS`` dict.

The settings object itself is the sealed-values layer's
(:mod:`integrations.sealed.conf`): one dict, one object, read lazily. This
module adds the keys of the OAuth and token services and re-exports it, so
``from integrations.conf import app_settings`` keeps working.
"""

from .sealed.conf import DEFAULTS, IntegrationsSettings, app_settings, register_settings

__all__ = ["DEFAULTS", "IntegrationsSettings", "app_settings"]

register_settings(
    {
        # get_valid_token refreshes an access token that expires within this many seconds.
        "REFRESH_MARGIN_SECONDS": (60, (int,), 0),
        # How long an OAuth `state` (and its PKCE verifier) waits for the callback.
        "STATE_TTL_SECONDS": (600, (int,), 1),
        # Timeout of every request to a provider (token, userinfo, revocation, discovery).
        "HTTP_TIMEOUT_SECONDS": (10, (int, float), 0.001),
        # How long an OIDC discovery document or JWKS is cached (in the default cache).
        "DISCOVERY_CACHE_SECONDS": (3600, (int,), 0),
        # A refresh that fails for a passing reason (network, 5xx, temporarily_unavailable)
        # is tried this many times in all, with exponential backoff and jitter (1: no retry).
        "REFRESH_RETRY_ATTEMPTS": (3, (int,), 1),
        # The backoff's scale: waits are random, up to this times 2**retry seconds.
        "REFRESH_RETRY_BACKOFF_SECONDS": (0.5, (int, float), 0),
        # A provider's answer to a refresh that cannot be written (the database fails)
        # is written again for up to this many seconds, within the refresh lease.
        "REFRESH_STORE_RETRY_SECONDS": (10, (int, float), 0),
        # The cache that keeps a provider's answer, sealed, until it is stored (see
        # integrations.refresh_outbox): one every process shares (Redis) in production.
        "REFRESH_OUTBOX_CACHE": ("default", (str,), None),
        # How long an answer that could not be stored waits there for the next refresh.
        "REFRESH_OUTBOX_TTL_SECONDS": (30 * 24 * 3600, (int,), 60),
        # The scheduled refresh also refreshes grants not refreshed for this many days
        # (providers whose refresh tokens die unused); None: only expiring tokens.
        "REFRESH_IDLE_AFTER_DAYS": (None, (int, type(None)), 1),
        # E-mail the owner when an integration needs to be connected again.
        "NOTIFY_REAUTH_BY_EMAIL": (False, (bool,), None),
        # Directories of the project's own provider catalog files (TOML, the format of
        # docs/reference/provider-catalog-format.md), added to the shipped catalog.
        "PROVIDER_CATALOG_DIRS": ((), (list, tuple), None),
        # The Retry-After of a 503 answered while the cache or the database is down.
        "OUTAGE_RETRY_AFTER_SECONDS": (30, (int,), 1),
        # Webhooks (integrations.webhooks): allow endpoint URLs on private, loopback,
        # link-local or reserved addresses, and http:// to them (development and tests).
        "WEBHOOK_ALLOW_PRIVATE_URLS": (False, (bool,), None),
        # Timeout of one delivery attempt (connect, send, read).
        "WEBHOOK_TIMEOUT_SECONDS": (10, (int, float), 0.001),
        # The waits before the 2nd, 3rd... attempt of a delivery; after the last one
        # fails, the delivery is "failed". Default: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
        "WEBHOOK_RETRY_SCHEDULE_SECONDS": (
            (5, 300, 1800, 7200, 18000, 36000, 36000),
            (list, tuple),
            None,
        ),
        # An endpoint whose attempts have all failed for this long is disabled (log, mail_admins).
        "WEBHOOK_DISABLE_AFTER_SECONDS": (24 * 3600, (int,), 60),
        # What delivers an event once its transaction commits: "celery" (a Celery task),
        # "django" (a task of Django's tasks framework), or None: the periodic sweep only
        # (the deliver_webhooks command, or the deliver_webhooks task on a schedule).
        "WEBHOOK_TASK_ENGINE": (None, (str, type(None)), None),
        # How long a connect session's one-time URL (POST /api/connect-sessions/) can be opened.
        "CONNECT_SESSION_TTL_SECONDS": (600, (int,), 1),
        # The origins (scheme://host[:port]) a connect session may return to: its
        # return_url's origin and the opener a popup posts its result to. Exact match.
        "CONNECT_ALLOWED_ORIGINS": ((), (list, tuple), None),
        # Connect sessions used or expired longer ago than this are deleted by the
        # purge_integration_records command.
        "CONNECT_SESSION_RETENTION_DAYS": (30, (int,), 1),
        # Webhook deliveries that succeeded or were abandoned longer ago than this
        # are deleted by the purge_integration_records command.
        "WEBHOOK_DELIVERY_RETENTION_DAYS": (30, (int,), 1),
    }
)
