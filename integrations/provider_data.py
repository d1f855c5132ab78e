"""Checks on what a provider sends — token responses, userinfo and ID-token
claims — before any of it is stored, sent on or shown.

A provider is outside our control, and a broken or hostile one can send values
that no column, header or page can hold: a NUL character (PostgreSQL text and
JSON refuse it), a lone surrogate (not encodable as UTF-8), a lifetime that
overflows ``datetime``, a megabyte-long token type. Left alone these are server
errors, unaudited. Here each one is the caller's error class, with a message
naming the field and never the value, so the flow fails like any other failed
provider request: a friendly page and an audit event.
"""

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# Control characters (NUL included) and UTF-16 surrogates: never in a token,
# a scope, a token type, an account id or a name.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_DIGITS = re.compile(r"[0-9]{1,18}")

# Bounds generous enough for every real provider (Microsoft's JWT access tokens
# run to a few kilobytes) and small enough for a column and a page.
TOKEN_MAX_LENGTH = 65536
TOKEN_TYPE_MAX_LENGTH = 40  # Integration.token_type
SCOPE_MAX_LENGTH = 512  # one scope
SCOPES_MAX = 500
ACCOUNT_ID_MAX_LENGTH = 255  # Integration.external_account_id
CLAIM_MAX_LENGTH = 1024
# A token said to live longer than this is not a lifetime, it is a broken response.
MAX_LIFETIME = timedelta(days=3650)


class TokenResponseError(ValueError):
    """A token response that cannot be stored; the message names fields only."""


def checked_text(value, name, *, max_length, error):
    """``value`` if it is a ``str`` of at most ``max_length`` characters with no
    control character or lone surrogate; else ``error`` naming ``name``."""
    if not isinstance(value, str):
        raise error(f"{name} must be a string")
    if len(value) > max_length:
        raise error(f"{name} is too long")
    if _UNSAFE.search(value):
        raise error(f"{name} holds a control character or an invalid code point")
    return value


def _whole_number(value):
    """An int from a JSON number or a string of digits; ``None`` if it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _field(name):
    return f"token response field '{name}'"


def parse_scopes(scope):
    """The scopes of a token response: a space- (or comma-) separated string or
    a list of strings; ``None`` when absent."""
    if scope is None:
        return None
    if isinstance(scope, str):
        checked_text(
            scope,
            _field("scope"),
            max_length=SCOPE_MAX_LENGTH * SCOPES_MAX,
            error=TokenResponseError,
        )
        scopes = [part for part in scope.replace(",", " ").split() if part]
    elif isinstance(scope, (list, tuple)) and all(isinstance(s, str) for s in scope):
        scopes = list(scope)
    else:
        raise TokenResponseError(f"{_field('scope')} must be a string or a list of strings")
    if len(scopes) > SCOPES_MAX:
        raise TokenResponseError(f"{_field('scope')} lists too many scopes")
    for item in scopes:
        checked_text(item, _field("scope"), max_length=SCOPE_MAX_LENGTH, error=TokenResponseError)
    return scopes


def expiry(token, now):
    """When the access token expires (``expires_in`` seconds from ``now``, else
    ``expires_at``), ``None`` when the response says neither."""
    expires_in = token.get("expires_in")
    if expires_in not in (None, ""):
        seconds = _whole_number(expires_in)
        if seconds is None:
            raise TokenResponseError(f"{_field('expires_in')} is not a number")
        if not 0 <= seconds <= MAX_LIFETIME.total_seconds():
            raise TokenResponseError(f"{_field('expires_in')} is out of range")
        return now + timedelta(seconds=seconds)
    expires_at = token.get("expires_at")
    if expires_at not in (None, ""):
        if isinstance(expires_at, datetime):
            return expires_at
        timestamp = _whole_number(expires_at)
        if timestamp is None:
            raise TokenResponseError(f"{_field('expires_at')} is not a timestamp")
        if not 0 <= timestamp <= (now + MAX_LIFETIME).timestamp():
            raise TokenResponseError(f"{_field('expires_at')} is out of range")
        return datetime.fromtimestamp(timestamp, tz=UTC)
    return None


@dataclass(frozen=True)
class TokenResponse:
    """The fields of a token response that are stored, checked."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    token_type: str
    expires_at: datetime | None
    scopes: list | None


def read_token_response(token, *, now):
    """The checked fields of a token response (RFC 6749 §5.1), or
    :class:`TokenResponseError` naming the first bad field."""
    if not isinstance(token, dict):
        raise TokenResponseError("token response must be a JSON object")
    access = token.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenResponseError("token response has no access_token")
    checked_text(
        access, _field("access_token"), max_length=TOKEN_MAX_LENGTH, error=TokenResponseError
    )
    refresh = token.get("refresh_token")
    if refresh is not None:
        checked_text(
            refresh, _field("refresh_token"), max_length=TOKEN_MAX_LENGTH, error=TokenResponseError
        )
    token_type = token.get("token_type") or "Bearer"
    checked_text(
        token_type, _field("token_type"), max_length=TOKEN_TYPE_MAX_LENGTH, error=TokenResponseError
    )
    return TokenResponse(
        access_token=access,
        refresh_token=refresh or None,
        token_type=token_type,
        expires_at=expiry(token, now),
        scopes=parse_scopes(token.get("scope")),
    )


def salvage_refresh_token(token):
    """The refresh token of a token response that cannot be stored as a whole
    (an access token too long, a bad lifetime…), when that one field is sound;
    else ``None``. A rotating provider has already retired the refresh token we
    sent: dropping the new one with the rest of the answer would lose the grant."""
    refresh = token.get("refresh_token") if isinstance(token, dict) else None
    if not refresh:
        return None
    try:
        return checked_text(
            refresh, _field("refresh_token"), max_length=TOKEN_MAX_LENGTH, error=TokenResponseError
        )
    except TokenResponseError:
        return None
