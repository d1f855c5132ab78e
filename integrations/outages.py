"""Knowing when the cache or the database is down, and saying so once.

A request that needs a backend which cannot be reached is refused with 503 and
``Retry-After`` (the pages: :mod:`integrations.unavailable`; the API:
:func:`integrations.api.errors.exception_handler`), never a 500 with a stack
trace, and nothing is stored on the way. This module decides what counts as
an outage and keeps one log line per outage, whatever the number of requests
and threads that meet it:

* a **warning** when a backend is first found down, naming it (the cache alias
  and its backend class, or the database alias and vendor) and the error's
  type — never the error's text, which may quote a host, a user or a value;
* an **info** line when it works again, with how many requests were refused.

**The cache**: calls we own (the rate-limit counters, the OAuth callbacks'
single-use markers) run inside :func:`cache_guard`, which turns a failure of
the cache backend (an ``OSError``, the client library's error) into
:class:`CacheUnavailable`. A call that succeeds
again ends the outage, so nothing needs a restart: Django's cache backends
reconnect by themselves.

**The database**: :func:`unavailable_database` recognises an
``OperationalError``/``InterfaceError`` raised because a connection could not
be opened (server down, "too many clients") or was lost (server restarted):
the connection has no open driver connection behind it. Other operational
errors (a SQLite "no such table", a deadlock on a live connection) are not
outages and stay what they were. Django closes the broken connection at the
end of the request and opens a new one for the next; the ``connection_created``
signal (connected in the app's ``ready``) ends the outage.
"""

import functools
import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.utils.module_loading import import_string

from .conf import app_settings

logger = logging.getLogger(__name__)


class ServiceUnavailable(Exception):
    """A backend this request needs cannot be reached: answer 503 with
    ``Retry-After`` (``retry_after`` seconds). The text names the backend only."""

    def __init__(self, backend):
        super().__init__(f"{backend} is unavailable")
        self.backend = backend
        self.retry_after = retry_after()


class CacheUnavailable(ServiceUnavailable):
    """The cache (Redis through ``CACHE_URL`` in production) did not answer."""


def retry_after():
    """Seconds a refused client is told to wait (``OUTAGE_RETRY_AFTER_SECONDS``)."""
    return app_settings.OUTAGE_RETRY_AFTER_SECONDS


def error_type(exc):
    """``module.Type`` of ``exc`` and of the driver error it wraps: what failed,
    without the message (which may quote hosts, users or values)."""
    names: list[str] = []
    while exc is not None and len(names) < 2:
        names.append(f"{type(exc).__module__}.{type(exc).__qualname__}")
        exc = exc.__cause__
    return " from ".join(names)


@dataclass
class _Outage:
    since: float = field(default_factory=time.monotonic)
    refused: int = 0


class Outages:
    """Which backends are down now: one warning when one goes down, one info
    line when it is back, however many threads report it at once."""

    def __init__(self):
        self._lock = threading.Lock()
        self._down: dict[str, _Outage] = {}

    def down(self, backend, exc):
        """Count a request refused because ``backend`` failed with ``exc``; the
        first one of an outage logs the warning."""
        with self._lock:
            first = backend not in self._down
            outage = self._down.setdefault(backend, _Outage())
            outage.refused += 1
        if first:
            logger.warning(
                "%s is unavailable (%s): requests that need it are refused with 503 "
                "until it answers again",
                backend,
                error_type(exc),
            )

    def up(self, backend):
        """``backend`` answered: end its outage, if there was one, with one info line."""
        if backend not in self._down:  # the hot path: no lock
            return
        with self._lock:
            outage = self._down.pop(backend, None)
        if outage is not None:
            logger.info(
                "%s is available again after %.0f s; %d request(s) were refused meanwhile",
                backend,
                time.monotonic() - outage.since,
                outage.refused,
            )

    def reset(self):
        """Forget every outage (tests)."""
        with self._lock:
            self._down.clear()


outages = Outages()


def describe_cache(alias):
    """``cache 'default' (django.core.cache.backends.redis.RedisCache)``: never
    its location, which may hold a password."""
    backend = settings.CACHES.get(alias, {}).get("BACKEND", "?")
    return f"cache {alias!r} ({backend})"


# What a cache backend raises when its server cannot be reached: sockets and
# files (OSError), Django's database cache, and the client libraries' own
# errors (those installed). Anything else — a bad rate, a bug — is not an outage.
_CACHE_BACKEND_ERRORS = (
    "redis.exceptions.RedisError",
    "django_redis.exceptions.ConnectionInterrupted",
    "pymemcache.exceptions.MemcacheError",
    "pylibmc.Error",
)


class NoAnswer(Exception):
    """Raised in a :func:`cache_guard` when the cache reported failure by
    answering nothing (memcached does, where Redis raises)."""


@functools.cache
def cache_backend_errors():
    errors: list[type[BaseException]] = [OSError, DatabaseError, NoAnswer]
    for path in _CACHE_BACKEND_ERRORS:
        try:
            errors.append(import_string(path))
        except ImportError:
            continue
    return tuple(errors)


@contextmanager
def cache_guard(alias="default"):
    """Run cache calls; a failure of the cache backend becomes
    :class:`CacheUnavailable` (the outage logged once). A guarded call that
    works ends the outage."""
    try:
        yield
    except cache_backend_errors() as exc:
        outages.down(describe_cache(alias), exc)
        raise CacheUnavailable(describe_cache(alias)) from None
    outages.up(describe_cache(alias))


def describe_database(connection):
    return f"database {connection.alias!r} ({connection.vendor})"


def _has_open_connection(connection):
    raw = connection.connection
    if raw is None:
        return False
    # psycopg 3: closed / broken; psycopg2: closed (an int); sqlite3 has neither.
    return not (getattr(raw, "closed", False) or getattr(raw, "broken", False))


def unavailable_database(exc):
    """The backend description of the database ``exc`` says is unreachable, or
    ``None`` when ``exc`` is something else (then it is not ours to hide).

    An outage is an operational or interface error after which a connection
    that just failed has no open driver connection behind it: it could not be
    opened, or the server dropped it. The outage is counted (and logged once)."""
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return None
    for connection in connections.all(initialized_only=True):
        if connection.errors_occurred and not _has_open_connection(connection):
            backend = describe_database(connection)
            outages.down(backend, exc)
            return backend
    return None


def database_connected(sender, connection, **kwargs):
    """``connection_created`` receiver: a new connection ends that database's outage."""
    outages.up(describe_database(connection))
