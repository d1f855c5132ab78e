"""The provider catalog: its data files load, validate and build Providers.

A staff user picks a preset and adds what the provider issued; so every entry
must load, pass the schema and the rules, and become a Provider that
``full_clean()`` accepts. A bad entry (in the shipped files or a project's own)
is reported naming the file, the entry and the field, by ``manage.py check``.
"""

import re
from collections import Counter

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import SystemCheckError

import integrations.providers as providers_module
from integrations.models import Provider
from integrations.providers import PRESETS, catalog_errors, create_provider_from_preset
from integrations.providers.catalog import CATALOG_DIR, load_catalog
from integrations.providers.catalog_page import render, revocation_text
from integrations.providers.schema import AUTH_TYPES, CATEGORIES

MINIMAL = """
[acme]
name = "Acme"
category = "crm"
auth_type = "oauth2"
description = "Acme accounts."
docs_url = "https://docs.acme.test/oauth"
icon = "acme"
authorize_url = "https://acme.test/oauth/authorize"
token_url = "https://acme.test/oauth/token"
refresh = { kind = "rotating" }
revocation = { method = "none", note = "Users remove the app in their Acme settings." }
"""


def write(tmp_path, text, name="mine.toml"):
    (tmp_path / name).write_text(text)
    return tmp_path


def errors_of(tmp_path, text):
    return [str(error) for error in load_catalog(write(tmp_path, text)).errors]


# -- the shipped catalog ----------------------------------------------------------


def test_the_shipped_catalog_has_no_errors():
    catalog = load_catalog()
    assert [str(e) for e in catalog.errors] == []
    assert catalog_errors() == []


def test_the_catalog_has_at_least_100_presets_and_5_in_every_category():
    entries = load_catalog().entries
    assert len(entries) >= 100, f"the catalog has {len(entries)} entries"
    counts = Counter(entry["category"] for entry in entries.values())
    thin = {c: counts[c] for c in CATEGORIES if c != "other" and counts[c] < 5}
    assert thin == {}


def test_presets_are_the_catalog():
    assert set(load_catalog().entries) <= set(PRESETS)


def test_the_schema_knows_the_models_choices():
    assert set(CATEGORIES) == set(Provider.Category.values)
    assert set(AUTH_TYPES) == set(Provider.AuthType.values)


def _build(slug, entry, suffix=""):
    needs_client = entry["auth_type"] in ("oauth2", "oauth1")
    overrides = {}
    for name in entry.get("required", ()):
        overrides[name] = f"https://{slug}.example.com/{name}"
    if "discovery_url" in entry.get("required", ()):
        overrides["discovery_url"] = "https://issuer.example.com/.well-known/openid-configuration"
    params = entry["metadata"].get("url_params") or {}
    values = {n: s["example"] for n, s in params.items() if s["level"] == "provider"}
    return create_provider_from_preset(
        slug,
        client_id="client-id" if needs_client else "",
        client_secret="client-secret" if needs_client else None,
        url_values=values,
        slug=f"{slug}{suffix}"[:64],
        **overrides,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("slug", sorted(load_catalog().entries))
def test_every_entry_builds_a_valid_provider(slug):
    entry = PRESETS[slug]
    provider = _build(slug, entry)
    provider.refresh_from_db()
    provider.full_clean(exclude=["client_secret"])
    assert provider.category == entry["category"]
    assert provider.auth_type == entry["auth_type"]
    assert provider.metadata["preset"] == slug
    assert provider.metadata["docs_url"].startswith("https://")
    assert provider.metadata["icon"]
    if entry["auth_type"] == "oauth2":
        assert provider.metadata["refresh"]["kind"] in ("none", "refresh_token", "rotating")
        assert provider.metadata["revocation"]["method"]


def test_an_oauth2_entry_says_how_it_refreshes_and_revokes(tmp_path):
    text = MINIMAL.replace('refresh = { kind = "rotating" }\n', "").replace(
        'revocation = { method = "none", note = "Users remove the app in their Acme settings." }\n',
        "",
    )
    assert errors_of(tmp_path, text) == [
        "mine.toml: acme.refresh: is required",
        "mine.toml: acme.revocation: is required",
    ]


# -- bad entries are named ---------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('category = "crm"', 'category = "crms"'), "acme.category: 'crms' is not one of"),
        (
            ('docs_url = "https://docs.acme.test/oauth"', 'docs_url = "http://docs.acme.test"'),
            "acme.docs_url: 'http://docs.acme.test' does not match",
        ),
        (('icon = "acme"\n', ""), "acme.icon: is required"),
        (
            ('refresh = { kind = "rotating" }', 'refresh = { kind = "sometimes" }'),
            "acme.refresh.kind: 'sometimes' is not one of",
        ),
        (
            (
                'method = "none", note = "Users remove the app in their Acme settings."',
                'method = "none"',
            ),
            "acme.revocation.note: is required",
        ),
        (
            (
                'method = "none", note = "Users remove the app in their Acme settings."',
                'method = "hook"',
            ),
            "acme.revocation.hook: is required",
        ),
        (('name = "Acme"', 'name = "Acme"\ncolour = "red"'), "Additional properties"),
        (
            (
                'token_url = "https://acme.test/oauth/token"',
                'token_url = "https://{tenant}.acme.test/oauth/token"',
            ),
            "acme.token_url: placeholder {tenant} is not declared in url_params",
        ),
        (
            (
                'auth_type = "oauth2"',
                'auth_type = "api_key"\nbase_url = "https://acme.test/"\n'
                'credential_fields = { api_key = { label = "Key" } }',
            ),
            "acme.authorize_url: means nothing for a api_key provider",
        ),
    ],
)
def test_a_bad_entry_is_reported_naming_the_entry_and_the_field(tmp_path, change, expected):
    old, new = change
    assert old in MINIMAL
    errors = errors_of(tmp_path, MINIMAL.replace(old, new))
    assert any(expected in error for error in errors), errors
    assert not load_catalog(tmp_path).entries  # left out, never half-loaded


