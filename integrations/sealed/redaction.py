"""Keeping secrets out of logs, reprs and error output.

Two layers, because either alone can be bypassed:

* :class:`Secret` wraps every value the service layer reads from storage and
  hands out. Its ``str`` and ``repr`` are masked, so ``logger.info("got %s",
  secret)`` or a traceback's local variables show ``Secret('********')``; code
  that needs the value says so with ``reveal()``. Creating a Secret registers
  its strings with the filter below, for as long as the Secret lives (and a
  while after). Nothing else registers anything: a value a client merely posts
  must not be able to make the filter erase chosen text from every log line,
  nor push real secrets out of a bounded registry.
* :class:`RedactingFilter`, installed on the project's log handlers, rewrites any
  record that contains a registered secret or a well-known secret shape
  (Authorization headers, ``access_token=...``, ``code``/``state`` in URLs,
  JWTs, common vendor key prefixes), also HTML-escaped or percent-encoded (a
  callback URL inside ``next=``), before it is formatted or written, traceback
  text included.

Two other things are registered, both from the configuration, never from a
request: :func:`register_key_material` adds every data key and index key the
settings layer builds a keyring from (an unwrapped one above all: a KMS
response carries it in base64), in each encoding it could be written in, for
the life of the process; :func:`register_query_parameter` adds the name of a
query parameter an API key is placed in, whose value is then masked in every
URL whatever its length.
"""

import base64
import html
import logging
import re
import threading
import weakref
from collections import OrderedDict, deque
from urllib.parse import quote

MASK = "********"
REDACTED = "[REDACTED]"

# Values shorter than this are not registered: redacting every "abc" in every
# log line would hide more than it protects.
_MIN_REGISTERED_LENGTH = 8
# How many values whose Secret is gone are still redacted (the most recent).
_MAX_RECENT = 2048
# How many written forms of keys stay registered (the most recent; seven per
# key): a process holds a handful of keys, a test run rebuilding its settings more.
_MAX_KEY_FORMS = 2048


class Secret:
    """A decrypted value that does not print itself.

    ``reveal()`` returns the value (a ``str`` for tokens, the decoded JSON for
    credential data). Equality compares the revealed values; secrets are not
    hashable, picklable or formattable without ``reveal()``.

    Only the service layer creates them, from values it read from storage: a
    Secret is what registers a value with the log filter, and the value stays
    registered for as long as any Secret holding it is alive.
    """

    __slots__ = ("_value", "__weakref__")

    def __init__(self, value):
        self._value = value
        _registry.hold(self, value)

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

    __hash__ = None  # type: ignore[assignment]  # unhashable, like the secret it masks

    def __bool__(self):
        return bool(self._value)

    def __reduce__(self):
        raise TypeError("a Secret cannot be pickled; pickle the model instance instead")


class _MaskedText(str):
    """Typed text that prints masked (``repr``) but is otherwise the ``str`` itself."""

    __slots__ = ()

    def __repr__(self):
        return repr(MASK)


class _MaskedDict(dict):
    __slots__ = ()

    def __repr__(self):
        return f"{{{MASK!r}: {MASK!r}}}"


class _MaskedList(list):
    __slots__ = ()

    def __repr__(self):
        return f"[{MASK!r}]"


_MASKED: dict[type, type] = {str: _MaskedText, dict: _MaskedDict, list: _MaskedList}


def masked(value):
    """``value`` (text, a JSON object or array) as an equal object whose ``repr``
    is masked, without registering it.

    For what a user types into a secret's form field: on its way to being sealed
    it sits in ``cleaned_data`` and in the locals of form and admin code, which an
    error report prints with ``repr``. Registering it instead would let anyone who
    can post a form make the log filter erase chosen text. Other values are
    returned as they are; :func:`unmasked` gives back the plain type.
    """
    kind = _MASKED.get(type(value))
    return kind(value) if kind is not None else value


def unmasked(value):
    """The plain ``str``/``dict``/``list`` of a :func:`masked` value (others as they are)."""
    for plain, kind in _MASKED.items():
        if type(value) is kind:
            return plain(value)
    return value


