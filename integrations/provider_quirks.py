"""How a provider departs from the plain protocol, as ``Provider.metadata`` says
(the catalog's entry format: revocation family, account fields, scope
separator, access-token placement, credential formats), and the checks
``Provider.clean`` makes of it.

Pure functions over a provider's metadata: the models, the protocol modules
(:mod:`.oauth`, :mod:`.provider_hooks`) and the services read the quirks through
them, so that each key is interpreted in one place. Messages name keys, never
a value a user entered.
"""

import re

from django.utils.translation import gettext_lazy as _

from . import provider_urls

# The named revocation functions of :mod:`integrations.provider_hooks` (its
# registry must hold exactly these; a test says so).
REVOCATION_HOOKS = frozenset({"github_grant", "stripe_deauthorize"})
REVOCATION_METHODS = ("rfc7009", "bearer", "hook", "signed", "none")
# What each protocol can use: ``signed`` is OAuth 1.0a's (a signed POST),
# ``rfc7009`` and ``bearer`` are OAuth 2's.
OAUTH1_REVOCATION_METHODS = ("signed", "none")
OAUTH2_REVOCATION_METHODS = ("rfc7009", "bearer", "hook", "none")
TOKEN_REQUEST_FORMATS = ("form", "json")
HTTP_METHODS = ("POST", "DELETE", "GET")
ACCOUNT_SOURCES = ("userinfo", "token_response")
PLACEMENT_PLACES = ("header", "query")
# A header or query parameter name (RFC 9110 token characters).
_NAME_RE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}")
# A query or form parameter name (client_id_param).
_PARAM_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
DEFAULT_ACCOUNT_ID = ("sub", "id")
DEFAULT_ACCOUNT_LABEL = ("email", "preferred_username", "login", "name")


def _metadata(provider):
    metadata = getattr(provider, "metadata", None)
    return metadata if isinstance(metadata, dict) else {}


# -- scopes ---------------------------------------------------------------------------


def scope_separator(provider):
    """How the provider joins scopes in a request (``" "`` unless it says ``","``)."""
    separator = _metadata(provider).get("scope_separator")
    return separator if isinstance(separator, str) and separator else " "


# -- revocation -------------------------------------------------------------------------


def _is_oauth1(provider):
    return getattr(provider, "auth_type", None) == "oauth1"


def revocation(provider):
    """``{"method", "http_method", "hook"}``: how disconnecting revokes at the
    provider. Without ``metadata["revocation"]``, ``rfc7009`` for OAuth 2 (the
    revocation URL or discovery's, when there is one) and ``signed`` for OAuth
    1.0a (a signed POST to the revocation URL, when there is one); an OAuth
    1.0a provider stored with ``rfc7009`` (before ``signed`` existed) is
    ``signed`` too."""
    configured = _metadata(provider).get("revocation")
    if not isinstance(configured, dict):
        configured = {}
    method = configured.get("method") or ("signed" if _is_oauth1(provider) else "rfc7009")
    if method == "rfc7009" and _is_oauth1(provider):
        method = "signed"
    http_method = str(configured.get("http_method") or "POST").upper()
    note = configured.get("note")
    return {
        "method": method,
        "http_method": http_method,
        "hook": configured.get("hook") or "",
        "note": note if isinstance(note, str) else "",
    }


# -- account ----------------------------------------------------------------------------


def account_rule(provider):
    """``(source, id paths, label paths)`` naming the connected account: the
    ``account`` table, else the older ``account_id_field`` /
    ``account_label_fields`` keys, else the defaults."""
    metadata = _metadata(provider)
    account = metadata.get("account")
    account = account if isinstance(account, dict) else {}
    source = account.get("source") or "userinfo"
    id_path = account.get("id") or metadata.get("account_id_field")
    ids = (id_path,) if isinstance(id_path, str) and id_path else DEFAULT_ACCOUNT_ID
    labels = account.get("label") or metadata.get("account_label_fields")
    if isinstance(labels, str):
        labels = [labels]
    if not isinstance(labels, (list, tuple)) or not labels:
        labels = DEFAULT_ACCOUNT_LABEL
    return source, tuple(ids), tuple(p for p in labels if isinstance(p, str) and p)


def account_source(provider):
    """Where the account's fields are: ``userinfo`` (the ID token and userinfo
    claims) or ``token_response`` (the token endpoint's answer)."""
    return account_rule(provider)[0]


# What of a token response may never serve as account claims.
_TOKEN_SECRETS = frozenset({"access_token", "refresh_token", "id_token"})


def token_response_claims(token):
    """A token response without its secrets: the document the ``account``
    paths are read from when its ``source`` is ``token_response``."""
    if not isinstance(token, dict):
        return {}
    return {key: value for key, value in token.items() if key not in _TOKEN_SECRETS}


_MISSING = object()


def lookup(document, path):
    """The value at ``path`` in a JSON document: the key ``path`` itself first
    (a claim named ``https://example.com/id`` or ``user.id``), then the dotted
    path, a numeric segment indexing a list (``data.0.login``). ``None`` when absent."""
    if not isinstance(document, dict) or not isinstance(path, str) or not path:
        return None
    if path in document:
        return document[path]
    value = document
    for segment in path.split("."):
        if isinstance(value, dict):
            value = value.get(segment, _MISSING)
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return None
        if value is _MISSING:
            return None
    return value


# -- token endpoint requests ----------------------------------------------------------------


def refresh_url(provider):
    """The URL (template) refresh requests go to when it is not the token URL
    (UPS, Figma): ``metadata["refresh_url"]``, or ``""``."""
    url = _metadata(provider).get("refresh_url")
    return url if isinstance(url, str) else ""


