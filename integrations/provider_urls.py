"""URL templates: a provider's endpoints with ``{name}`` placeholders.

A Provider's URL fields may hold placeholders (``https://{shop}.myshopify.com/
admin/oauth/access_token``, ``https://login.microsoftonline.com/{tenant}/...``)
that its ``metadata["url_params"]`` declares, each with a ``pattern`` the value
must fullmatch, a ``label``, an ``example`` and a ``level``:

* ``provider``: staff fill the value once, in ``Provider.metadata["url_values"]``
  (``default`` when they leave it out);
* ``connection``: each user enters it when connecting; it is kept in the
  ``Integration.metadata["url_values"]`` of the connection.

:func:`resolve` fills a URL from both. Every value is checked again wherever a
URL is built, whatever its pattern allows: it must fullmatch its pattern and be
made only of letters, digits, ``.``, ``-`` and ``_`` (never ``/ @ ? # : %``,
whitespace or anything outside ASCII), with no ``..``, so that no value can
change the host or the path structure the template fixes. A value that ends up
in the host may not make it an IP address, ``localhost`` or a name without a
dot (a user-entered value must not point the connection at an internal
server). The caller still checks the result (``oauth.check_endpoint_url``).

Pure functions over the provider's fields and metadata: no database, no
network, nothing of the services; the models, the protocol modules and the
services all use them. A :class:`URLTemplateError`'s ``code`` names the
placeholder, never the value.
"""

import re
from ipaddress import ip_address
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

# A placeholder's name, as it appears between braces.
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
# What any value may be made of, whatever its pattern says.
SAFE_VALUE_RE = re.compile(r"[A-Za-z0-9._-]{1,253}")
VALUE_MAX_LENGTH = 253
# A query parameter the provider's redirect carries (``realmId``).
CALLBACK_PARAM_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
LEVELS = ("provider", "connection")
# The provider's fields that may hold placeholders.
URL_FIELDS = (
    "base_url",
    "request_token_url",
    "authorize_url",
    "token_url",
    "revocation_url",
    "userinfo_url",
    "discovery_url",
)
# URLs of the provider kept in its metadata (no model field of their own).
METADATA_URL_FIELDS = ("refresh_url",)
# What a placeholder stands for when a template is checked as a URL (a host
# name, so that a placeholder that is the whole host passes too).
_EXAMPLE_LABEL = "example.com"


class URLTemplateError(ValueError):
    """A URL that cannot be built: a value missing, malformed or unsafe, or a
    placeholder not declared. ``code`` names the placeholder, never its value."""

    def __init__(self, code):
        self.code = code
        super().__init__(code)


def placeholders(url):
    """The names of the ``{name}`` placeholders in ``url``, in order of use."""
    return [match.group(1) for match in _PLACEHOLDER_RE.finditer(url or "")]


def _code(prefix, name):
    name = name if NAME_RE.fullmatch(name or "") else "placeholder"
    return f"{prefix}_{name}"


@deconstructible
class TemplatedURLValidator:
    """Django's ``URLValidator`` for a URL that may hold ``{name}`` placeholders:
    each is replaced by an example host name, then the URL is checked as usual.
    A brace that is not a well-formed placeholder is invalid."""

    message = _("Enter a valid URL; placeholders are written {name} (lowercase letters).")
    code = "invalid"

    def __init__(self, schemes=None):
        self.schemes = schemes

    def __call__(self, value):
        value = str(value)
        for name in placeholders(value):
            if not NAME_RE.fullmatch(name):
                raise ValidationError(self.message, code=self.code)
        example = _PLACEHOLDER_RE.sub(_EXAMPLE_LABEL, value)
        if "{" in example or "}" in example:
            raise ValidationError(self.message, code=self.code)
        URLValidator(schemes=self.schemes)(example)

    def __eq__(self, other):
        return isinstance(other, TemplatedURLValidator) and self.schemes == other.schemes


def url_params(provider):
    """The provider's declared placeholders: ``{name: spec}`` (well-formed
    entries only; :func:`metadata_errors` reports the others)."""
    declared = (getattr(provider, "metadata", None) or {}).get("url_params") or {}
    if not isinstance(declared, dict):
        return {}
    return {
        name: spec
        for name, spec in declared.items()
        if isinstance(name, str) and NAME_RE.fullmatch(name) and isinstance(spec, dict)
    }