OAUTH1 = """
[board]
name = "Board"
category = "other"
auth_type = "oauth1"
description = "Boards."
docs_url = "https://docs.board.test/oauth1"
icon = "board"
request_token_url = "https://board.test/1/OAuthGetRequestToken"
authorize_url = "https://board.test/1/OAuthAuthorizeToken"
token_url = "https://board.test/1/OAuthGetAccessToken"
authorize_params = { scope = "read", expiration = "never" }
revocation = { method = "none", note = "Users revoke the token in their Board settings." }
"""


def test_an_oauth1_authorize_page_may_take_a_scope_but_not_the_callback(tmp_path):
    # OAuth 1.0a has no scope parameter of its own: a provider's authorize
    # page may define one (Trello's scope=read); the flow sets oauth_token
    # and oauth_callback, OAuth 2's flow sets scope.
    catalog = load_catalog(write(tmp_path, OAUTH1))
    assert catalog.errors == []
    assert catalog.entries["board"]["metadata"]["authorize_params"]["scope"] == "read"
    bad = OAUTH1.replace('scope = "read"', 'oauth_callback = "https://evil.test/"')
    assert errors_of(tmp_path, bad) == [
        "mine.toml: board.authorize_params.oauth_callback: set by the flow itself"
    ]
    assert errors_of(tmp_path, MINIMAL + 'authorize_params = { scope = "all" }\n') == [
        "mine.toml: acme.authorize_params.scope: set by the flow itself"
    ]


def test_url_params_are_checked(tmp_path):
    text = MINIMAL.replace(
        'token_url = "https://acme.test/oauth/token"',
        'token_url = "https://{shop}.acme.test/oauth/token"\n'
        'url_params.shop = { label = "Shop", pattern = "[a-z]+", example = "evil.com/x",'
        ' level = "connection" }',
    )
    assert errors_of(tmp_path, text) == [
        "mine.toml: acme.url_params.shop.example: {shop} may only hold letters, digits, "
        "dots and hyphens"
    ]
    unused = (
        MINIMAL + 'url_params.x = { label = "X", pattern = "[a-z]+", example = "ab",'
        ' level = "provider" }\n'
    )
    assert "mine.toml: acme.url_params.x: declared but used by no URL" in errors_of(
        tmp_path, unused
    )


def test_a_duplicate_slug_and_an_unreadable_file_are_errors(tmp_path):
    write(tmp_path, MINIMAL, "a.toml")
    write(tmp_path, MINIMAL, "b.toml")
    write(tmp_path, "[broken\n", "c.toml")
    errors = [str(e) for e in load_catalog(tmp_path).errors]
    assert errors[0] == "b.toml: acme: defined twice (slugs are unique in the catalog)"
    assert errors[1].startswith("c.toml: : cannot be read")
    assert list(load_catalog(tmp_path).entries) == ["acme"]


