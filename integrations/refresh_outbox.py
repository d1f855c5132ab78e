"""A provider's answer to a refresh, kept sealed outside the database until stored.

Once a rotating provider has answered a refresh, the refresh token we sent is
dead: its answer is the only copy of the grant. Should our write of it fail (a
database restart, a killed backend, a worker killed while it retried), the next
refresh would send the dead token, and a provider that detects reuse revokes the
whole grant. So the lease holder puts the answer here *before* it writes the row,
and takes it out once the row is committed; the next lease holder applies an
answer it finds here instead of asking the provider (:mod:`integrations.tokens`).

The answer is sealed under the keyring with its own context (a purpose and the
integration's id), so the cache never holds a token in clear. An entry names the
row state it answers: the row's ``updated_at`` and a digest of the sealed refresh
token it replaces. It is applied to that state only; a row changed since (stored
after all, reconnected, disconnected) makes it stale, and it is dropped.

It lives in the cache ``REFRESH_OUTBOX_CACHE`` names: in production one that every
process shares and that outlives the app's processes (Redis). The local-memory
cache covers the threads of one process only. A cache that is down costs the
write-ahead copy, not the refresh: the answer is still written to the database
(one failure at a time is survived; both at once may lose the grant, logged).
"""

import hashlib
import json
import logging

from django.core.cache import caches

from .conf import app_settings
from .crypto import CryptoError

logger = logging.getLogger("integrations.tokens")

_PURPOSE = "integrations.refresh_outbox"


def _key(pk):
    return f"integrations:refresh-outbox:{pk}"


def _context(pk):
    return f"{_PURPOSE}:{pk}"


def _state(row):
    """What an entry must match: the row as the lease holder read it."""
    sealed = row.__dict__.get("refresh_token_sealed") or ""
    return row.updated_at.isoformat(), hashlib.sha256(str(sealed).encode()).hexdigest()


def _cache():
    return caches[app_settings.REFRESH_OUTBOX_CACHE]


def put(row, answer):
    """Keep ``answer`` (the provider's token response, a dict) for ``row`` as
    read before the refresh. True when kept; a cache failure is logged (its
    type only) and answers False: the caller still writes the database."""
    seen, replaces = _state(row)
    try:
        sealed = app_settings.keyring.encrypt(
            json.dumps(answer, separators=(",", ":")).encode(), _context(row.pk)
        )
        _cache().set(
            _key(row.pk),
            {"seen": seen, "replaces": replaces, "answer": sealed},
            timeout=app_settings.REFRESH_OUTBOX_TTL_SECONDS,
        )
    except Exception as exc:  # noqa: BLE001 - any cache backend's failure
        logger.warning(
            "Refresh answer of integration %s not kept in the outbox (%s); "
            "it is written to the database only",
            row.pk,
            type(exc).__name__,
        )
        return False
    return True


def pending(row):
    """The answer an earlier lease holder could not store for ``row`` in its
    current state, or ``None``. A stale entry (the row changed since) or one
    that cannot be opened is dropped."""
    try:
        entry = _cache().get(_key(row.pk))
    except Exception as exc:  # noqa: BLE001 - any cache backend's failure
        logger.warning(
            "Refresh outbox unavailable for integration %s (%s)", row.pk, type(exc).__name__
        )
        return None
    if not isinstance(entry, dict):
        return None
    if (entry.get("seen"), entry.get("replaces")) != _state(row):
        discard(row.pk)
        return None
    try:
        answer = json.loads(app_settings.keyring.decrypt(entry["answer"], _context(row.pk)))
    except (CryptoError, KeyError, TypeError, ValueError) as exc:
        logger.error(
            "Refresh outbox entry of integration %s cannot be opened (%s); dropped",
            row.pk,
            type(exc).__name__,
        )
        discard(row.pk)
        return None
    return answer if isinstance(answer, dict) else None


def discard(pk):
    """Forget the entry of integration ``pk`` (stored, or stale); best effort:
    an entry left behind is stale and dropped when next seen."""
    try:
        _cache().delete(_key(pk))
    except Exception as exc:  # noqa: BLE001 - any cache backend's failure
        logger.warning(
            "Refresh outbox entry of integration %s not removed (%s)", pk, type(exc).__name__
        )
