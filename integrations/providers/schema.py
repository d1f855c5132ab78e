"""The JSON Schema of a provider catalog entry (docs/reference/provider-catalog-format.md).

An entry is what a catalog file (``catalog/<category>.toml``) says of one
provider; :mod:`.catalog` checks every entry against :data:`ENTRY_SCHEMA`
(jsonschema, Draft 2020-12) and then the rules a schema cannot say (a URL
placeholder must be declared, a refresh scope must be asked for…), so a bad
entry is reported naming its slug and the field, and never reaches a Provider.
"""

# Kept in step with the Provider model's choices (a test compares them).
CATEGORIES = (
    "social",
    "payment",
    "shipping",
    "email",
    "sms",
    "analytics",
    "crm",
    "storage",
    "communication",
    "authentication",
    "other",
)
AUTH_TYPES = ("oauth2", "oauth1", "api_key", "basic", "bearer")
CREDENTIAL_AUTH_TYPES = ("api_key", "basic", "bearer")
# The Credential data keys a user enters, by credential type.
CREDENTIAL_DATA_KEYS = {
    "api_key": ("api_key",),
    "basic": ("username", "password"),
    "bearer": ("token",),
}
# Keys that only mean something for a provider the app talks OAuth to.
OAUTH_ONLY_KEYS = (
    "authorize_url",
    "token_url",
    "revocation_url",
    "userinfo_url",
    "discovery_url",
    "request_token_url",
    "scopes",
    "scope_separator",
    "pkce",
    "token_endpoint_auth_method",
    "authorize_params",
    "refresh",
    "revocation",
    "account",
    "token_response",
    "access_token_placement",
    "refresh_url",
    "client_id_param",
    "callback_params",
    "token_request",
)
# Keys only an OAuth 2 entry may have (the OAuth 1.0a client has no use for them).
OAUTH2_ONLY_KEYS = ("refresh_url", "client_id_param", "callback_params", "token_request")
REFRESH_KINDS = ("none", "refresh_token", "rotating")
REVOCATION_METHODS = ("rfc7009", "bearer", "hook", "signed", "none")
# ``signed`` is OAuth 1.0a's (a signed POST); the others but ``none`` OAuth 2's.
OAUTH1_REVOCATION_METHODS = ("signed", "none")
URL_FIELDS = (
    "base_url",
    "authorize_url",
    "token_url",
    "revocation_url",
    "userinfo_url",
    "discovery_url",
    "request_token_url",
)
# URL keys kept in the Provider's metadata rather than in a field of their own.
METADATA_URL_FIELDS = ("refresh_url",)
# A URL, possibly with ``{name}`` placeholders; HTTPS only (a catalog never
# names a plain-HTTP endpoint; loopback ones are for tests and set by hand).
_URL = {"type": "string", "pattern": r"^https://[^\s]+$", "maxLength": 200}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 500}
_NAME = {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$"}
_STRING_MAP = {
    "type": "object",
    "propertyNames": _NAME,
    "additionalProperties": {"type": "string", "maxLength": 200},
}
# A field name or a dotted JSON path (``team.id``, ``data.0.login``).
_PATH = {"type": "string", "pattern": r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$", "maxLength": 100}
_PLACEMENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["in", "name"],
    "properties": {
        "in": {"enum": ["header", "query"]},
        "name": {"type": "string", "pattern": r"^[A-Za-z0-9_\-]{1,64}$"},
        "prefix": {"type": "string", "maxLength": 40},
    },
}

ENTRY_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Provider catalog entry",
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "category", "auth_type", "description", "docs_url", "icon"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "category": {"enum": list(CATEGORIES)},
        "auth_type": {"enum": list(AUTH_TYPES)},
        "description": _TEXT,
        "docs_url": _URL,
        "icon": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9\-]{0,63}$"},
        **{name: _URL for name in (*URL_FIELDS, *METADATA_URL_FIELDS)},
        "client_id_param": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$"},
        "callback_params": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$"},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["pattern", "as"],
                "properties": {
                    "pattern": {"type": "string", "minLength": 1, "maxLength": 200},
                    "as": {"type": "string", "pattern": r"^[a-z][a-z_]{0,31}$"},
                },
            },
        },
        "token_request": {
            "type": "object",
            "additionalProperties": False,
            "required": ["format"],
            "properties": {"format": {"enum": ["form", "json"]}},
        },
        "scopes": {
            "type": "array",
            "items": {"type": "string", "pattern": r"^[\x21\x23-\x5b\x5d-\x7e]{1,200}$"},
            "uniqueItems": True,
        },
        "scope_separator": {"enum": [" ", ",", "+"]},
        "pkce": {"enum": ["required", "supported", "unsupported"]},
        "token_endpoint_auth_method": {
            "enum": ["client_secret_basic", "client_secret_post", "none"]
        },
        "signature_method": {"enum": ["HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1", "PLAINTEXT"]},
        "authorize_params": _STRING_MAP,
        "refresh": {
            "type": "object",
            "additionalProperties": False,
            "required": ["kind"],
            "properties": {
                "kind": {"enum": list(REFRESH_KINDS)},
                "authorize_params": _STRING_MAP,
                "scopes": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                "note": _TEXT,
            },
        },
        "revocation": {
            "type": "object",
            "additionalProperties": False,
            "required": ["method"],
            "properties": {
                "method": {"enum": list(REVOCATION_METHODS)},
                "http_method": {"enum": ["POST", "DELETE", "GET"]},
                "hook": {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,63}$"},
                "note": _TEXT,
            },
            "allOf": [
                {
                    "if": {"properties": {"method": {"const": "none"}}},
                    "then": {"required": ["note"]},
                },
                {
                    "if": {"properties": {"method": {"const": "hook"}}},
                    "then": {"required": ["hook"]},
                    "else": {"not": {"required": ["hook"]}},
                },
            ],
        },
        "account": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "source": {"enum": ["userinfo", "token_response"]},
                "id": _PATH,
                "label": {"type": "array", "items": _PATH, "minItems": 1},
            },
        },
        "token_response": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "format": {"enum": ["json", "form"]},
                "path": _PATH,
                "expires_field": _PATH,
                "ok_field": _PATH,
                "error_field": _PATH,
                "keep": {
                    "type": "object",
                    "propertyNames": _PATH,
                    "additionalProperties": _NAME,
                },
            },
        },
        "url_params": {
            "type": "object",
            "propertyNames": {"pattern": r"^[a-z][a-z_]{0,31}$"},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["label", "pattern", "level", "example"],
                "properties": {
                    "label": {"type": "string", "minLength": 1, "maxLength": 100},
                    "pattern": {"type": "string", "minLength": 1, "maxLength": 200},
                    "level": {"enum": ["provider", "connection"]},
                    "example": {"type": "string", "minLength": 1, "maxLength": 100},
                    "default": {"type": "string", "minLength": 1, "maxLength": 100},
                    "help": _TEXT,
                },
            },
        },
        "access_token_placement": _PLACEMENT,
        "api_key": _PLACEMENT,
        "credential_fields": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"enum": ["api_key", "username", "password", "token"]},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["label"],
                "properties": {
                    "label": {"type": "string", "minLength": 1, "maxLength": 100},
                    "pattern": {"type": "string", "minLength": 1, "maxLength": 200},
                    "help": _TEXT,
                },
            },
        },
        "required": {
            "type": "array",
            "items": {"enum": [*URL_FIELDS, "default_scopes"]},
            "uniqueItems": True,
        },
    },
    "allOf": [
        {
            "if": {"properties": {"auth_type": {"const": "oauth2"}}},
            "then": {"required": ["refresh", "revocation"]},
        },
        {
            "if": {"properties": {"auth_type": {"const": "oauth1"}}},
            "then": {"required": ["revocation"]},
        },
        {
            "if": {"properties": {"auth_type": {"enum": list(CREDENTIAL_AUTH_TYPES)}}},
            "then": {"required": ["base_url", "credential_fields"]},
        },
    ],
}
