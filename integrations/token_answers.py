"""What a token endpoint answers when it is not plain RFC 6749 JSON, made plain.

A provider's ``metadata["token_response"]`` (the catalog's ``token_response``
table) says how its token endpoint answers, for the code exchange and for a
refresh alike:

* ``format``: ``json`` (default) or ``form`` (an
  ``application/x-www-form-urlencoded`` body, as GitHub's legacy answer);
* ``path``: the token fields are nested in this object (a dotted path, e.g.
  ``data``); they are lifted to the top level;
* ``expires_field``: the lifetime (seconds) is in this field, not ``expires_in``;
* ``ok_field`` / ``error_field`` (default ``error``): a 200 answer is an error
  when ``ok_field`` is false (Slack's ``"ok": false``) or when it has
  ``error_field``;
* ``keep``: non-secret fields of the answer (dotted paths) kept in the
  integration's metadata under ``token_fields``, by name; the name
  ``api_base_url`` (an HTTPS URL, or HTTP on loopback, without a user-info part)
  is the base URL of that connection's calls.

:func:`compliance_hook` is installed on the Authlib session
(``access_token_response`` and ``refresh_token_response``) by
:func:`integrations.oauth.build_client`: Authlib then parses an ordinary JSON
answer. An error inside a 200 raises Authlib's ``OAuthError`` with the
provider's error code (never its text), exactly as an RFC 6749 error answer
does; an answer that cannot be read raises :class:`TokenAnswerError`
(``invalid_token_response``). Neither message ever holds the body.
"""

import json
import re
from dataclasses import dataclass
from ipaddress import ip_address
from urllib.parse import parse_qsl, urlsplit

from authlib.integrations.base_client import OAuthError

from .provider_data import CLAIM_MAX_LENGTH, TokenResponseError, checked_text

# Error codes providers return, as we display and record them.
ERROR_CODE_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_FIELD_RE = re.compile(r"[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}")
_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Never kept, whatever the configuration says: a segment naming a secret.
_SECRET_WORDS = ("token", "secret", "password", "code", "signature")
_FORMATS = ("json", "form")
_MAX_FIELDS = 200  # in a form answer
MALFORMED = "invalid_token_response"
MISCONFIGURED = "token_response_invalid"
# The kept field that becomes the base URL of a connection's calls.
API_BASE_URL = "api_base_url"
KEPT_KEY = "token_fields"  # Integration.metadata[KEPT_KEY]


class TokenAnswerError(ValueError):
    """A token answer that cannot be read, or a ``token_response`` setting that
    is not valid; ``code`` is all it says."""

    def __init__(self, code):
        self.code = code
        super().__init__(code)


def error_code(value):
    """A provider-supplied error code, or ``"provider_error"`` if it is not one."""
    if isinstance(value, str) and ERROR_CODE_RE.fullmatch(value):
        return value
    return "provider_error"


@dataclass(frozen=True)
class AnswerShape:
    """A provider's ``token_response`` setting, checked."""

    format: str = "json"
    path: tuple = ()
    expires_field: str = ""
    ok_field: str = ""
    error_field: str = "error"
    keep: tuple = ()  # ((field path, name), ...)

    @property
    def reshapes(self):
        """Whether answers need rewriting before Authlib reads them."""
        return (self.format, self.path, self.expires_field, self.ok_field, self.error_field) != (
            "json",
            (),
            "",
            "",
            "error",
        )


def _field(value, *, optional=True):
    if optional and value in (None, ""):
        return ""
    if not isinstance(value, str) or not _FIELD_RE.fullmatch(value):
        raise TokenAnswerError(MISCONFIGURED)
    return value


def shape_of(metadata):
    """The checked ``token_response`` setting of a provider's ``metadata``;
    :class:`TokenAnswerError` (``token_response_invalid``) when it is malformed."""
    config = (metadata or {}).get("token_response")
    if config in (None, {}):
        return AnswerShape()
    if not isinstance(config, dict):
        raise TokenAnswerError(MISCONFIGURED)
    unknown = set(config) - {"format", "path", "expires_field", "ok_field", "error_field", "keep"}
    answer_format = config.get("format") or "json"
    if unknown or answer_format not in _FORMATS:
        raise TokenAnswerError(MISCONFIGURED)
    path = _field(config.get("path"))
    for name in ("expires_field", "ok_field", "error_field"):
        if "." in (_field(config.get(name)) or ""):
            raise TokenAnswerError(MISCONFIGURED)  # top-level (after lifting) names only
    keep = config.get("keep") or {}
    if not isinstance(keep, dict):
        raise TokenAnswerError(MISCONFIGURED)
    kept = []
    for source, name in keep.items():
        _field(source, optional=False)
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise TokenAnswerError(MISCONFIGURED)
        if any(word in part.lower() for part in source.split(".") for word in _SECRET_WORDS):
            raise TokenAnswerError(MISCONFIGURED)
        kept.append((source, name))
    return AnswerShape(
        format=answer_format,
        path=tuple(path.split(".")) if path else (),
        expires_field=_field(config.get("expires_field")),
        ok_field=_field(config.get("ok_field")),
        error_field=_field(config.get("error_field")) or "error",
        keep=tuple(kept),
    )


