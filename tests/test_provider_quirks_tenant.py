"""Provider quirks as data (issue 26): URL templates with provider- and
connection-level values, account paths, the scope separator, the revocation
families, access-token placement and credential formats.

Each family is driven end to end against the loopback fake provider: connect
in the browser (Django's test client), a call through ``tokens.session``, a
refresh, and a disconnect; then the hostile inputs.
"""

import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.test import Client

from integrations import (
    credentials,
    oauth,
    oauth_flow,
    provider_hooks,
    provider_quirks,
    provider_urls,
    tokens,
)
from integrations.models import AuditEvent, Credential, Integration, Provider
from integrations.provider_calls import HostNotAllowed
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    CLIENT_SECRET,
    alice,
    bob,
    browser,
    callback,
    consent,
    fake,
    make_provider,
    pending,
)

pytestmark = pytest.mark.django_db

SHOP = {
    "label": "Your shop",
    "pattern": r"[a-z][a-z0-9-]{1,30}",
    "example": "acme",
    "level": "connection",
}


def tenant_provider(fake, *, slug="fake", params=None, values=None, **fields):
    """A provider whose every endpoint lives under ``/t/{tenant}/`` at the fake."""
    base = f"{fake.url}/t/{{tenant}}"
    metadata = {"url_params": {"tenant": params or SHOP}}
    if values is not None:
        metadata["url_values"] = values
    metadata.update(fields.pop("metadata", {}))
    return make_provider(
        fake,
        slug=slug,
        base_url=f"{base}/",
        authorize_url=f"{base}/authorize",
        token_url=f"{base}/token",
        revocation_url=f"{base}/revoke",
        userinfo_url=f"{base}/userinfo",
        metadata=metadata,
        **fields,
    )


def connect_through(browser, slug="fake", **params):
    """Start connecting (with ``params`` for the form), consent at the fake and
    come back: the callback's response."""
    response = browser.get(f"/integrations/connect/{slug}/", params)
    assert response.status_code == 302, response.content
    return callback(browser, slug, **consent(response["Location"]))


def call_api(integration, url, **kwargs):
    with tokens.session(
        integration, purpose="test a call", allowed_hosts="provider", **kwargs
    ) as session:
        return session.get(url, timeout=10)


def paths(fake):
    return [r["path"] for r in fake.requests]


# -- URL templates: the validator and Provider.clean -----------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://{shop}.myshopify.com/admin/oauth/access_token",
        "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        "https://{subdomain}.zendesk.com/oauth/tokens",
        "https://{host}/api/",
        "https://{region}-api.example.com/v1/",
        "https://api.example.com/",
    ],
)
def test_a_templated_url_is_a_valid_url_field(url):
    provider_urls.TemplatedURLValidator()(url)
    Provider._meta.get_field("token_url").run_validators(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://{Shop}.myshopify.com/",  # not lowercase
        "https://{}.example.com/",
        "https://{shop.example.com/",
        "https://{a{b}}.example.com/",
        "not a url {shop}",
    ],
)
def test_a_malformed_template_is_refused(url):
    with pytest.raises(ValidationError):
        Provider._meta.get_field("token_url").run_validators(url)


def test_the_admin_form_field_accepts_a_placeholder():
    field = Provider._meta.get_field("authorize_url").formfield()
    assert field.clean("https://{shop}.myshopify.com/admin/oauth/authorize") == (
        "https://{shop}.myshopify.com/admin/oauth/authorize"
    )
    with pytest.raises(ValidationError):
        field.clean("https://{Shop}.myshopify.com/")


def test_a_placeholder_that_is_not_declared_is_a_validation_error():
    provider = Provider(
        slug="shopify",
        name="Shopify",
        token_url="https://{shop}.myshopify.com/admin/oauth/access_token",
        authorize_url="https://{shop}.myshopify.com/admin/oauth/authorize",
    )
    with pytest.raises(ValidationError) as raised:
        provider.full_clean()
    assert "{shop}" in str(raised.value.message_dict["token_url"])
    provider.metadata = {"url_params": {"shop": SHOP}}
    provider.full_clean()


@pytest.mark.parametrize(
    ("metadata", "complaint"),
    [
        (
            {
                "url_params": {"region": {"pattern": "eu|us", "level": "provider"}},
                "url_values": {"region": "xx"},
            },
            "does not match its pattern",
        ),
        (
            {"url_params": {"region": {"pattern": "eu|us"}}, "url_values": {"zone": "eu"}},
            "not declared",
        ),
        ({"url_params": {"shop": SHOP}, "url_values": {"shop": "acme"}}, "entered by each user"),
        (
            {"url_params": {"region": {"pattern": "(", "level": "provider"}}},
            "valid regular expression",
        ),
        ({"url_params": {"region": {"pattern": ".+", "level": "tenant"}}}, "level"),
        (
            {
                "url_params": {"region": {"pattern": ".+", "level": "provider"}},
                "url_values": {"region": "evil.com/x"},
            },
            "does not match its pattern",
        ),
    ],
)
def test_url_params_and_values_are_checked_by_clean(metadata, complaint):
    provider = Provider(slug="p", name="P", metadata=metadata)
    with pytest.raises(ValidationError) as raised:
        provider.full_clean()
    assert complaint in " ".join(raised.value.message_dict["metadata"])


