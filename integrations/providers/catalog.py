"""Loading the provider catalog: TOML files of entries, checked, normalized.

The catalog is data (``catalog/<category>.toml``, one table per provider, the
format in docs/reference/provider-catalog-format.md). Loading checks each entry
against the JSON Schema in :mod:`.schema` and then against the rules a schema
cannot express, and turns it into the *normalized* form: the non-secret
fields of a Provider plus the ``metadata`` its runtime reads (quirks included),
which is what ``PRESETS`` holds and ``create_provider_from_preset`` stores.

A bad entry is left out and reported as a :class:`CatalogError` naming the
file, the entry and the field (``manage.py check`` shows them as
``integrations.E040``), so one mistake in a project's own catalog file does not
stop the site, and is never silent.
"""

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from .schema import (
    CREDENTIAL_AUTH_TYPES,
    CREDENTIAL_DATA_KEYS,
    ENTRY_SCHEMA,
    METADATA_URL_FIELDS,
    OAUTH1_REVOCATION_METHODS,
    OAUTH2_ONLY_KEYS,
    OAUTH_ONLY_KEYS,
    URL_FIELDS,
)

CATALOG_DIR = Path(__file__).resolve().parent / "catalog"
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9\-]{0,63}$")
PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
# Characters a URL placeholder's value may never contain, whatever its pattern
# says: each could move the request to another host or path.
_UNSAFE_VALUE_CHARS = frozenset("/\\@?#:%&=;, \t\r\n")
# Keys of an entry that become Provider fields as they are (the rest are metadata).
_FIELD_KEYS = ("name", "category", "auth_type", "description", *URL_FIELDS, "pkce")
_METADATA_KEYS = (
    "docs_url",
    "icon",
    "token_endpoint_auth_method",
    "scope_separator",
    "refresh",
    "revocation",
    "account",
    "token_response",
    "url_params",
    "access_token_placement",
    "api_key",
    "credential_fields",
    *METADATA_URL_FIELDS,
    "client_id_param",
    "callback_params",
    "token_request",
)

_validator = Draft202012Validator(ENTRY_SCHEMA)


@dataclass(frozen=True)
class CatalogError:
    """One problem with one entry: where, which field, what is wrong."""

    source: str
    slug: str
    field: str
    message: str

    def __str__(self):
        where = f"{self.slug}.{self.field}" if self.field else self.slug
        return f"{self.source}: {where}: {self.message}"


@dataclass
class Catalog:
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[CatalogError] = field(default_factory=list)


def _schema_errors(source, slug, raw):
    for error in sorted(_validator.iter_errors(raw), key=lambda e: list(map(str, e.path))):
        parts = [str(part) for part in error.absolute_path]
        if error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:  # one error per missing field
                if name not in error.instance:
                    yield CatalogError(source, slug, ".".join([*parts, name]), "is required")
            continue
        yield CatalogError(source, slug, ".".join(parts), _short(error))


def _short(error):
    """jsonschema's message without the offending value when it is long (a
    description, a URL): the field name and the rule are what help."""
    if error.validator in ("pattern", "maxLength", "minLength", "enum", "const", "type"):
        value = error.instance
        if isinstance(value, str) and len(value) > 60:
            return f"does not match the rule {error.validator!s} ({error.validator_value!r})"
    return error.message


def placeholders(value):
    """The ``{name}`` placeholders of a URL, in order."""
    return PLACEHOLDER_RE.findall(value) if isinstance(value, str) else []


def check_url_value(name, value, spec):
    """Why ``value`` cannot fill the placeholder ``name`` (``spec`` its
    url_params entry), or ``""`` when it can."""
    if not isinstance(value, str) or not value:
        return f"a value for {{{name}}} is required"
    if any(char in _UNSAFE_VALUE_CHARS for char in value) or not value.isascii():
        return f"{{{name}}} may only hold letters, digits, dots and hyphens"
    if ".." in value or value.startswith(".") or value.endswith("."):
        return f"{{{name}}} is not a host name or label"
    if not re.fullmatch(spec["pattern"], value):
        return f"{{{name}}} does not have the expected form (e.g. {spec['example']})"
    return ""