def test_a_project_catalog_adds_entries_but_cannot_take_a_shipped_slug(tmp_path):
    write(tmp_path, MINIMAL + MINIMAL.replace("[acme]", "[google]"))
    catalog = load_catalog(CATALOG_DIR, tmp_path)
    assert "acme" in catalog.entries
    assert [str(e) for e in catalog.errors] == [
        "mine.toml: google: defined twice (slugs are unique in the catalog)"
    ]


def test_manage_py_check_reports_a_bad_entry(tmp_path, monkeypatch):
    bad = load_catalog(write(tmp_path, MINIMAL.replace('category = "crm"', 'category = "x"')))
    monkeypatch.setattr(providers_module, "_CATALOG", bad)
    with pytest.raises(SystemCheckError) as caught:
        call_command("check")
    message = str(caught.value)
    assert "integrations.E040" in message
    assert "mine.toml: acme.category: 'x' is not one of" in message


# -- creating providers from entries -------------------------------------------------


@pytest.mark.django_db
def test_provider_level_url_values_are_checked_and_stored(tmp_path, monkeypatch):
    text = MINIMAL.replace(
        'authorize_url = "https://acme.test/oauth/authorize"',
        'authorize_url = "https://{domain}/oauth/authorize"\n'
        'url_params.domain = { label = "Domain", pattern = "[a-z0-9-]+\\\\.acme\\\\.test",'
        ' example = "team.acme.test", level = "provider" }',
    )
    entries = load_catalog(write(tmp_path, text)).entries
    monkeypatch.setitem(providers_module.PRESETS, "acme", entries["acme"])
    for hostile in ("evil.test/x.acme.test", "a@team.acme.test", "team.acme.test:1", ""):
        with pytest.raises(ValidationError) as caught:
            create_provider_from_preset("acme", client_id="c", url_values={"domain": hostile})
        assert "domain" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        create_provider_from_preset(
            "acme", client_id="c", url_values={"domain": "t.acme.test", "shop": "x"}
        )
    assert set(caught.value.message_dict) == {"shop"}
    assert not Provider.objects.exists()


@pytest.mark.django_db
def test_an_api_key_provider_needs_no_client_id():
    slug = next(s for s, e in PRESETS.items() if e["auth_type"] == "api_key")
    provider = create_provider_from_preset(slug)
    assert provider.client_id == ""
    assert provider.metadata["credential_fields"]


# -- the docs page ------------------------------------------------------------------


def test_the_catalog_page_in_the_docs_is_current():
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "reference" / "provider-catalog.md"
    assert page.read_text() == render(load_catalog()), "run `make catalog-page`"


def test_the_catalog_page_escapes_table_breaking_text(tmp_path):
    text = MINIMAL.replace('description = "Acme accounts."', 'description = "A | B"').replace(
        "Users remove the app", "Users | remove\\nthe app"
    )
    page = render(load_catalog(write(tmp_path, text)))
    row = next(line for line in page.splitlines() if line.startswith("| Acme "))
    assert "Users \\| remove the app" in row
    assert re.fullmatch(r"\|( [^|]*(\\\|[^|]*)* \|){7}", row)


# -- request quirks (refresh_url, client_id_param, callback_params, token_request, signed) --


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            MINIMAL.replace(
                'method = "none", note = "Users remove the app in their Acme settings."',
                'method = "signed"',
            ),
            "acme.revocation.method: signed is OAuth 1.0a's",
        ),
        (
            OAUTH1.replace(
                'method = "none", note = "Users revoke the token in their Board settings."',
                'method = "rfc7009"',
            )
            + 'revocation_url = "https://board.test/1/revoke"\n',
            "board.revocation.method: an OAuth 1.0a provider revokes with signed or none",
        ),
        (
            OAUTH1.replace(
                'method = "none", note = "Users revoke the token in their Board settings."',
                'method = "bearer"',
            ),
            "board.revocation.method: an OAuth 1.0a provider revokes with signed or none",
        ),
        (
            OAUTH1.replace(
                'method = "none", note = "Users revoke the token in their Board settings."',
                'method = "signed"',
            ),
            "board.revocation_url: revocation method signed needs it",
        ),
        (
            MINIMAL + 'refresh_url = "https://{region}.acme.test/refresh"\n',
            "acme.refresh_url: placeholder {region} is not declared in url_params",
        ),
        (MINIMAL + 'refresh_url = "http://acme.test/refresh"\n', "acme.refresh_url:"),
        (OAUTH1 + 'client_id_param = "client_key"\n', "board.client_id_param: only for OAuth 2"),
        (MINIMAL + 'client_id_param = "client key"\n', "acme.client_id_param:"),
        (MINIMAL + 'token_request = { format = "xml" }\n', "acme.token_request.format:"),
        (
            MINIMAL + 'callback_params = { realmId = { pattern = "[0-9]+", as = "realm" } }\n',
            "acme.callback_params.realmId.as: must name a connection-level url_params entry",
        ),
        (
            MINIMAL + 'callback_params = { realmId = { pattern = "[0-9" , as = "realm" } }\n'
            'base_url = "https://acme.test/{realm}/"\n'
            'url_params.realm = { label = "R", pattern = "[0-9]+", example = "1",'
            ' level = "connection" }\n',
            "acme.callback_params.realmId.pattern: not a valid regular expression",
        ),
        (
            MINIMAL + 'callback_params = { realmId = { pattern = "[0-9]+" } }\n',
            "acme.callback_params.realmId.as: is required",
        ),
    ],
)
def test_request_quirks_are_checked(tmp_path, text, expected):
    errors = errors_of(tmp_path, text)
    assert any(expected in error for error in errors), errors
    assert not load_catalog(tmp_path).entries