@pytest.mark.django_db(transaction=True)
def test_the_migration_changes_no_sql():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("sqlmigrate", "integrations", "0011", stdout=out)
    sql = [
        line for line in out.getvalue().splitlines() if line.strip() and not line.startswith("--")
    ]
    assert sql in ([], ["BEGIN;", "COMMIT;"]), sql


# -- URL templates: resolving ----------------------------------------------------------


def _host_template_provider(pattern=".+"):
    # A permissive pattern (a staff mistake): the safety rules still hold.
    return Provider(
        slug="x",
        name="X",
        token_url="https://{domain}/oauth/token",
        authorize_url="https://{shop}.myshopify.com/admin/oauth/authorize",
        metadata={
            "url_params": {
                "domain": {"pattern": pattern, "level": "connection"},
                "shop": {"pattern": pattern, "level": "connection"},
            }
        },
    )


@pytest.mark.parametrize(
    "value",
    [
        "evil.com/",
        "evil.com/x",
        "acme@evil.com",
        "..",
        "a..b",
        ".evil.com",
        "%2f",
        "acme%2fevil",
        "acmé",
        "аcme",  # a Cyrillic а
        "acme evil",
        "acme\tx",
        "acme:8080",
        "acme?x=1",
        "acme#x",
        "acme\\evil",
        "",
        "x" * 300,
    ],
)
def test_hostile_values_never_reach_a_url(value):
    provider = _host_template_provider()
    for name in ("token_url", "authorize_url"):
        with pytest.raises(provider_urls.URLTemplateError) as raised:
            provider_urls.resolve(
                getattr(provider, name), provider, {"domain": value, "shop": value}
            )
        assert value not in raised.value.code or value == ""
    with pytest.raises(oauth.ProviderMisconfigured):
        oauth.endpoints(provider, {"domain": value, "shop": value})


@pytest.mark.parametrize(
    "value", ["127.0.0.1", "169.254.169.254", "10.0.0.1", "localhost", "metadata", "0"]
)
def test_a_value_cannot_make_the_host_internal(value):
    """SSRF: a user-entered value that is the whole host may not name an IP
    address, localhost or a single-label (internal) name."""
    provider = _host_template_provider()
    with pytest.raises(provider_urls.URLTemplateError) as raised:
        provider_urls.resolve(provider.token_url, provider, {"domain": value})
    assert raised.value.code == "url_host_unsafe"


def test_a_sound_value_resolves():
    provider = _host_template_provider()
    assert (
        provider_urls.resolve(provider.token_url, provider, {"domain": "acme.example.com"})
        == "https://acme.example.com/oauth/token"
    )
    assert (
        provider_urls.resolve(provider.authorize_url, provider, {"shop": "acme"})
        == "https://acme.myshopify.com/admin/oauth/authorize"
    )


def test_an_undeclared_placeholder_is_refused_at_use():
    provider = Provider(slug="x", name="X", token_url="https://{shop}.example.com/t")
    with pytest.raises(oauth.ProviderMisconfigured) as raised:
        oauth.endpoints(provider)
    assert raised.value.code == "url_placeholder_undeclared_shop"


def test_a_value_failing_its_pattern_is_refused_at_use():
    provider = _host_template_provider(pattern=r"[a-z]{3,10}")
    with pytest.raises(provider_urls.URLTemplateError) as raised:
        provider_urls.resolve(provider.authorize_url, provider, {"shop": "acme-1"})
    assert raised.value.code == "url_value_shop_pattern"


def test_provider_level_values_and_defaults():
    provider = Provider(
        slug="x",
        name="X",
        token_url="https://{region}.api.example.com/{tenant}/token",
        metadata={
            "url_params": {
                "region": {"pattern": "eu|us", "level": "provider", "default": "us"},
                "tenant": {"pattern": "[a-z]+", "level": "provider"},
            },
            "url_values": {"tenant": "contoso"},
        },
    )
    assert oauth.endpoints(provider).token_url == "https://us.api.example.com/contoso/token"
    provider.metadata["url_values"]["region"] = "eu"
    assert oauth.endpoints(provider).token_url == "https://eu.api.example.com/contoso/token"
    # A connection cannot override a provider-level value.
    assert (
        oauth.endpoints(provider, {"region": "us", "tenant": "evil"}).token_url
        == "https://eu.api.example.com/contoso/token"
    )
    del provider.metadata["url_values"]
    with pytest.raises(oauth.ProviderMisconfigured) as raised:
        oauth.endpoints(provider)
    assert raised.value.code == "url_value_tenant_missing"


# -- URL templates end to end: a connection-level tenant ---------------------------------