class _SecretRegistry:
    """The secret strings the log filter redacts.

    * Live: every string inside a :class:`Secret` that is still referenced,
      counted per Secret. Never evicted, and bounded by the Secrets the service
      layer handed out, not by anything a client can send.
    * Recent: strings whose last Secret was collected, kept (most recent
      ``_MAX_RECENT``) so a copy logged a little later is still redacted.

    Releases come from garbage collection, at any moment and in any thread
    (possibly while this thread holds the lock), so they are only queued there
    (``deque.append`` is atomic) and applied under the lock by the next caller.
    """

    def __init__(self):
        self._live: dict[str, int] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._released: deque[tuple[str, ...]] = deque()
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._index = None

    def hold_key(self, forms):
        """Register the written forms of one key, not tied to any object's life."""
        with self._lock:
            for form in forms:
                if form not in self._keys:
                    self._index = None
                self._keys[form] = None
                self._keys.move_to_end(form)
            while len(self._keys) > _MAX_KEY_FORMS:
                self._keys.popitem(last=False)
                self._index = None

    def hold(self, owner, value):
        texts = tuple({text for text in _strings_in(value) if len(text) >= _MIN_REGISTERED_LENGTH})
        if not texts:
            return
        with self._lock:
            self._apply_releases()
            for text in texts:
                if text not in self._live and text not in self._recent:
                    self._index = None
                self._recent.pop(text, None)
                self._live[text] = self._live.get(text, 0) + 1
        weakref.finalize(owner, self._released.append, texts)

    def _apply_releases(self):
        while self._released:
            for text in self._released.popleft():
                count = self._live.get(text, 0) - 1
                if count > 0:
                    self._live[text] = count
                    continue
                self._live.pop(text, None)
                self._recent[text] = None
                self._recent.move_to_end(text)
        while len(self._recent) > _MAX_RECENT:
            self._recent.popitem(last=False)
            self._index = None

    def index(self):
        """Every written form of every registered string, by its first
        ``_MIN_REGISTERED_LENGTH`` characters, longest first. (One regex
        alternating thousands of literals costs milliseconds per log line.)"""
        with self._lock:
            self._apply_releases()
            if self._index is None:
                index: dict[str, set[str]] = {}
                for text in (*self._live, *self._recent, *self._keys):
                    for form in _written_forms(text):
                        index.setdefault(form[:_MIN_REGISTERED_LENGTH], set()).add(form)
                self._index = {
                    prefix: sorted(forms, key=len, reverse=True) for prefix, forms in index.items()
                }
            return self._index

    def __contains__(self, text):
        with self._lock:
            self._apply_releases()
            return text in self._live or text in self._recent or text in self._keys

    def clear(self):
        with self._lock:
            self._released.clear()
            self._keys.clear()
            self._live.clear()
            self._recent.clear()
            self._index = None


def _strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings_in(item)


def _replace_registered(text, index):
    """``text`` with each registered form replaced, scanning left to right."""
    if not index:
        return text
    width = _MIN_REGISTERED_LENGTH
    parts: list[str] = []
    start, position, last = 0, 0, len(text) - width
    while position <= last:
        for form in index.get(text[position : position + width], ()):
            if text.startswith(form, position):
                parts += (text[start:position], REDACTED)
                position = start = position + len(form)
                break
        else:
            position += 1
    if not parts:
        return text
    parts.append(text[start:])
    return "".join(parts)


def _written_forms(text):
    """``text`` as it may appear in output: as is, HTML-escaped (an error page),
    percent-encoded (a URL, a ``next=`` parameter)."""
    return {text, html.escape(text), quote(text, safe=""), quote(text)}


_registry = _SecretRegistry()


def key_forms(key):
    """Every way a key (bytes) is commonly written: base64 and base64url, with
    and without padding (a KMS response, a keyring entry), hex in either case,
    and the inside of its ``bytes`` repr (a library's debug line)."""
    standard = base64.b64encode(key).decode("ascii")
    urlsafe = base64.urlsafe_b64encode(key).decode("ascii")
    forms = {
        standard,
        standard.rstrip("="),
        urlsafe,
        urlsafe.rstrip("="),
        key.hex(),
        key.hex().upper(),
        repr(key)[2:-1],
    }
    return tuple(sorted(form for form in forms if len(form) >= _MIN_REGISTERED_LENGTH))


def register_key_material(key):
    """Make the log filter and the error reports redact ``key`` (bytes, a data or
    index key) in every form :func:`key_forms` lists, for the life of the process.

    For the settings layer, which builds the keyring: keys come from the
    configuration (or a KMS/HSM), never from a request, so registering them
    cannot be used to erase chosen text.
    """
    if isinstance(key, (bytes, bytearray)) and key:
        _registry.hold_key(key_forms(bytes(key)))


def is_registered(text):
    """Whether the log filter currently redacts ``text``."""
    return text in _registry


