"""Keeping secrets out of logs, reprs and error output.

Two layers, because either alone can be bypassed:

* :class:`Secret` wraps every value the service layer hands out. Its ``str`` and
  ``repr`` are masked, so ``logger.info("got %s", secret)`` or a traceback's local
  variables show ``Secret('********')``; code that needs the value says so with
  ``reveal()``. Each revealed-able value is registered with the filter below.
* :class:`RedactingFilter`, installed on the project's log handlers, rewrites any
  record that contains a registered secret or a well-known secret shape
  (Authorization headers, ``access_token=...``, JWTs, common vendor key prefixes)
  before it is formatted or written, traceback text included.
"""

import logging
import re
import threading
from collections import OrderedDict

MASK = "********"
REDACTED = "[REDACTED]"

# Values shorter than this are not registered: redacting every "abc" in every
# log line would hide more than it protects.
_MIN_REGISTERED_LENGTH = 8
_MAX_REGISTERED = 2048


class Secret:
    """A decrypted value that does not print itself.

    ``reveal()`` returns the value (a ``str`` for tokens, the decoded JSON for
    credential data). Equality compares the revealed values; secrets are not
    hashable, picklable or formattable without ``reveal()``.
    """

    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = value
        register_secret(value)

    def reveal(self):
        return self._value

    def __repr__(self):
        return f"Secret('{MASK}')"

    __str__ = __repr__

    def __format__(self, spec):
        return repr(self)

    def __eq__(self, other):
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    __hash__ = None

    def __bool__(self):
        return bool(self._value)

    def __reduce__(self):
        raise TypeError("a Secret cannot be pickled; pickle the model instance instead")


class _SecretRegistry:
    """The most recent secret strings this process handled, for the log filter."""

    def __init__(self):
        self._values = OrderedDict()
        self._lock = threading.Lock()
        self._pattern = None

    def add(self, value):
        for text in _strings_in(value):
            if len(text) < _MIN_REGISTERED_LENGTH:
                continue
            with self._lock:
                if text in self._values:
                    self._values.move_to_end(text)
                    continue
                self._values[text] = None
                if len(self._values) > _MAX_REGISTERED:
                    self._values.popitem(last=False)
                self._pattern = None

    def pattern(self):
        with self._lock:
            if self._pattern is None and self._values:
                # Longest first, so a secret containing another is replaced whole.
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(map(re.escape, ordered)))
            return self._pattern

    def clear(self):
        with self._lock:
            self._values.clear()
            self._pattern = None


def _strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings_in(item)


_registry = _SecretRegistry()


def register_secret(value):
    """Make the log filter redact ``value`` (and every string inside it)."""
    _registry.add(value)


_KEYWORDS = (
    r"access_token|refresh_token|id_token|client_secret|api_key|apikey|api-key|password|"
    r"passwd|secret|code_verifier|authorization_code|private_key"
)
_PATTERNS = [
    # Authorization: Bearer xyz / Basic xyz
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic|token)\s+)[^\s'\",;]+"),
    # access_token=xyz, "client_secret": "xyz", password: xyz
    re.compile(rf"(?i)((?:{_KEYWORDS})['\"]?\s*[:=]\s*['\"]?)[^\s'\"&,;}}\]]+"),
    # OAuth redirects in access logs and query strings: /callback/?code=xyz&state=xyz
    re.compile(r"((?:^|[?&;\s'\"])(?:code|state|nonce)=)[^\s&#'\"]+"),
    # JWTs
    re.compile(r"()\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}"),
    # Well-known vendor token shapes (GitHub, Slack, Stripe, Google).
    re.compile(
        r"()\b(?:gh[pousr]_[A-Za-z0-9]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|"
        r"[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|ya29\.[\w-]{20,})"
    ),
]


def redact(text):
    """``text`` with registered secrets and known secret shapes replaced."""
    if not text:
        return text
    registered = _registry.pattern()
    if registered is not None:
        text = registered.sub(REDACTED, text)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites log records so no secret reaches a handler's output.

    Attach it to handlers (not loggers) so it sees records from every logger,
    Django's request and database loggers included.
    """

    _formatter = logging.Formatter()

    def filter(self, record):
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