def test_connect_asks_for_the_shop_first(browser, fake):
    tenant_provider(fake)
    response = browser.get("/integrations/connect/fake/", {"next": "/somewhere/"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Your shop" in page and "acme" in page  # the label and the example
    assert 'name="url-tenant"' in page and 'value="/somewhere/"' in page
    assert oauth_flow.SESSION_KEY not in browser.session
    assert fake.requests == []


def test_a_tenant_connection_end_to_end(browser, alice, fake):
    """Connect (form, authorize, token), call, refresh and disconnect: every
    request goes to the connection's own tenant."""
    fake.tenants = {"acme", "globex"}
    tenant_provider(fake)
    response = browser.get("/integrations/connect/fake/", {"url-tenant": "acme"})
    assert response.status_code == 302
    assert response["Location"].startswith(f"{fake.url}/t/acme/authorize?")
    [entry] = pending(browser).values()
    assert entry["uv"] == {"tenant": "acme"}
    done = callback(browser, **consent(response["Location"]))
    assert done.status_code == 302, done.content

    integration = Integration.objects.get()
    assert integration.metadata["url_values"] == {"tenant": "acme"}
    assert integration.external_account_id == "fake-user-1"
    assert "/t/acme/token" in paths(fake) and "/t/acme/userinfo" in paths(fake)

    answer = call_api(integration, f"{fake.url}/t/acme/api")
    assert answer.status_code == 200 and answer.json()["tenant"] == "acme"

    tokens.refresh_integration(integration, force=True)
    refreshes = [r for r in fake.requests if r["form"].get("grant_type") == "refresh_token"]
    assert [r["path"] for r in refreshes] == ["/t/acme/token"]

    result = tokens.disconnect(alice, integration)
    assert result.fully_revoked
    assert [r["path"] for r in fake.requests if r["path"].endswith("/revoke")] == [
        "/t/acme/revoke",
        "/t/acme/revoke",
    ]
    assert not any("/t/globex/" in p for p in paths(fake))


def test_the_tenant_is_the_connections_own(browser, alice, fake):
    """Two connections at two tenants: each refreshes at its own."""
    fake.tenants = {"acme", "globex"}
    tenant_provider(fake)
    connect_through(browser, **{"url-tenant": "acme"})
    fake.userinfo = {"sub": "fake-user-2"}
    connect_through(browser, **{"url-tenant": "globex"})
    by_tenant = {i.metadata["url_values"]["tenant"]: i for i in Integration.objects.all()}
    assert set(by_tenant) == {"acme", "globex"}
    tokens.refresh_integration(by_tenant["globex"], force=True)
    refreshes = [r["path"] for r in fake.requests if r["form"].get("grant_type") == "refresh_token"]
    assert refreshes == ["/t/globex/token"]


def test_a_tenant_the_provider_does_not_serve_fails_cleanly(browser, fake):
    fake.tenants = {"acme"}
    tenant_provider(fake)
    response = browser.get("/integrations/connect/fake/", {"url-tenant": "initech"})
    assert response.status_code == 302  # it looks like a shop; the provider says no
    assert requests_get_status(response["Location"]) == 404
    assert not Integration.objects.exists()


def requests_get_status(url):
    import requests

    return requests.get(url, allow_redirects=False, timeout=10).status_code


@pytest.mark.parametrize(
    "value",
    ["evil.com/", "acme@evil.com", "..", "%2f", "acmé", "acme evil", "ACME", "a", "acme.evil.com"],
)
def test_the_connect_form_refuses_hostile_shops(browser, fake, value, all_logs):
    fake.tenants = {"acme"}
    tenant_provider(fake)
    response = browser.get("/integrations/connect/fake/", {"url-tenant": value})
    assert response.status_code == 400
    assert b"does not look like a valid Your shop" in response.content
    assert b"acme" in response.content  # the example
    assert oauth_flow.SESSION_KEY not in browser.session
    assert fake.requests == []
    assert not Integration.objects.exists()


def test_begin_authorization_checks_values_given_directly(rf, alice, fake):
    provider = tenant_provider(fake)
    request = rf.get("/")
    request.user = alice
    from django.contrib.sessions.backends.db import SessionStore

    request.session = SessionStore()
    for values in ({"tenant": "evil.com/"}, {}, {"tenant": "ok", "extra": "x"}, None):
        if values == {"tenant": "ok", "extra": "x"}:
            url = oauth_flow.begin_authorization(request, provider, url_values=values)
            assert url.startswith(f"{fake.url}/t/ok/authorize?")
            [entry] = request.session[oauth_flow.SESSION_KEY]["pending"].values()
            assert entry["uv"] == {"tenant": "ok"}  # undeclared names are dropped
            continue
        with pytest.raises(oauth_flow.InvalidURLValue):
            oauth_flow.begin_authorization(request, provider, url_values=values)


def test_another_users_pending_state_is_refused(browser, bob, fake):
    fake.tenants = {"acme"}
    tenant_provider(fake)
    response = browser.get("/integrations/connect/fake/", {"url-tenant": "acme"})
    back = consent(response["Location"])
    thief = Client()
    thief.force_login(bob)
    stolen = callback(thief, **back)
    assert stolen.status_code == 400
    assert not Integration.objects.exists()
    assert not [r for r in fake.requests if r["path"].endswith("/token")]
    # alice's own callback still works with her state
    assert callback(browser, **back).status_code == 302
    assert Integration.objects.get().owner.username == "alice"


def test_a_pending_state_whose_values_were_tampered_is_refused(browser, fake):
    """The session is the server's, but a signed-cookie session or a bug could
    hand back other values: they are checked again at the callback."""
    fake.tenants = {"acme"}
    tenant_provider(fake)
    response = browser.get("/integrations/connect/fake/", {"url-tenant": "acme"})
    back = consent(response["Location"])
    session = browser.session
    for entry in session[oauth_flow.SESSION_KEY]["pending"].values():
        entry["uv"] = {"tenant": "127.0.0.1/evil"}
    session.save()
    response = callback(browser, **back)
    assert response.status_code == 502 and b"url_value_tenant_unsafe" in response.content
    assert b"127.0.0.1/evil" not in response.content
    assert not [r for r in fake.requests if r["path"].endswith("/token")]


def test_stored_values_are_checked_again_when_used(browser, alice, fake, all_logs):
    """SSRF through a tampered Integration.metadata: refresh, calls and
    disconnect refuse the value (and say which placeholder), never send it."""
    fake.tenants = {"acme"}
    tenant_provider(fake)
    connect_through(browser, **{"url-tenant": "acme"})
    integration = Integration.objects.get()
    integration.metadata = {**integration.metadata, "url_values": {"tenant": "../admin"}}
    integration.save()
    before = len(fake.requests)

    with pytest.raises(tokens.TokenUnavailable) as raised:
        tokens.refresh_integration(integration, force=True)
    assert "url_value_tenant_unsafe" in str(raised.value.code)
    with pytest.raises(HostNotAllowed):
        call_api(integration, f"{fake.url}/t/acme/api")
    result = tokens.disconnect(alice, integration)
    assert not result.revocation_supported
    assert len(fake.requests) == before
    integration.refresh_from_db()
    assert integration.status == "revoked" and integration.access_token is None
    detail = AuditEvent.objects.filter(action="revoke").values_list("detail", flat=True)
    assert any("url_value_tenant_unsafe" in d for d in detail)
    assert "../admin" not in all_logs.text


def test_a_provider_level_value_needs_no_form(browser, alice, fake):
    fake.tenants = {"eu"}
    tenant_provider(
        fake,
        params={"label": "Region", "pattern": "eu|us", "level": "provider"},
        values={"tenant": "eu"},
    )
    response = connect_through(browser)
    assert response.status_code == 302
    integration = Integration.objects.get()
    assert "url_values" not in integration.metadata
    assert call_api(integration, f"{fake.url}/t/eu/api").status_code == 200
    with pytest.raises(HostNotAllowed):
        call_api(integration, "http://localhost:1/t/eu/api")
    tokens.refresh_integration(integration, force=True)
    assert tokens.disconnect(alice, integration).fully_revoked
    assert all(p.startswith("/t/eu/") for p in paths(fake))


def test_discovery_url_is_resolved(browser, fake):
    fake.tenants = {"acme"}
    fake.issuer = f"{fake.url}/t/acme"

    def discovery():
        base = f"{fake.url}/t/acme"
        return 200, {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "revocation_endpoint": f"{base}/revoke",
        }

    fake.handlers["/.well-known/openid-configuration"] = lambda form, headers: discovery()
    make_provider(
        fake,
        token_url="",
        authorize_url="",
        revocation_url="",
        userinfo_url="",
        discovery_url=f"{fake.url}/t/{{tenant}}/.well-known/openid-configuration",
        metadata={"url_params": {"tenant": SHOP}},
    )
    assert connect_through(browser, **{"url-tenant": "acme"}).status_code == 302
    assert "/t/acme/.well-known/openid-configuration" in paths(fake)


# -- account identification -------------------------------------------------------------


def test_the_account_from_the_token_response_nested(browser, fake):
    fake.account_in_token = {
        "authed_user": {"id": "U024BE7LH"},
        "team": {"id": "T9TK3CUKW", "name": "Acme Corp"},
    }
    make_provider(
        fake,
        userinfo_url="",
        metadata={"account": {"source": "token_response", "id": "team.id", "label": ["team.name"]}},
    )
    assert connect_through(browser).status_code == 302
    integration = Integration.objects.get()
    assert (integration.external_account_id, integration.label) == ("T9TK3CUKW", "Acme Corp")


def test_a_token_response_account_never_uses_a_token(browser, fake):
    make_provider(
        fake,
        userinfo_url="",
        metadata={"account": {"source": "token_response", "id": "access_token"}},
    )
    assert connect_through(browser).status_code == 302
    integration = Integration.objects.get()
    assert integration.external_account_id == ""
    assert "access" not in integration.label


def test_the_account_by_json_path_in_userinfo(browser, fake):
    fake.userinfo = {"data": [{"id": 4711, "login": "zed"}], "team.id": "exact-key"}
    make_provider(
        fake, metadata={"account": {"id": "data.0.id", "label": ["data.1.login", "data.0.login"]}}
    )
    assert connect_through(browser).status_code == 302
    integration = Integration.objects.get()
    assert (integration.external_account_id, integration.label) == ("4711", "zed")


def test_an_exact_key_wins_over_a_path():
    provider = Provider(metadata={"account": {"id": "team.id", "label": ["a.b"]}})
    claims = {"team.id": "exact", "team": {"id": "nested"}, "a": {"b": "nested-label"}}
    assert oauth.account_from_claims(provider, claims) == ("exact", "nested-label")


def test_the_older_account_keys_still_work():
    provider = Provider(
        metadata={"account_id_field": "user_id", "account_label_fields": ["screen_name"]}
    )
    claims = {"user_id": "42", "screen_name": "jack", "sub": "no"}
    assert oauth.account_from_claims(provider, claims) == ("42", "jack")


def test_a_malformed_nested_account_id_is_refused():
    provider = Provider(metadata={"account": {"id": "team.id"}})
    with pytest.raises(oauth.IdentityError):
        oauth.account_from_claims(provider, {"team": {"id": {"x": 1}}})
    with pytest.raises(oauth.IdentityError):
        oauth.account_from_claims(provider, {"team": {"id": "T\x00"}})


# -- scope separator ----------------------------------------------------------------------


def test_comma_separated_scopes_end_to_end(browser, alice, fake):
    fake.comma_scopes = True
    make_provider(
        fake, default_scopes=["read", "write", "email"], metadata={"scope_separator": ","}
    )
    response = browser.get("/integrations/connect/fake/")
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["scope"] == ["read,write,email"]
    assert callback(browser, **consent(response["Location"])).status_code == 302
    integration = Integration.objects.get()
    assert integration.granted_scopes == ["read", "write", "email"]
    tokens.refresh_integration(integration, force=True)
    assert tokens.disconnect(alice, integration).fully_revoked


def test_without_the_separator_the_comma_provider_refuses(browser, fake):
    fake.comma_scopes = True
    make_provider(fake, default_scopes=["read", "write"])
    response = browser.get("/integrations/connect/fake/")
    assert parse_qs(urlsplit(response["Location"]).query)["scope"] == ["read write"]
    assert consent(response["Location"])["error"] == "invalid_scope"


# -- revocation families -------------------------------------------------------------------


def _revoke_audits():
    return list(AuditEvent.objects.filter(action="revoke").values_list("outcome", "detail"))


@pytest.mark.parametrize("method", ["POST", "DELETE", "GET"])
def test_bearer_revocation_end_to_end(browser, alice, fake, method, all_logs):
    fake.bearer_revocation = method
    make_provider(
        fake,
        revocation_url=f"{fake.url}/bearer-revoke",
        base_url=f"{fake.url}/",
        metadata={"revocation": {"method": "bearer", "http_method": method}},
    )
    connect_through(browser)
    integration = Integration.objects.get()
    assert call_api(integration, f"{fake.url}/api").status_code == 200
    tokens.refresh_integration(integration, force=True)
    current = tokens.read_access_token(integration, purpose="test").reveal()
    result = tokens.disconnect(alice, integration)
    assert result.fully_revoked and result.revoked == ["access_token"]
    [sent] = fake.requests_to("/bearer-revoke")
    assert sent["method"] == method
    assert sent["headers"]["Authorization"] == f"Bearer {current}"
    assert current in fake.revoked
    assert _revoke_audits() == [("success", "access_token revoked at the provider")]
    assert current not in all_logs.text


def test_a_refused_bearer_revocation_is_recorded_and_still_erases(browser, alice, fake):
    fake.bearer_revocation = "DELETE"
    make_provider(
        fake,
        revocation_url=f"{fake.url}/bearer-revoke",
        metadata={"revocation": {"method": "bearer"}},  # POST: the fake wants DELETE
    )
    connect_through(browser)
    integration = Integration.objects.get()
    result = tokens.disconnect(alice, integration)
    assert result.revocation_supported and not result.fully_revoked
    assert result.failed == {"access_token": "http_405"}
    integration.refresh_from_db()
    assert integration.status == "revoked" and integration.access_token is None


def test_github_grant_hook_end_to_end(browser, alice, fake, all_logs):
    fake.grant_client_secret = CLIENT_SECRET
    make_provider(
        fake,
        revocation_url=f"{fake.url}/applications/{fake.client_id}/grant",
        base_url=f"{fake.url}/",
        metadata={"revocation": {"method": "hook", "hook": "github_grant"}},
    )
    connect_through(browser)
    integration = Integration.objects.get()
    assert call_api(integration, f"{fake.url}/api").status_code == 200
    tokens.refresh_integration(integration, force=True)
    current = tokens.read_access_token(integration, purpose="test").reveal()
    result = tokens.disconnect(alice, integration)
    assert result.fully_revoked
    [sent] = [r for r in fake.requests if r["path"].startswith("/applications/")]
    assert sent["method"] == "DELETE"
    assert sent["headers"]["Authorization"].startswith("Basic ")
    assert current in sent["body"]
    assert set(fake.api_tokens) <= set(fake.revoked)  # the whole grant
    assert fake.requests_to("/revoke") == []
    assert CLIENT_SECRET not in all_logs.text and current not in all_logs.text


def test_github_grant_with_a_wrong_secret_fails_but_erases(browser, alice, fake):
    fake.grant_client_secret = "not-the-one"
    make_provider(
        fake,
        revocation_url=f"{fake.url}/applications/{fake.client_id}/grant",
        metadata={"revocation": {"method": "hook", "hook": "github_grant"}},
    )
    connect_through(browser)
    result = tokens.disconnect(alice, Integration.objects.get())
    assert result.failed == {"access_token": "http_401"}
    assert Integration.objects.get().status == "revoked"


def test_github_grant_defaults_to_github_com():
    calls = []

    class Session:
        def __init__(self):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def delete(self, url, **kwargs):
            calls.append((url, kwargs["auth"][0], kwargs["json"]))

            class Answer:
                status_code = 204

                def close(self):
                    pass

            return Answer()

    provider = Provider(slug="github", name="GitHub", client_id="Iv1.abc/../x")
    original = provider_hooks.ProviderSession
    provider_hooks.ProviderSession = Session
    try:
        from integrations.redaction import Secret

        provider_hooks.github_grant(provider, access_token="gho_x", client_secret=Secret("s3cret"))
    finally:
        provider_hooks.ProviderSession = original
    assert calls == [
        (
            "https://api.github.com/applications/Iv1.abc%2F..%2Fx/grant",
            "Iv1.abc/../x",
            {"access_token": "gho_x"},
        )
    ]


def test_stripe_deauthorize_hook_end_to_end(browser, alice, fake, all_logs):
    fake.grant_client_secret = CLIENT_SECRET
    fake.deauthorize_account = "acct_1Fake"
    fake.account_in_token = {"stripe_user_id": "acct_1Fake"}
    make_provider(
        fake,
        userinfo_url="",
        revocation_url=f"{fake.url}/oauth/deauthorize",
        base_url=f"{fake.url}/",
        metadata={
            "revocation": {"method": "hook", "hook": "stripe_deauthorize"},
            "account": {"source": "token_response", "id": "stripe_user_id"},
            "token_endpoint_auth_method": "client_secret_post",
        },
    )
    connect_through(browser)
    integration = Integration.objects.get()
    assert integration.external_account_id == "acct_1Fake"
    assert call_api(integration, f"{fake.url}/api").status_code == 200
    tokens.refresh_integration(integration, force=True)
    result = tokens.disconnect(alice, integration)
    assert result.fully_revoked
    [sent] = fake.requests_to("/oauth/deauthorize")
    assert sent["form"] == {"client_id": fake.client_id, "stripe_user_id": "acct_1Fake"}
    assert set(fake.api_tokens) <= set(fake.revoked)
    assert CLIENT_SECRET not in all_logs.text


def test_stripe_deauthorize_needs_the_account_id(alice, fake):
    provider = make_provider(
        fake,
        revocation_url=f"{fake.url}/oauth/deauthorize",
        metadata={"revocation": {"method": "hook", "hook": "stripe_deauthorize"}},
    )
    integration, _ = tokens.connect(
        alice, provider, {"access_token": "a" * 30, "token_type": "Bearer"}
    )
    result = tokens.disconnect(alice, integration)
    assert result.failed == {"access_token": "account_id_missing"}
    assert Integration.objects.get().status == "revoked"
    assert fake.requests == []


def test_an_unknown_hook_is_a_validation_error_and_improperly_configured(alice, fake):
    provider = Provider(
        slug="h", name="H", metadata={"revocation": {"method": "hook", "hook": "nope"}}
    )
    with pytest.raises(ValidationError) as raised:
        provider.full_clean()
    assert "unknown hook" in " ".join(raised.value.message_dict["metadata"])
    with pytest.raises(ImproperlyConfigured):
        provider_hooks.revocation_hook("nope")
    # Stored anyway (a bulk update): disconnecting still erases, and says why.
    stored = make_provider(fake, metadata={"revocation": {"method": "hook", "hook": "nope"}})
    integration, _ = tokens.connect(
        alice, stored, {"access_token": "a" * 30, "token_type": "Bearer"}
    )
    result = tokens.disconnect(alice, integration)
    assert result.failed == {"access_token": "unknown_revocation_hook"}
    assert Integration.objects.get().access_token is None
    assert fake.requests == []


def test_the_hook_registry_matches_the_names_clean_accepts():
    assert set(provider_hooks.REVOCATION) == provider_quirks.REVOCATION_HOOKS


@pytest.mark.parametrize(
    "revocation",
    [
        {"method": "sideways"},
        {"method": "bearer", "http_method": "PATCH"},
        "rfc7009",
    ],
)
def test_a_malformed_revocation_is_a_validation_error(revocation):
    with pytest.raises(ValidationError):
        Provider(slug="r", name="R", metadata={"revocation": revocation}).full_clean()


def test_revocation_none_sends_nothing_and_says_so(browser, alice, fake):
    make_provider(
        fake,
        metadata={"revocation": {"method": "none", "note": "Remove the app in its settings."}},
    )
    connect_through(browser)
    integration = Integration.objects.get()
    tokens.refresh_integration(integration, force=True)
    confirm = browser.get(f"/integrations/{integration.pk}/disconnect/").content.decode()
    assert "erases the stored tokens on this site only" in confirm
    assert "Remove the app in its settings." in confirm
    assert "This revokes" not in confirm
    response = browser.post(f"/integrations/{integration.pk}/disconnect/", follow=True)
    assert response.status_code == 200
    assert b"cannot revoke them from this site" in response.content
    assert b"Remove the app in its settings." in response.content
    assert fake.requests_to("/revoke") == []
    integration.refresh_from_db()
    assert integration.status == "revoked" and integration.refresh_token is None
    disconnect = AuditEvent.objects.get(action="disconnect")
    assert "erased here only" in disconnect.detail
    assert _revoke_audits() == [
        (
            "failure",
            "not revoked at the provider: it has no way to revoke by API; tokens erased here only",
        )
    ]


def test_revocation_absent_is_rfc7009_as_before(browser, alice, fake):
    make_provider(fake)
    connect_through(browser)
    result = tokens.disconnect(alice, Integration.objects.get())
    assert result.fully_revoked and sorted(result.revoked) == ["access_token", "refresh_token"]
    assert [r["form"]["token_type_hint"] for r in fake.requests_to("/revoke")] == [
        "refresh_token",
        "access_token",
    ]


# -- access-token placement -------------------------------------------------------------------


def test_a_custom_access_token_header_end_to_end(browser, alice, fake, all_logs):
    fake.tenants = {"acme"}
    fake.api_token_header = "X-Fake-Access-Token"
    tenant_provider(
        fake,
        metadata={
            "access_token_placement": {"in": "header", "name": "X-Fake-Access-Token"},
        },
    )
    connect_through(browser, **{"url-tenant": "acme"})
    integration = Integration.objects.get()
    answer = call_api(integration, f"{fake.url}/t/acme/api")
    assert answer.status_code == 200
    [sent] = [r for r in fake.requests if r["path"] == "/t/acme/api"]
    assert "Authorization" not in sent["headers"]
    # The provider stops taking the token: one refresh, one retry, same header.
    first = sent["headers"]["X-Fake-Access-Token"]
    fake.revoked.append(first)
    assert call_api(integration, f"{fake.url}/t/acme/api").status_code == 200
    retried = [r for r in fake.requests if r["path"] == "/t/acme/api"][-1]
    assert retried["headers"]["X-Fake-Access-Token"] not in (first, "")
    assert tokens.disconnect(alice, integration).fully_revoked
    assert first not in all_logs.text


def test_without_the_placement_the_custom_header_provider_refuses(browser, fake):
    fake.api_token_header = "X-Fake-Access-Token"
    make_provider(fake, base_url=f"{fake.url}/")
    connect_through(browser)
    assert call_api(Integration.objects.get(), f"{fake.url}/api").status_code == 401


def test_a_query_parameter_placement(browser, fake, all_logs):
    fake.api_token_query = "access_token"
    make_provider(
        fake,
        base_url=f"{fake.url}/",
        metadata={"access_token_placement": {"in": "query", "name": "access_token"}},
    )
    connect_through(browser)
    assert call_api(Integration.objects.get(), f"{fake.url}/api").status_code == 200
    [sent] = fake.requests_to("/api")
    assert "Authorization" not in sent["headers"]


def test_a_malformed_placement_is_a_validation_error():
    for placement in ({"in": "body", "name": "x"}, {"in": "header", "name": "bad name"}, "x"):
        with pytest.raises(ValidationError):
            Provider(
                slug="p", name="P", metadata={"access_token_placement": placement}
            ).full_clean()


# -- credential formats ---------------------------------------------------------------------

STRIPE_LIKE = {
    "api_key": {
        "label": "Secret key",
        "pattern": r"sk_(live|test)_[0-9A-Za-z]{16,}",
        "help": "Dashboard → Developers → API keys",
        "example": "sk_test_…",
    }
}
GOOD_KEY = "sk_test_" + "A1b2C3d4E5f6G7h8"


@pytest.fixture
def keyed():
    return Provider.objects.create(
        slug="keyed",
        name="Keyed",
        auth_type="api_key",
        base_url="https://api.keyed.example/",
        metadata={"credential_fields": STRIPE_LIKE},
    )


def test_the_credential_form_shows_the_providers_label_and_help(browser, keyed):
    response = browser.get(
        "/integrations/credentials/add/", {"type": "api_key", "provider": str(keyed.pk)}
    )
    page = response.content.decode()
    assert "Secret key" in page and "Dashboard → Developers → API keys" in page


@pytest.mark.parametrize("bad", ["CANARY", "sk_prod_CANARY1234567890", "pk_test_CANARY12345678"])
def test_the_credential_form_refuses_a_wrong_format(browser, keyed, canary, all_logs, bad):
    value = bad.replace("CANARY", canary)
    response = browser.post(
        "/integrations/credentials/add/?type=api_key",
        {"name": "stripe", "provider": str(keyed.pk), "api_key": value},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Secret key does not look right for Keyed" in page and "sk_test_" in page
    assert canary not in page and value not in page
    assert not Credential.objects.exists()
    assert canary not in all_logs.text


def test_the_credential_form_accepts_the_right_format(browser, keyed):
    response = browser.post(
        "/integrations/credentials/add/?type=api_key",
        {"name": "stripe", "provider": str(keyed.pk), "api_key": GOOD_KEY},
    )
    assert response.status_code == 302
    assert Credential.objects.get().name == "stripe"


def test_the_service_checks_the_format(alice, keyed, canary):
    with pytest.raises(ValidationError) as raised:
        credentials.create_credential(
            alice,
            name="s",
            credential_type="api_key",
            data={"api_key": canary},
            provider=keyed,
        )
    text = str(raised.value.message_dict)
    assert "api_key: Secret key does not look right for Keyed" in text and canary not in text
    credential = credentials.create_credential(
        alice, name="s", credential_type="api_key", data={"api_key": GOOD_KEY}, provider=keyed
    )
    with pytest.raises(ValidationError):
        credentials.update_credential(alice, credential, data={"api_key": canary})
    # Without a provider, anything goes (as before).
    credentials.create_credential(
        alice, name="t", credential_type="api_key", data={"api_key": canary}
    )


def test_basic_credentials_are_checked_per_field(alice):
    provider = Provider.objects.create(
        slug="b",
        name="B",
        auth_type="basic",
        metadata={
            "credential_fields": {
                "username": {"label": "Account SID", "pattern": r"AC[0-9a-f]{32}"},
                "password": {"label": "Auth token"},
            }
        },
    )
    with pytest.raises(ValidationError) as raised:
        credentials.create_credential(
            alice,
            name="b",
            credential_type="basic",
            data={"username": "nope", "password": "whatever"},
            provider=provider,
        )
    assert "Account SID" in str(raised.value) and "nope" not in str(raised.value)
    credentials.create_credential(
        alice,
        name="b",
        credential_type="basic",
        data={"username": "AC" + "0" * 32, "password": "whatever"},
        provider=provider,
    )


def test_the_api_checks_the_format(alice, keyed, canary):
    pytest.importorskip("rest_framework")
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(alice)
    payload = {
        "name": "s",
        "type": "api_key",
        "provider": str(keyed.pk),
        "data": {"api_key": canary},
    }
    response = client.post("/api/credentials/", payload, format="json")
    assert response.status_code == 400
    assert "Secret key does not look right" in response.content.decode()
    assert canary not in response.content.decode()
    payload["data"] = {"api_key": GOOD_KEY}
    assert client.post("/api/credentials/", payload, format="json").status_code == 201


def test_a_bad_credential_pattern_is_a_validation_error():
    with pytest.raises(ValidationError):
        Provider(
            slug="p",
            name="P",
            auth_type="api_key",
            metadata={"credential_fields": {"api_key": {"label": "Key", "pattern": "("}}},
        ).full_clean()


# -- nothing secret in what a failure says ----------------------------------------------------


def test_codes_never_carry_a_value():
    provider = _host_template_provider()
    for value in ("evil.com/x", "a@b", "x" * 40):
        try:
            provider_urls.resolve(provider.token_url, provider, {"domain": value})
        except provider_urls.URLTemplateError as exc:
            assert re.fullmatch(r"[a-z_]+", exc.code), exc.code
            assert value not in str(exc)


def test_logging_is_quiet_about_values(browser, fake, all_logs):
    fake.tenants = {"acme"}
    tenant_provider(fake)
    all_logs.set_level(logging.DEBUG)
    browser.get("/integrations/connect/fake/", {"url-tenant": "evil.example/x"})
    assert "evil.example/x" not in all_logs.text


def test_the_shop_form_in_french(browser, fake):
    from django.utils import translation

    fake.tenants = {"acme"}
    tenant_provider(fake)
    try:
        response = browser.get(
            "/integrations/connect/fake/",
            {"url-tenant": "evil.com/"},
            HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9",
        )
    finally:
        translation.deactivate()
    page = response.content.decode()
    assert "Continuer" in page
    assert "ne ressemble pas à un champ « Your shop » valide" in page


def test_test_connection_asks_the_tenants_userinfo(browser, fake):
    fake.tenants = {"acme"}
    tenant_provider(fake)
    connect_through(browser, **{"url-tenant": "acme"})
    integration = Integration.objects.get()
    before = len(fake.requests_to("/t/acme/userinfo"))
    response = browser.post(f"/integrations/{integration.pk}/test/", follow=True)
    assert b"says this account is" in response.content
    assert len(fake.requests_to("/t/acme/userinfo")) == before + 1


def test_a_state_of_this_session_for_another_user_is_refused(rf, alice, bob, fake):
    """The pending authorization is bound to the user as well as the session."""
    from django.contrib.sessions.backends.db import SessionStore

    fake.tenants = {"acme"}
    provider = tenant_provider(fake)
    request = rf.get("/")
    request.user = alice
    request.session = SessionStore()
    url = oauth_flow.begin_authorization(request, provider, url_values={"tenant": "acme"})
    back = consent(url)
    hijack = rf.get("/integrations/callback/fake/", back)
    hijack.user = bob
    hijack.session = request.session
    with pytest.raises(oauth.StateError) as raised:
        oauth_flow.complete_authorization(hijack, provider)
    assert raised.value.code == "state_wrong_user"
    assert not [r for r in fake.requests if r["path"].endswith("/token")]


def test_oauth1_endpoints_are_resolved():
    from integrations import oauth1

    provider = Provider(
        slug="o1",
        name="O1",
        auth_type="oauth1",
        request_token_url="https://{site}.example.com/oauth/request_token",
        authorize_url="https://{site}.example.com/oauth/authorize",
        token_url="https://{site}.example.com/oauth/access_token",
        metadata={"url_params": {"site": {"pattern": "[a-z]+", "level": "connection"}}},
    )
    ends = oauth1.endpoints(provider, {"site": "acme"})
    assert ends.token_url == "https://acme.example.com/oauth/access_token"
    assert ends.request_token_url == "https://acme.example.com/oauth/request_token"
    for bad in ({"site": "evil.com/"}, {}):
        with pytest.raises(oauth.ProviderMisconfigured):
            oauth1.endpoints(provider, bad)
