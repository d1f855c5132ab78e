"""Provider presets: data that becomes a working Provider with only client id/secret."""

import pytest
from django.core.exceptions import ValidationError

from integrations import oauth, oauth1
from integrations.crypto import is_sealed
from integrations.models import AuditEvent, Integration, Provider
from integrations.providers import PRESETS, create_provider_from_preset, get_preset, preset_choices
from tests.dbutil import raw_column
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    CLIENT_SECRET,
    alice,
    browser,
    callback,
    consent,
    fake,
    make_provider,
    start,
)

pytestmark = pytest.mark.django_db


def test_the_presets_are_offered_by_name():
    choices = preset_choices()
    assert dict(choices)["google"] == "Google"
    assert dict(choices)["oidc"] == "OpenID Connect provider"
    assert dict(choices)["oauth1"] == "OAuth 1.0a provider"
    assert {"github", "slack", "microsoft", "trello", "x"} <= dict(choices).keys()
    assert len(choices) == len(PRESETS) >= 100
    names = [name.lower() for _key, name in choices]
    assert names == sorted(names)


@pytest.mark.parametrize("key", ["google", "github", "slack", "microsoft"])
def test_each_preset_makes_a_valid_provider_from_client_id_and_secret(key, admin_user, canary):
    provider = create_provider_from_preset(
        key, client_id=f"{key}-client-id", client_secret=canary, actor=admin_user
    )
    provider.full_clean()
    assert (provider.slug, provider.auth_type, provider.status) == (key, "oauth2", "active")
    assert provider.metadata["preset"] == key
    assert provider.default_scopes
    assert provider.discovery_url or (provider.authorize_url and provider.token_url)
    stored = raw_column(Provider, "client_secret", provider.pk)
    assert is_sealed(stored) and canary not in stored
    events = AuditEvent.objects.filter(target_id=str(provider.pk)).order_by("created_at")
    assert [(e.action, e.actor) for e in events] == [("create", admin_user), ("update", admin_user)]
    assert all(canary not in e.detail for e in events)
    # Every URL a preset names is one the OAuth client accepts (HTTPS).
    for name in ("authorize_url", "token_url", "revocation_url", "userinfo_url", "discovery_url"):
        oauth.check_endpoint_url(getattr(provider, name), name)


@pytest.mark.parametrize("key", ["trello", "x"])
def test_each_oauth1_preset_makes_a_valid_provider(key, admin_user, canary):
    provider = create_provider_from_preset(
        key, client_id=f"{key}-key", client_secret=canary, actor=admin_user
    )
    provider.full_clean()
    assert (provider.slug, provider.auth_type, provider.signature_method) == (
        key,
        "oauth1",
        "HMAC-SHA1",
    )
    assert provider.request_token_url and provider.authorize_url and provider.token_url
    assert provider.userinfo_url or provider.metadata["account_id_field"] == "user_id"
    stored = raw_column(Provider, "client_secret", provider.pk)
    assert is_sealed(stored) and canary not in stored
    ends = oauth1.endpoints(provider)  # every URL is HTTPS
    assert ends.request_token_url.startswith("https://")


def test_the_generic_oauth1_preset_takes_its_endpoints(canary):
    provider = create_provider_from_preset(
        "oauth1",
        client_id="consumer-key",
        client_secret=canary,
        request_token_url="https://api.example.com/oauth/request_token",
        authorize_url="https://api.example.com/oauth/authorize",
        token_url="https://api.example.com/oauth/access_token",
        userinfo_url="https://api.example.com/me",
        slug="example",
    )
    provider.refresh_from_db()
    assert (provider.slug, provider.auth_type) == ("example", "oauth1")
    assert provider.request_token_url == "https://api.example.com/oauth/request_token"
    assert provider.userinfo_url == "https://api.example.com/me"


def test_the_generic_oauth1_preset_names_what_is_missing():
    with pytest.raises(ValidationError) as caught:
        create_provider_from_preset(
            "oauth1", client_id="consumer-key", client_secret="s", slug="example"
        )
    assert set(caught.value.message_dict) == {"request_token_url", "authorize_url", "token_url"}
    assert not Provider.objects.exists()


def test_an_oauth1_endpoint_over_plain_http_is_refused():
    provider = Provider(
        slug="p",
        auth_type="oauth1",
        request_token_url="http://api.example.com/oauth/request_token",
    )
    with pytest.raises(oauth.ProviderMisconfigured) as caught:
        oauth1.endpoints(provider)
    assert caught.value.code == "request_token_url_not_https"


def test_google_asks_for_offline_access():
    assert get_preset("google")["metadata"]["authorize_params"]["access_type"] == "offline"


def test_the_generic_oidc_preset_needs_a_discovery_url():
    with pytest.raises(ValidationError) as info:
        create_provider_from_preset("oidc", client_id="cid", client_secret="s" * 20)
    assert "discovery_url" in info.value.message_dict
    provider = create_provider_from_preset(
        "oidc",
        client_id="cid",
        client_secret="s" * 20,
        slug="acme-sso",
        name="Acme SSO",
        discovery_url="https://sso.acme.example/.well-known/openid-configuration",
    )
    assert (provider.slug, provider.name, provider.pkce) == ("acme-sso", "Acme SSO", "supported")