def _rule_errors(source, slug, raw):
    """The rules a JSON Schema cannot state."""
    errors = []

    def bad(field_name, message):
        errors.append(CatalogError(source, slug, field_name, message))

    if not SLUG_RE.fullmatch(slug):
        bad("", "a slug is lowercase letters, digits and hyphens")
    params = raw.get("url_params") or {}
    for name, spec in params.items():
        try:
            re.compile(spec["pattern"])
        except re.error:
            bad(f"url_params.{name}.pattern", "not a valid regular expression")
            continue
        for key in ("example", "default"):
            if key in spec and (problem := check_url_value(name, spec[key], spec)):
                bad(f"url_params.{name}.{key}", problem)
    used = set()
    for name in (*URL_FIELDS, *METADATA_URL_FIELDS):
        for placeholder in placeholders(raw.get(name)):
            used.add(placeholder)
            if placeholder not in params:
                bad(name, f"placeholder {{{placeholder}}} is not declared in url_params")
        if name in raw and not placeholders(raw[name]) and "{" in raw[name]:
            bad(name, "unbalanced braces")
    for name in sorted(set(params) - used):
        bad(f"url_params.{name}", "declared but used by no URL")

    auth_type = raw.get("auth_type")
    if auth_type in CREDENTIAL_AUTH_TYPES:
        for name in OAUTH_ONLY_KEYS:
            if name in raw:
                bad(name, f"means nothing for a {auth_type} provider (its users enter the secret)")
    elif "credential_fields" in raw or "api_key" in raw:
        for name in ("credential_fields", "api_key"):
            if name in raw:
                bad(name, f"only for api_key, basic and bearer providers, not {auth_type}")
    required = set(raw.get("required") or ())
    if auth_type == "oauth2" and not raw.get("discovery_url") and "discovery_url" not in required:
        for name in ("authorize_url", "token_url"):
            if not raw.get(name) and name not in required:
                bad(name, "an OAuth 2 entry needs it, a discovery_url, or to list it in required")
    if auth_type == "oauth1":
        for name in ("request_token_url", "authorize_url", "token_url"):
            if not raw.get(name) and name not in required:
                bad(name, "an OAuth 1.0a entry needs it, or to list it in required")
    for name, spec in (raw.get("callback_params") or {}).items():
        try:
            re.compile(spec["pattern"])
        except re.error:
            bad(f"callback_params.{name}.pattern", "not a valid regular expression")
        target = params.get(spec["as"])
        if target is None or target.get("level") != "connection":
            bad(f"callback_params.{name}.as", "must name a connection-level url_params entry")
    if auth_type == "oauth1":
        for name in OAUTH2_ONLY_KEYS:
            if name in raw:
                bad(name, "only for OAuth 2 providers")
    revocation = raw.get("revocation") or {}
    method = revocation.get("method")
    if auth_type == "oauth1" and method and method not in OAUTH1_REVOCATION_METHODS:
        bad(
            "revocation.method", f"an OAuth 1.0a provider revokes with signed or none, not {method}"
        )
    if auth_type == "oauth2" and method == "signed":
        bad("revocation.method", "signed is OAuth 1.0a's; an OAuth 2 provider cannot use it")
    if method == "signed" and not raw.get("revocation_url") and "revocation_url" not in required:
        bad("revocation_url", "revocation method signed needs it")
    if revocation.get("method") in ("rfc7009", "bearer"):
        if not raw.get("revocation_url") and not (
            revocation["method"] == "rfc7009"
            and (raw.get("discovery_url") or "discovery_url" in required)
        ):
            bad("revocation_url", f"revocation method {revocation['method']} needs it")
    refresh_scopes = (raw.get("refresh") or {}).get("scopes") or []
    for scope in refresh_scopes:
        if scope not in (raw.get("scopes") or []):
            bad("refresh.scopes", f"{scope!r} must also be in scopes")
    fields = raw.get("credential_fields") or {}
    allowed = CREDENTIAL_DATA_KEYS.get(auth_type, ())
    for key, spec in fields.items():
        if key not in allowed:
            bad(f"credential_fields.{key}", f"a {auth_type} credential has no {key!r}")
        elif "pattern" in spec:
            try:
                re.compile(spec["pattern"])
            except re.error:
                bad(f"credential_fields.{key}.pattern", "not a valid regular expression")
    for name in sorted(set(raw.get("authorize_params") or ()) & _reserved_params(auth_type)):
        bad(f"authorize_params.{name}", "set by the flow itself")
    return errors