def _lookup(document, path):
    """The value at ``path`` (segments) in nested objects (a numeric segment
    indexes a list), or ``None``."""
    value = document
    for part in path:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


# -- the answer, made plain ---------------------------------------------------------


def _is_json(response):
    return "json" in (response.headers.get("Content-Type") or "").lower()


def _parsed(shape, response):
    """The answer's body as a dict; :class:`TokenAnswerError` when it is not one."""
    try:
        text = response.content.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenAnswerError(MALFORMED) from None
    if shape.format == "json" or _is_json(response):
        try:
            document = json.loads(text)
        except ValueError:
            raise TokenAnswerError(MALFORMED) from None
        if not isinstance(document, dict):
            raise TokenAnswerError(MALFORMED)
        return document
    try:
        pairs = parse_qsl(
            text.strip(),
            keep_blank_values=True,
            strict_parsing=True,
            max_num_fields=_MAX_FIELDS,
            errors="strict",
        )
    except (ValueError, UnicodeError):
        raise TokenAnswerError(MALFORMED) from None
    document = dict(pairs)
    if len(document) != len(pairs):  # a field twice: which one is meant?
        raise TokenAnswerError(MALFORMED)
    return document


def _is_false(value):
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def _raise_if_error(shape, document):
    """Authlib's ``OAuthError`` with the provider's code (never its text) when
    the answer says it is an error."""
    failed = shape.ok_field and _is_false(document.get(shape.ok_field))
    code = document.get(shape.error_field)
    if failed or code not in (None, ""):
        raise OAuthError(error=error_code(code))


def plain_answer(shape, document):
    """An RFC 6749 token answer from a parsed answer of this ``shape``: the
    token fields lifted from ``path`` (the nested object removed), the lifetime
    in ``expires_in``."""
    plain = dict(document)
    if shape.path:
        nested = _lookup(document, shape.path)
        if not isinstance(nested, dict):
            raise TokenAnswerError(MALFORMED)
        plain.pop(shape.path[0], None)
        plain.update(nested)
    if shape.expires_field and plain.get("expires_in") in (None, ""):
        lifetime = plain.pop(shape.expires_field, None)
        if lifetime not in (None, ""):
            plain["expires_in"] = lifetime
    return plain


def normalize(shape, response):
    """Rewrite ``response`` (a ``requests.Response`` from the token endpoint) in
    place into the RFC 6749 JSON answer it means, and return it; raise
    Authlib's ``OAuthError`` for an error answer, :class:`TokenAnswerError` for
    one that cannot be read. A 5xx or 429 is left as it is (Authlib and the
    retry logic read its status)."""
    status = response.status_code
    if status >= 500 or status == 429:
        return response
    try:
        document = _parsed(shape, response)
    except TokenAnswerError:
        if status >= 400:
            return response  # Authlib raises its HTTP error (http_4xx)
        raise
    if shape.path and status < 400:
        nested = _lookup(document, shape.path)
        if isinstance(nested, dict):
            _raise_if_error(shape, nested)
    _raise_if_error(shape, document)
    if status >= 400:
        response.raise_for_status()  # an error answer without a code: http_4xx
    plain = plain_answer(shape, document)
    response._content = json.dumps(plain).encode("utf-8")
    response.headers["Content-Type"] = "application/json"
    response.encoding = "utf-8"
    return response


def compliance_hook(shape):
    """The Authlib compliance hook (``access_token_response``,
    ``refresh_token_response``) for answers of ``shape``."""

    def hook(response):
        return normalize(shape, response)

    return hook


# -- fields kept from the answer --------------------------------------------------------


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def checked_base_url(value, name=API_BASE_URL):
    """``value`` if it is an HTTPS URL with a host (HTTP on loopback) and no
    user-info part, query or fragment; else :class:`TokenResponseError`."""
    checked_text(value, f"token response field for '{name}'", max_length=2048, error=_refuse)
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise TokenResponseError(f"the '{name}' kept is not a URL") from None
    if "@" in parts.netloc or parts.query or parts.fragment or "\\" in value:
        raise TokenResponseError(f"the '{name}' kept has a user-info part, query or fragment")
    if not host or not (parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host))):
        raise TokenResponseError(f"the '{name}' kept must be an https URL")
    return value


def _refuse(message):
    return TokenResponseError(message)


def kept_fields(metadata, token):
    """``{name: value}`` of the fields of the (plain) token answer ``token``
    that the provider's ``token_response.keep`` names, each checked: bounded
    text (an integer becomes its digits) and ``api_base_url`` a safe URL. A
    field the answer lacks is left out; a bad one raises
    :class:`TokenResponseError` naming the kept name, never the value."""
    try:
        shape = shape_of(metadata)
    except TokenAnswerError as exc:
        raise TokenResponseError(f"the provider's token_response setting: {exc.code}") from None
    kept = {}
    for source, name in shape.keep:
        value = _lookup(token, source.split("."))
        if value is None or value == "":
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        checked_text(
            value,
            f"token response field kept as '{name}'",
            max_length=CLAIM_MAX_LENGTH,
            error=_refuse,
        )
        if name == API_BASE_URL:
            checked_base_url(value)
        kept[name] = value
    return kept
