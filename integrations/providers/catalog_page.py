"""The provider catalog as a Markdown page, generated from its data.

``make catalog-page`` writes the documentation's catalog page
(docs/reference/provider-catalog.md) with :func:`main`; the docs test fails when
the committed page and the data disagree. A project with its own catalog files
can render them the same way: ``main(["path/to/dir", ...])`` prints their page.
"""

import sys
from collections import Counter

from .catalog import CATALOG_DIR, load_catalog
from .schema import CATEGORIES

_CATEGORY_TITLES = {
    "social": "Social",
    "payment": "Payment",
    "shipping": "Shipping",
    "email": "Email",
    "sms": "SMS",
    "analytics": "Analytics",
    "crm": "CRM",
    "storage": "Storage",
    "communication": "Communication",
    "authentication": "Authentication",
    "other": "Other",
}
_AUTH_TYPES = {
    "oauth2": "OAuth 2",
    "oauth1": "OAuth 1.0a",
    "api_key": "API key",
    "basic": "Basic auth",
    "bearer": "Bearer token",
}
_REFRESH = {
    "none": "no refresh token",
    "refresh_token": "refresh token",
    "rotating": "rotating refresh token",
}


def _cell(text):
    """Table-safe text: a ``|`` or a line break would end the cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def refresh_text(entry):
    if entry["auth_type"] == "oauth1":
        return "tokens do not expire"
    refresh = entry["metadata"].get("refresh")
    if not refresh:
        return "—"
    text = _REFRESH[refresh["kind"]]
    params = refresh.get("authorize_params") or {}
    needs = [f"`{k}={v}`" for k, v in params.items()]
    needs += [f"`{scope}` scope" for scope in refresh.get("scopes") or ()]
    if needs:
        text += " (needs " + ", ".join(needs) + ")"
    return text


def revocation_text(entry):
    revocation = entry["metadata"].get("revocation")
    if not revocation:
        return "—"
    method = revocation["method"]
    if method == "rfc7009":
        return "RFC 7009"
    if method == "bearer":
        return f"{revocation.get('http_method', 'POST')} with the access token"
    if method == "hook":
        return f"provider call (`{revocation['hook']}`)"
    if method == "signed":
        return "signed OAuth 1.0a POST"
    return "none: " + revocation["note"]


def quirks(entry):
    """The entry's departures from plain OAuth 2 / OpenID Connect, in words."""
    meta = entry["metadata"]
    found = []
    if entry.get("pkce") == "required":
        found.append("PKCE required")
    elif entry.get("pkce") == "unsupported":
        found.append("no PKCE")
    if meta.get("token_endpoint_auth_method") == "client_secret_basic":
        found.append("Basic auth at the token endpoint")
    elif meta.get("token_endpoint_auth_method") == "client_secret_post":
        found.append("client secret in the token request body")
    if meta.get("client_id_param"):
        found.append(f"client id sent as `{meta['client_id_param']}`")
    if (meta.get("token_request") or {}).get("format") == "json":
        found.append("JSON token requests")
    if meta.get("refresh_url"):
        found.append("refreshes at its own `refresh_url`")
    if meta.get("scope_separator", " ") != " ":
        found.append(f"scopes separated by `{meta['scope_separator']}`")
    answer = meta.get("token_response") or {}
    if answer.get("format") == "form":
        found.append("form-encoded token answer")
    if answer.get("path"):
        found.append(f"token nested in `{answer['path']}`")
    if answer.get("expires_field"):
        found.append(f"lifetime in `{answer['expires_field']}`")
    if answer.get("ok_field") or answer.get("error_field"):
        found.append("errors inside a 200 answer")
    for field_name, name in (answer.get("keep") or {}).items():
        if name == "api_base_url":
            found.append(f"API base from `{field_name}`")
    from_redirect = {
        spec["as"]: param for param, spec in (meta.get("callback_params") or {}).items()
    }
    for name, spec in (meta.get("url_params") or {}).items():
        if name in from_redirect:
            who = f"from the redirect's `{from_redirect[name]}`"
        else:
            who = "each connection's" if spec["level"] == "connection" else "the provider's"
        found.append(f"`{{{name}}}` in URLs ({who})")
    account = meta.get("account") or {}
    if account.get("source") == "token_response":
        found.append("account from the token answer")
    placement = meta.get("access_token_placement") or meta.get("api_key")
    if placement:
        where = "header" if placement["in"] == "header" else "query parameter"
        prefix = (placement.get("prefix") or "").strip()
        name = f"{placement['name']}: {prefix}" if prefix else placement["name"]
        found.append(f"{where} `{name}`")
    if entry.get("required"):
        found.append("staff set " + ", ".join(f"`{name}`" for name in entry["required"]))
    return "; ".join(found) or "—"


def render(catalog):
    entries = sorted(catalog.entries.values(), key=lambda e: e["name"].lower())
    counts = Counter(entry["category"] for entry in entries)
    lines = [
        "# Provider catalog",
        "",
        "<!-- Generated by `make catalog-page` from integrations/providers/catalog/*.toml:",
        "     edit the data, not this page. -->",
        "",
        f"{len(entries)} presets. In the admin, **Providers → Add from preset** creates a",
        "provider from one of them; staff add only what the provider issued them (a client id",
        "and secret for OAuth; nothing for API-key providers, whose users enter their own keys).",
        "What each column means, and how to add your own entries, is in",
        "[the catalog format](provider-catalog-format.md).",
        "",
        "| Category | Presets |",
        "|---|---|",
    ]
    for category in CATEGORIES:
        if counts[category]:
            title = _CATEGORY_TITLES[category]
            lines.append(f"| [{title}](#{category}) | {counts[category]} |")
    for category in CATEGORIES:
        chosen = [entry for entry in entries if entry["category"] == category]
        if not chosen:
            continue
        lines += [
            "",
            f"## {_CATEGORY_TITLES[category]} {{#{category}}}",
            "",
            "| Provider | Preset | Auth | Refresh | Revocation | Quirks | Setup |",
            "|---|---|---|---|---|---|---|",
        ]
        for entry in chosen:
            cells = (
                entry["name"],
                f"`{entry['slug']}`",
                _AUTH_TYPES[entry["auth_type"]],
                refresh_text(entry),
                revocation_text(entry),
                quirks(entry),
                f"[docs]({entry['metadata']['docs_url']})",
            )
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    catalog = load_catalog(*(argv or [CATALOG_DIR]))
    if catalog.errors:
        for error in catalog.errors:
            print(f"error: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(render(catalog))
    return 0
