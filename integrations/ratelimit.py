"""One rate-limit mechanism for the API's throttles and the credential pages.

Counting is django-ratelimit's core (:func:`django_ratelimit.core.get_usage`):
one fixed-window counter per scope, client and window, created with
``cache.add`` and bumped with ``cache.incr``. Both are atomic on Redis and on
Django's local-memory cache, so a burst of simultaneous requests lets exactly
``limit`` through, and the state is one small integer per client and window
(O(1) per request), unlike DRF's ``SimpleRateThrottle``, which reads, appends
to and writes back a list of every request time without any atomicity.

Counts live in the cache named by ``RATELIMIT_USE_CACHE`` (Django's default
cache unless set). It must be shared by every process — Redis through
``CACHE_URL`` in production — or each process counts on its own and the limit
is multiplied by the number of processes. When that cache is down the limits
fail closed (:func:`hit` raises :class:`~integrations.outages.CacheUnavailable`,
a 503) unless the project sets ``RATELIMIT_FAIL_OPEN``.

Rates are read per request from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``
(the scopes below; ``None`` switches one off) so that the API and the pages
share one setting and one counter per user; a project that sets none gets
:data:`DEFAULT_RATES`. Nothing here imports DRF: the pages work without it.
"""

from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.shortcuts import render
from django_ratelimit.core import get_usage

from .outages import CacheUnavailable, NoAnswer, cache_guard

CREDENTIALS_SCOPE = "integrations_credentials"
REFRESH_SCOPE = "integrations_refresh"
# Forced refreshes of one integration, whoever asks (the refresh endpoint, a 401
# from the provider through tokens.session / provider calls, Test connection):
# counted by the token service, per integration, not per client.
INTEGRATION_REFRESH_SCOPE = "integrations_integration_refresh"
# POST /api/connect-sessions/, per user.
CONNECT_SESSIONS_SCOPE = "integrations_connect_sessions"
# Refused one-time URLs (unknown, used, expired...), per client IP: those within
# the rate are audited; beyond it the answer is a 429 and nothing is written.
CONNECT_REFUSALS_SCOPE = "integrations_connect_refusals"

DEFAULT_RATES = {
    CREDENTIALS_SCOPE: "120/min",
    REFRESH_SCOPE: "10/min",
    INTEGRATION_REFRESH_SCOPE: "10/min",
    CONNECT_SESSIONS_SCOPE: "30/min",
    CONNECT_REFUSALS_SCOPE: "20/min",
}


@dataclass(frozen=True)
class Usage:
    """The outcome of counting one request."""

    allowed: bool
    retry_after: int  # seconds until the window ends (meaningful when not allowed)


def rate_for(scope):
    """The configured rate of ``scope`` ("120/min" style), or ``None`` (no limit)."""
    rates = getattr(settings, "REST_FRAMEWORK", {}).get("DEFAULT_THROTTLE_RATES") or {}
    if scope in rates:
        return rates[scope]
    return DEFAULT_RATES[scope]


def client_key(request):
    """Who is counted: the signed-in user, else the client's address."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{request.META.get('REMOTE_ADDR', '')}"


def counter_cache_alias():
    """The cache alias django-ratelimit counts in (``RATELIMIT_USE_CACHE``)."""
    return getattr(settings, "RATELIMIT_USE_CACHE", "default")


def _no_count(usage):
    """django-ratelimit's answer when the cache gave no count (a backend that
    reports failure instead of raising, such as memcached) and it fails closed."""
    return usage["count"] == 0 and usage["limit"] == 0 and usage["time_left"] == -1


def hit(request, scope):
    """Count this request against ``scope``; say whether it may go on.

    A cache that cannot be reached **refuses**: :class:`CacheUnavailable` (a 503
    with ``Retry-After``; the outage is logged once), since these limits guard
    the credential endpoints. django-ratelimit itself lets an exception of the
    cache through (Django's Redis backend raises one) and fails closed only on
    a missing count; a project that sets ``RATELIMIT_FAIL_OPEN = True`` chooses
    to let requests through uncounted instead, for both.
    """
    return _count(scope, request, lambda _group, req: client_key(req))


def hit_key(scope, key):
    """Count one event against ``scope`` for ``key`` -- a thing, not a client
    (``"integration:<pk>"``) -- outside any request; say whether it may go on.
    A cache that cannot be reached refuses as in :func:`hit`."""
    return _count(scope, None, lambda _group, _request: key)


def _count(scope, request, key):
    rate = rate_for(scope)
    if rate is None:
        return Usage(allowed=True, retry_after=0)
    try:
        with cache_guard(counter_cache_alias()):
            usage = get_usage(request, group=scope, key=key, rate=rate, increment=True)
            if usage is not None and _no_count(usage):
                raise NoAnswer
    except CacheUnavailable:
        if getattr(settings, "RATELIMIT_FAIL_OPEN", False):
            return Usage(allowed=True, retry_after=0)
        raise
    if usage is None:  # RATELIMIT_ENABLE = False (or fail-open on a missing count)
        return Usage(allowed=True, retry_after=0)
    return Usage(allowed=not usage["should_limit"], retry_after=max(usage["time_left"], 1))


def limit_posts(scope):
    """Decorate a page view: a POST over ``scope``'s limit is a 429 page with
    ``Retry-After`` and changes nothing. GETs are not counted."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method == "POST":
                usage = hit(request, scope)
                if not usage.allowed:
                    response = render(
                        request,
                        "integrations/rate_limited.html",
                        {"retry_after": usage.retry_after},
                        status=429,
                    )
                    response["Retry-After"] = str(usage.retry_after)
                    return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