def _reserved_params(auth_type):
    # The OAuth clients' lists, without importing them (they need Authlib and the
    # models). OAuth 1.0a reserves only its own two (integrations.oauth1): a
    # provider's authorize page may take a ``scope`` of its own (Trello).
    if auth_type == "oauth1":
        return {"oauth_token", "oauth_callback"}
    return {
        "client_id",
        "response_type",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    }


def normalize(slug, raw):
    """The entry in the Provider's shape: fields, ``default_scopes``, ``metadata``."""
    entry: dict[str, Any] = {"slug": slug}
    for key in _FIELD_KEYS:
        if key in raw:
            entry[key] = raw[key]
    if raw["auth_type"] in ("oauth2", "oauth1"):
        entry["default_scopes"] = list(raw.get("scopes") or [])
    if raw["auth_type"] == "oauth1":
        entry["signature_method"] = raw.get("signature_method", "HMAC-SHA1")
    if raw.get("required"):
        entry["required"] = list(raw["required"])
    metadata = {key: raw[key] for key in _METADATA_KEYS if key in raw}
    authorize_params = {
        **(raw.get("authorize_params") or {}),
        **((raw.get("refresh") or {}).get("authorize_params") or {}),
    }
    if authorize_params:
        metadata["authorize_params"] = authorize_params
    # The older keys the OAuth client has always read (providers stored before
    # the catalog keep working): a plain field name maps onto them.
    account = raw.get("account") or {}
    if account.get("id"):
        metadata["account_id_field"] = account["id"]
    if account.get("label"):
        metadata["account_label_fields"] = list(account["label"])
    entry["metadata"] = metadata
    return entry


def load_file(path, catalog, *, source=None):
    """Add the entries of one TOML file to ``catalog``."""
    source = source or path.name
    try:
        with open(path, "rb") as handle:
            tables = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        catalog.errors.append(CatalogError(source, "", "", f"cannot be read: {exc}"))
        return
    for slug, raw in tables.items():
        if not isinstance(raw, dict):
            catalog.errors.append(CatalogError(source, slug, "", "an entry is a table"))
            continue
        if slug in catalog.entries:
            catalog.errors.append(
                CatalogError(source, slug, "", "defined twice (slugs are unique in the catalog)")
            )
            continue
        # (jsonschema may report one rule twice, through allOf and if/then)
        problems = list(dict.fromkeys(_schema_errors(source, slug, raw)))
        if not problems:
            problems = _rule_errors(source, slug, raw)
        if problems:
            catalog.errors.extend(problems)
            continue
        catalog.entries[slug] = normalize(slug, raw)


def load_catalog(*directories):
    """The catalog of the TOML files in ``directories`` (default: the shipped
    one), in file then entry order; later directories add entries, and an entry
    whose slug is taken is an error."""
    catalog = Catalog()
    for directory in directories or (CATALOG_DIR,):
        directory = Path(directory)
        if not directory.is_dir():
            catalog.errors.append(CatalogError(str(directory), "", "", "not a directory"))
            continue
        for path in sorted(directory.glob("*.toml")):
            load_file(path, catalog, source=str(path.name))
    return catalog
