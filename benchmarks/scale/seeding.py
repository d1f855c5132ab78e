"""Seeded values and their checks for the storm and rotation scenarios: pure
functions, so the driver, the ops in the hosts and the tests agree on them.

Seeded secrets are derived from a run tag and a row number, so a check can say
what each row must hold without keeping a copy; what crosses a process boundary
is a digest of a token, never the token.
"""

import hashlib
import json
import uuid

CHUNK = 2000  # integrations per bulk_create transaction
COPY_CHUNK = 50_000  # credentials per COPY transaction
_ROW_PREFIX = "seed-"


def username(tag):
    return f"scale-{tag}"


def account_id(tag, n):
    return f"{tag}-{n:06d}"


def number_of(account):
    """The row number back from :func:`account_id`."""
    return int(account.rsplit("-", 1)[1])


def seed_refresh_token(tag, n):
    """The refresh token grant ``n`` starts with; unique per tag, so one provider
    serves several scenarios' grants apart."""
    return f"seed-refresh-{tag}-{n:06d}-" + "r" * 24


def seed_access_token(tag, n):
    return f"seed-access-{tag}-{n:06d}-" + "a" * 24


def digest(token):
    """As tests/reuse_detection.digest: 24 hex digits of SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()[:24]


def percentiles(samples):
    """p50 and p99 in milliseconds (None without samples)."""
    if not samples:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(samples)

    def at(fraction):
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1e3, 1)

    return {"p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": round(ordered[-1] * 1e3, 1)}


# -- sealed rows ------------------------------------------------------------------


def row_name(n):
    return f"{_ROW_PREFIX}{n:07d}"


def is_row_name(name):
    return name.startswith(_ROW_PREFIX) and name[len(_ROW_PREFIX) :].isdigit()


def row_number(name):
    return int(name[len(_ROW_PREFIX) :])


def row_value(n):
    """What seeded credential ``n`` holds (about the size of a real API key set)."""
    return {"token": f"seed-value-{n:07d}-" + "x" * 64}


def json_plaintext(value):
    """The bytes EncryptedJSONField seals (docs/FORMAT.md: compact, not ASCII-escaped)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sealed_row(keyring, field, n):
    """A new primary key and row ``n``'s value sealed for it under the keyring's
    primary key, bound to that row as ``field`` binds its values."""
    pk = uuid.uuid4()
    return pk, keyring.encrypt(json_plaintext(row_value(n)), field.context_for_pk(pk))


def api_value(name, n):
    return f"{name}-w{n:06d}-" + "k" * 32


class ExpectedWrites:
    """What each credential written through the API may hold afterwards.

    A write that succeeded fixes the value; one refused (a 4xx) leaves the
    value as it was; one whose outcome is unknown (a 5xx, a lost connection)
    leaves both possible, and for a create, the row's absence (``None``)."""

    def __init__(self):
        self.values = {}  # name -> set of possible values (None: no row)

    def settle(self, name, value, status, *, success):
        before = self.values.get(name, {None})
        if status == success:
            self.values[name] = {value}
        elif isinstance(status, int) and 400 <= status < 500:
            self.values[name] = before
        else:
            self.values[name] = before | {value}

    def as_json(self):
        return {name: sorted(values, key=str) for name, values in self.values.items()}