# Quotes as written in code, JSON, reprs, and HTML-escaped in an error page.
_QUOTE = r"(?:['\"]|&quot;|&#x27;|&#39;|&#34;)"
# "=" and query-string separators, also percent-encoded (once or more: a URL
# inside a URL's parameter, e.g. next=%2Fcb%3Fcode%3D...).
_EQUALS = r"(?:=|%(?:25)*3[Dd])"
_SEPARATOR = r"(?:^|[?&;\s'\"]|%(?:25)*(?:3[Ff]|26|3[Bb]|20))"
_END = r"%(?:25)*(?:26|23|20|22|27)"
_KEYWORDS = (
    r"access_token|refresh_token|id_token|client_secret|api_key|apikey|api-key|password|"
    r"passwd|secret|code_verifier|authorization_code|private_key"
)
# Where a URL's query parameter starts: "?", "&" or ";", also percent-encoded.
_QUERY_START = r"(?:[?&;]|%(?:25)*(?:3[Ff]|26|3[Bb]))"
# Query parameters whose value is a credential wherever they appear in a URL.
_QUERY_NAMES = (
    r"token|auth_token|api_token|oauth_token|oauth_verifier|oauth_signature|signature|"
    r"sig|key|access_key"
)
_PATTERNS = [
    # Authorization: Bearer xyz / Basic xyz
    re.compile(
        rf"(?i)(authorization{_QUOTE}?\s*[:=]\s*{_QUOTE}?(?:bearer|basic|token)\s+)"
        r"[^\s'\",;&]+"
    ),
    # access_token=xyz, "client_secret": "xyz", password: xyz
    re.compile(
        rf"(?i)((?:{_KEYWORDS}){_QUOTE}?\s*(?:[:=]|%(?:25)*3[Dd])\s*{_QUOTE}?)"
        rf"(?:(?!{_END})[^\s'\"&,;}}\]])+"
    ),
    # OAuth redirects in access logs and query strings: /callback/?code=xyz&state=xyz
    re.compile(rf"({_SEPARATOR}(?:code|state|nonce){_EQUALS})(?:(?!{_END})[^\s&#'\"])+"),
    # A token or key a client put in a URL (?token=<knox token>), in an access log.
    re.compile(rf"({_QUERY_START}(?:{_QUERY_NAMES}){_EQUALS})(?:(?!{_END})[^\s&#'\"])+"),
    # JWTs
    re.compile(r"()\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}"),
    # Well-known vendor token shapes (GitHub, Slack, Stripe, Google).
    re.compile(
        r"()\b(?:gh[pousr]_[A-Za-z0-9]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|"
        r"[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|ya29\.[\w-]{20,})"
    ),
]


class _QueryParameterNames:
    """Names of URL query parameters that carry a secret (an API key placed in the
    query string): their values are redacted from every URL, whatever their length.

    Registered by the code that places a secret in a URL, from the provider's
    configuration (staff-set), never from a request. Bounded: the most recent
    ``_MAX_QUERY_NAMES`` names.
    """

    def __init__(self):
        self._names: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._pattern = None

    def add(self, name):
        with self._lock:
            if name in self._names:
                return
            self._names[name] = None
            while len(self._names) > _MAX_QUERY_NAMES:
                self._names.popitem(last=False)
            self._pattern = None

    def pattern(self):
        with self._lock:
            if self._pattern is None and self._names:
                self._pattern = query_parameter_pattern(self._names)
            return self._pattern


_MAX_QUERY_NAMES = 256


def query_parameter_pattern(names):
    """A regex matching ``name=<value>`` in a URL's query (also percent-encoded, a
    URL inside another's parameter) for each of ``names``; group 1 is kept."""
    alternatives = "|".join(
        sorted({re.escape(quote(name, safe="")) for name in names} | {re.escape(n) for n in names})
    )
    return re.compile(rf"({_QUERY_START}(?:{alternatives}){_EQUALS})(?:(?!{_END})[^\s&#'\"<>])+")


def mask_query_parameters(text, names):
    """``text`` with the value of each query parameter in ``names`` replaced, in
    every URL it holds, whatever the value's length."""
    if not text or not names:
        return text
    return query_parameter_pattern(names).sub(lambda match: match.group(1) + REDACTED, text)


_query_names = _QueryParameterNames()


def register_query_parameter(name):
    """Make the log filter and the error reports redact this query parameter's
    value in every URL (for a secret placed in the query string)."""
    if isinstance(name, str) and name:
        _query_names.add(name)


def redact(text):
    """``text`` with registered secrets and known secret shapes replaced, also
    where they appear HTML-escaped or percent-encoded."""
    if not text:
        return text
    text = _replace_registered(text, _registry.index())
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    query = _query_names.pattern()
    if query is not None:
        text = query.sub(lambda match: match.group(1) + REDACTED, text)
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