def callback_params(provider):
    """``{query parameter: {"pattern", "as"}}``: the parameters the provider adds
    to its redirect back to us that name the connection (Intuit's ``realmId``),
    each kept as the connection-level value of the placeholder ``as``
    (``metadata["callback_params"]``; well-formed entries only)."""
    declared = (getattr(provider, "metadata", None) or {}).get("callback_params") or {}
    if not isinstance(declared, dict):
        return {}
    return {
        name: spec
        for name, spec in declared.items()
        if isinstance(name, str)
        and CALLBACK_PARAM_RE.fullmatch(name)
        and isinstance(spec, dict)
        and isinstance(spec.get("as"), str)
        and NAME_RE.fullmatch(spec["as"])
        and isinstance(spec.get("pattern"), str)
    }


def callback_filled(provider):
    """The connection-level placeholders the provider's redirect fills."""
    return {spec["as"] for spec in callback_params(provider).values()}


def connection_params(provider):
    """The placeholders each user fills when connecting, ``{name: spec}``, in
    declaration order (not those the provider's redirect fills:
    :func:`callback_params`)."""
    filled = callback_filled(provider)
    return {
        name: spec
        for name, spec in url_params(provider).items()
        if spec.get("level") == "connection" and name not in filled
    }


def check_callback_values(provider, query):
    """``{placeholder: value}`` from the provider's redirect ``query`` (a
    mapping), each value checked against the callback parameter's pattern and
    the placeholder's; :class:`URLTemplateError`
    (``callback_param_<placeholder>_missing|unsafe|pattern``) otherwise."""
    declared = url_params(provider)
    values = {}
    for name, spec in callback_params(provider).items():
        target = spec["as"]
        value = query.get(name)
        reason = value_error(spec, value)
        if reason is None and target in declared:
            reason = value_error(declared[target], value)
        elif target not in declared:
            reason = "undeclared"
        if reason:
            raise URLTemplateError(f"{_code('callback_param', target)}_{reason}")
        values[target] = value
    return values


def value_error(spec, value):
    """Why ``value`` is no value for a placeholder declared as ``spec``: a short
    reason (``"missing"``, ``"unsafe"``, ``"pattern"``) or ``None`` if it is fine.
    Never quotes the value."""
    if value is None or value == "":
        return "missing"
    if not isinstance(value, str) or len(value) > VALUE_MAX_LENGTH:
        return "unsafe"
    if not SAFE_VALUE_RE.fullmatch(value) or ".." in value:
        return "unsafe"
    if value.startswith(".") or value.endswith("."):
        return "unsafe"
    pattern = spec.get("pattern") if isinstance(spec, dict) else None
    if not isinstance(pattern, str) or not pattern:
        return "pattern"
    try:
        if not re.fullmatch(pattern, value):
            return "pattern"
    except re.error:
        return "pattern"
    return None


def provider_values(provider):
    """The provider-level values: ``metadata["url_values"]``, then each
    declared ``default``."""
    metadata = getattr(provider, "metadata", None) or {}
    given = metadata.get("url_values") or {}
    values = {}
    for name, spec in url_params(provider).items():
        if spec.get("level", "provider") == "connection":
            continue
        value = given.get(name) if isinstance(given, dict) else None
        if value in (None, "") and isinstance(spec.get("default"), str):
            value = spec["default"]
        if value not in (None, ""):
            values[name] = value
    return values


def connection_values(integration_or_metadata):
    """The connection-level values kept with an integration (its ``metadata``
    or the metadata dict itself)."""
    metadata = getattr(integration_or_metadata, "metadata", integration_or_metadata) or {}
    values = metadata.get("url_values") if isinstance(metadata, dict) else None
    return dict(values) if isinstance(values, dict) else {}


def check_connection_values(provider, values):
    """The connection-level values a user entered, checked: ``{name: value}``
    for every connection-level placeholder, or :class:`URLTemplateError`
    (``url_value_<name>_missing|unsafe|pattern``)."""
    checked = {}
    values = values or {}
    for name, spec in connection_params(provider).items():
        value = values.get(name)
        reason = value_error(spec, value)
        if reason:
            raise URLTemplateError(f"{_code('url_value', name)}_{reason}")
        checked[name] = value
    return checked


def _unsafe_host(host):
    if host == "localhost" or host.endswith(".localhost") or "." not in host:
        return True
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