def test_a_client_id_is_required_and_overrides_are_checked():
    with pytest.raises(ValidationError):
        create_provider_from_preset("github", client_id="")
    with pytest.raises(ValidationError, match="not provider fields: client_secret_plain"):
        create_provider_from_preset("github", client_id="x", client_secret_plain="oops")
    with pytest.raises(KeyError, match="unknown provider preset 'nope'"):
        create_provider_from_preset("nope", client_id="x")
    assert not Provider.objects.exists()


def test_a_second_app_of_one_preset_needs_its_own_slug():
    create_provider_from_preset("github", client_id="one")
    with pytest.raises(ValidationError):
        create_provider_from_preset("github", client_id="two")
    create_provider_from_preset("github", client_id="two", slug="github-work", name="GitHub (work)")
    assert Provider.objects.count() == 2


def test_presets_are_data_and_get_preset_copies():
    preset = get_preset("google")
    preset["metadata"]["authorize_params"]["access_type"] = "online"
    assert PRESETS["google"]["metadata"]["authorize_params"]["access_type"] == "offline"


# -- refresh tokens: each preset asks for what its provider needs -------------------------


@pytest.fixture
def preset_provider(fake):
    """A provider made from a preset, pointed at the loopback fake's discovery."""

    def make(key):
        return create_provider_from_preset(
            key,
            client_id=fake.client_id,
            client_secret=CLIENT_SECRET,
            discovery_url=fake.discovery_url,
        )

    return make


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("google", {"access_type": "offline", "prompt": "consent"}),
        ("oidc", {"prompt": "consent"}),
        # offline_access suffices; consent would fail in admin-consent-only tenants.
        ("microsoft", {"prompt": "select_account"}),
    ],
)
def test_each_preset_asks_for_a_refresh_token_the_way_its_provider_needs(
    browser, preset_provider, key, expected
):
    preset_provider(key)
    _, query = start(browser, key)
    assert {name: query.get(name) for name in expected} == expected
    scopes = query["scope"].split()
    assert ("offline_access" in scopes) == (key != "google")  # Google refuses that scope


def test_the_generic_oidc_preset_gets_a_refresh_token_from_a_strict_provider(
    browser, preset_provider, fake
):
    """OIDC Core §11, as panva's oidc-provider applies it: offline_access
    without prompt=consent is ignored and no refresh token is issued."""
    fake.offline_access_needs_consent = True
    preset_provider("oidc")
    location, _ = start(browser, "oidc")
    assert callback(browser, "oidc", **consent(location)).status_code == 302
    integration = Integration.objects.get()
    assert integration.refresh_token and integration.refresh_token.startswith("fake-refresh-")
    assert "offline_access" in integration.granted_scopes


def test_a_preset_prompt_wins_and_a_connection_without_refresh_token_says_so(browser, fake):
    """The strict fake really withholds the refresh token without consent, and
    the user is told on the result page and on My connections."""
    fake.offline_access_needs_consent = True
    make_provider(
        fake, default_scopes=["offline_access"], metadata={"authorize_params": {"prompt": "login"}}
    )
    location, query = start(browser)
    assert query["prompt"] == "login"
    response = callback(browser, **consent(location))
    integration = Integration.objects.get()
    assert raw_column(Integration, "refresh_token", integration.pk) is None
    assert not integration.can_refresh
    result = browser.get(response["Location"]).content.decode()
    page = browser.get("/integrations/").content.decode()
    for html in (result, page):
        assert "This connection cannot renew itself; reconnect when it expires" in html
        assert integration.expires_at.isoformat(timespec="seconds")[:16] in html


def test_the_oidc_preset_asks_only_for_the_scopes_discovery_lists(browser, preset_provider, fake):
    """django-oauth-toolkit lists no offline_access and answers invalid_scope to
    it: the connect must leave it out (and its prompt=consent), and succeed."""
    fake.scopes_supported = ["openid", "email", "profile"]
    preset_provider("oidc")
    location, query = start(browser, "oidc")
    assert query["scope"].split() == ["openid", "email", "profile"]
    assert "prompt" not in query
    fake.handlers["/token"] = lambda form, headers: (
        200,
        {"access_token": "fake-access-no-refresh-0001", "token_type": "Bearer", "expires_in": 600},
    )
    response = callback(browser, "oidc", **consent(location))
    assert response.status_code == 302
    integration = Integration.objects.get()
    assert not integration.can_refresh
    result = browser.get(response["Location"]).content.decode()
    assert "does not offer offline access" in result
    assert "This connection cannot renew itself" in result
    assert "does not offer offline access" not in browser.get("/integrations/").content.decode()


def test_a_scope_discovery_lists_is_asked_for_and_nothing_is_said(browser, preset_provider, fake):
    fake.scopes_supported = ["openid", "email", "profile", "offline_access"]
    preset_provider("oidc")
    location, query = start(browser, "oidc")
    assert query["scope"].split() == ["openid", "email", "profile", "offline_access"]
    response = callback(browser, "oidc", **consent(location))
    assert Integration.objects.get().can_refresh
    assert "offline access" not in browser.get(response["Location"]).content.decode()


def test_a_provider_refusing_an_unlisted_scope_would_fail_the_connect(browser, fake):
    """The fake's strictness is real: asked for a scope it does not list, it
    answers invalid_scope (which is why the flow leaves such scopes out)."""
    fake.scopes_supported = ["openid"]
    make_provider(fake, default_scopes=["openid", "offline_access"])  # no discovery
    location, query = start(browser)
    assert "offline_access" in query["scope"].split()
    assert consent(location)["error"] == "invalid_scope"