def test_request_quirks_are_kept_in_the_metadata(tmp_path):
    text = (
        MINIMAL.replace(
            'token_url = "https://acme.test/oauth/token"',
            'token_url = "https://acme.test/oauth/token"\n'
            'refresh_url = "https://{region}.acme.test/refresh"\n'
            'base_url = "https://acme.test/{company}/"',
        )
        + 'client_id_param = "client_key"\n'
        + 'token_request = { format = "json" }\n'
        + 'callback_params = { companyId = { pattern = "[0-9]+", as = "company" } }\n'
        + 'url_params.region = { label = "Region", pattern = "[a-z]+", example = "eu",'
        ' level = "provider" }\n'
        + 'url_params.company = { label = "Company", pattern = "[0-9]+", example = "1",'
        ' level = "connection" }\n'
    )
    catalog = load_catalog(write(tmp_path, text))
    assert catalog.errors == []
    metadata = catalog.entries["acme"]["metadata"]
    assert metadata["refresh_url"] == "https://{region}.acme.test/refresh"
    assert metadata["client_id_param"] == "client_key"
    assert metadata["token_request"] == {"format": "json"}
    assert metadata["callback_params"] == {"companyId": {"pattern": "[0-9]+", "as": "company"}}
    row = next(line for line in render(catalog).splitlines() if line.startswith("| Acme "))
    assert "client id sent as `client_key`" in row and "JSON token requests" in row
    assert "refreshes at its own `refresh_url`" in row
    assert "`{company}` in URLs (from the redirect's `companyId`)" in row


def test_the_shipped_entries_use_the_request_quirks():
    entries = load_catalog().entries
    assert entries["x"]["metadata"]["revocation"]["method"] == "signed"
    assert revocation_text(entries["x"]) == "signed OAuth 1.0a POST"
    assert entries["ups"]["metadata"]["refresh_url"].endswith("/security/v1/oauth/refresh")
    assert entries["figma"]["metadata"]["refresh_url"] == "https://api.figma.com/v1/oauth/refresh"
    assert entries["tiktok"]["metadata"]["client_id_param"] == "client_key"
    assert entries["notion"]["metadata"]["token_request"] == {"format": "json"}
    assert entries["quickbooks"]["metadata"]["callback_params"]["realmId"]["as"] == "realm_id"
    assert entries["mailchimp"]["userinfo_url"] == "https://login.mailchimp.com/oauth2/metadata"
    assert entries["shopify"]["metadata"]["account"] == {"id": "shop.id", "label": ["shop.name"]}


@pytest.mark.django_db
def test_a_quickbooks_provider_asks_the_user_nothing(client, django_user_model):
    provider = create_provider_from_preset("quickbooks", client_id="id", client_secret="secret")
    provider.full_clean(exclude=["client_secret"])
    from integrations import provider_urls

    assert provider_urls.connection_params(provider) == {}
    assert provider_urls.callback_filled(provider) == {"realm_id"}
    user = django_user_model.objects.create_user("carol", password="pw-carol-123")
    client.force_login(user)
    response = client.get("/integrations/connect/quickbooks/")
    assert response.status_code == 302  # straight to Intuit, no form
    assert response["Location"].startswith("https://appcenter.intuit.com/connect/oauth2?")