def resolve(url, provider, url_values=None):
    """``url`` with every placeholder replaced by its checked value: the
    connection's ``url_values`` for connection-level placeholders, the
    provider's for the others. ``""`` stays ``""``; a URL without placeholders
    is returned as it is. Raises :class:`URLTemplateError`."""
    names = placeholders(url)
    if not names:
        return url or ""
    declared = url_params(provider)
    from_provider = provider_values(provider)
    from_connection = dict(url_values or {})
    template_host = _host(url)
    for name in names:
        if name not in declared:
            raise URLTemplateError(_code("url_placeholder_undeclared", name))
    resolved = url
    for name in dict.fromkeys(names):
        spec = declared[name]
        level = spec.get("level", "provider")
        value = (from_connection if level == "connection" else from_provider).get(name)
        reason = value_error(spec, value)
        if reason:
            raise URLTemplateError(f"{_code('url_value', name)}_{reason}")
        resolved = resolved.replace("{" + name + "}", value)
    host = _host(resolved)
    if host is None or (host != template_host and _unsafe_host(host)):
        raise URLTemplateError("url_host_unsafe")
    return resolved


def _host(url):
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return None


def metadata_errors(provider):
    """What is wrong with the provider's URL templates and ``url_params`` /
    ``url_values``: ``{field: [messages]}`` for ``Provider.clean`` (messages
    name placeholders, never values)."""
    errors: dict[str, list] = {}

    def add(field, message):
        errors.setdefault(field, []).append(message)

    metadata = getattr(provider, "metadata", None) or {}
    raw = metadata.get("url_params") or {}
    if not isinstance(raw, dict):
        add("metadata", _("url_params must be an object of placeholder name → settings."))
        raw = {}
    for name, spec in raw.items():
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            add(
                "metadata",
                _("url_params: a placeholder name must be lowercase letters, digits, _."),
            )
            continue
        if not isinstance(spec, dict):
            add("metadata", _("url_params: %(name)s must be an object.") % {"name": name})
            continue
        pattern = spec.get("pattern")
        try:
            compiled = re.compile(pattern) if isinstance(pattern, str) and pattern else None
        except re.error:
            compiled = None
        if compiled is None:
            add(
                "metadata",
                _("url_params: %(name)s needs a valid regular expression as its pattern.")
                % {"name": name},
            )
        if spec.get("level", "provider") not in LEVELS:
            add(
                "metadata",
                _("url_params: the level of %(name)s must be provider or connection.")
                % {"name": name},
            )
        example = spec.get("example")
        if compiled is not None and isinstance(example, str) and value_error(spec, example):
            add(
                "metadata",
                _("url_params: the example of %(name)s does not match its pattern.")
                % {"name": name},
            )
    declared = url_params(provider)
    values = metadata.get("url_values") or {}
    if not isinstance(values, dict):
        add("metadata", _("url_values must be an object of placeholder name → value."))
        values = {}
    for name, value in values.items():
        spec = declared.get(name)
        if spec is None:
            add(
                "metadata",
                _("url_values: %(name)s is not declared in url_params.") % {"name": name},
            )
        elif spec.get("level") == "connection":
            add(
                "metadata",
                _("url_values: %(name)s is entered by each user when connecting.") % {"name": name},
            )
        elif value_error(spec, value):
            add(
                "metadata",
                _("url_values: the value of %(name)s does not match its pattern.") % {"name": name},
            )
    for field in URL_FIELDS:
        for name in dict.fromkeys(placeholders(getattr(provider, field, "") or "")):
            if name not in declared:
                add(
                    field,
                    _("The placeholder {%(name)s} is not declared in metadata url_params.")
                    % {"name": name},
                )
    for key in METADATA_URL_FIELDS:
        url = metadata.get(key)
        if url is None:
            continue
        try:
            if not isinstance(url, str):
                raise ValidationError("not text")
            TemplatedURLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            add("metadata", _("%(key)s must be a URL.") % {"key": key})
            continue
        for name in dict.fromkeys(placeholders(url)):
            if name not in declared:
                add(
                    "metadata",
                    _("%(key)s: the placeholder {%(name)s} is not declared in url_params.")
                    % {"key": key, "name": name},
                )
    raw_callback = metadata.get("callback_params")
    if raw_callback is not None and not isinstance(raw_callback, dict):
        add("metadata", _("callback_params must be an object of parameter name → settings."))
        raw_callback = {}
    well_formed = callback_params(provider)
    for name, spec in (raw_callback or {}).items():
        if name not in well_formed:
            add(
                "metadata",
                _("callback_params: each needs a parameter name, a pattern and as."),
            )
            continue
        try:
            re.compile(spec["pattern"])
        except re.error:
            add(
                "metadata",
                _("callback_params: the pattern of %(name)s is not a regular expression.")
                % {"name": spec["as"]},
            )
        target = declared.get(spec["as"])
        if target is None or target.get("level") != "connection":
            add(
                "metadata",
                _("callback_params: %(name)s must be a connection-level placeholder of url_params.")
                % {"name": spec["as"]},
            )
    return errors