def client_id_param(provider):
    """The name the provider gives the client id in the authorization URL and
    the token endpoint requests (TikTok's ``client_key``); ``client_id``
    unless ``metadata["client_id_param"]`` says otherwise."""
    name = _metadata(provider).get("client_id_param")
    return name if isinstance(name, str) and _PARAM_RE.fullmatch(name) else "client_id"


def token_request_format(provider):
    """How the token endpoint takes its requests (code exchange and refresh):
    ``form`` (RFC 6749) or ``json`` (Notion), from ``metadata["token_request"]``."""
    configured = _metadata(provider).get("token_request")
    value = configured.get("format") if isinstance(configured, dict) else None
    return value if value in TOKEN_REQUEST_FORMATS else "form"


# -- access-token placement ----------------------------------------------------------------


def access_token_placement(provider):
    """``{"in", "name", "prefix"}`` for an OAuth access token on calls, or
    ``None`` for the standard ``Authorization: <type> <token>``."""
    configured = _metadata(provider).get("access_token_placement")
    if not isinstance(configured, dict):
        return None
    place = configured.get("in", "header")
    name = configured.get("name")
    prefix = configured.get("prefix", "")
    if place not in PLACEMENT_PLACES or not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        return None
    return {"in": place, "name": name, "prefix": prefix if isinstance(prefix, str) else ""}


# -- credential formats ---------------------------------------------------------------------


def credential_fields(provider):
    """``{data key: {"label", "pattern", "help", "example"}}`` the provider
    documents for what a user enters (well-formed entries only)."""
    fields = _metadata(provider).get("credential_fields") if provider is not None else None
    if not isinstance(fields, dict):
        return {}
    return {key: spec for key, spec in fields.items() if isinstance(spec, dict)}


def credential_format_errors(provider, data):
    """``{data key: message}`` for each entered value that does not have the
    shape the provider documents; messages name the field and the expected
    shape, never the value."""
    errors = {}
    for key, spec in credential_fields(provider).items():
        pattern = spec.get("pattern")
        value = data.get(key) if isinstance(data, dict) else None
        if not isinstance(pattern, str) or not pattern or not isinstance(value, str):
            continue
        try:
            matched = re.fullmatch(pattern, value) is not None
        except re.error:
            continue  # reported by Provider.clean; the value is not judged by it
        if not matched:
            label = spec.get("label") if isinstance(spec.get("label"), str) else key
            example = spec.get("example")
            if isinstance(example, str) and example:
                message = _(
                    "%(label)s does not look right for %(provider)s: expected a value like "
                    "%(example)s."
                )
            else:
                message = _(
                    "%(label)s does not look right for %(provider)s: it does not have the "
                    "documented format."
                )
            errors[key] = message % {
                "label": label,
                "provider": getattr(provider, "name", ""),
                "example": example,
            }
    return errors


# -- Provider.clean ------------------------------------------------------------------------


def metadata_errors(provider):
    """``{field: [messages]}``: what is wrong with the provider's quirks."""
    errors = provider_urls.metadata_errors(provider)

    def add(message):
        errors.setdefault("metadata", []).append(message)

    metadata = _metadata(provider)
    configured = metadata.get("revocation")
    if configured is not None and not isinstance(configured, dict):
        add(_("revocation must be an object."))
    elif isinstance(configured, dict):
        rule = revocation(provider)
        method = configured.get("method") or rule["method"]
        if method not in REVOCATION_METHODS:
            add(_("revocation: method must be one of rfc7009, bearer, hook, signed, none."))
        elif _is_oauth1(provider) and method not in OAUTH1_REVOCATION_METHODS:
            add(_("revocation: an OAuth 1.0a provider revokes with signed or none."))
        elif not _is_oauth1(provider) and method == "signed":
            add(_("revocation: signed is for OAuth 1.0a providers only."))
        if rule["http_method"] not in HTTP_METHODS:
            add(_("revocation: http_method must be POST, DELETE or GET."))
        if rule["method"] == "hook" and rule["hook"] not in REVOCATION_HOOKS:
            add(
                _("revocation: unknown hook; the known ones are: %(hooks)s.")
                % {"hooks": ", ".join(sorted(REVOCATION_HOOKS))}
            )
    account = metadata.get("account")
    if account is not None:
        if not isinstance(account, dict):
            add(_("account must be an object."))
        elif account.get("source", "userinfo") not in ACCOUNT_SOURCES:
            add(_("account: source must be userinfo or token_response."))
    separator = metadata.get("scope_separator")
    if separator is not None and (not isinstance(separator, str) or separator not in (" ", ",")):
        add(_("scope_separator must be a space or a comma."))
    placement = metadata.get("access_token_placement")
    if placement is not None and access_token_placement(provider) is None:
        add(
            _(
                "access_token_placement must be {in: header|query, name: ..., prefix: ...} "
                "with a valid header or parameter name."
            )
        )
    if "client_id_param" in metadata and client_id_param(provider) != metadata["client_id_param"]:
        add(_("client_id_param must be a parameter name (letters, digits, _ . -)."))
    token_request = metadata.get("token_request")
    if token_request is not None and (
        not isinstance(token_request, dict)
        or set(token_request) - {"format"}
        or token_request.get("format", "form") not in TOKEN_REQUEST_FORMATS
    ):
        add(_("token_request must be {format: form|json}."))
    fields = metadata.get("credential_fields")
    if fields is not None and not isinstance(fields, dict):
        add(_("credential_fields must be an object of data key → settings."))
    for key, spec in credential_fields(provider).items():
        pattern = spec.get("pattern")
        if pattern is None:
            continue
        try:
            re.compile(pattern)
        except (re.error, TypeError):
            add(
                _("credential_fields: the pattern of %(key)s is not a regular expression.")
                % {"key": key}
            )
    return errors
