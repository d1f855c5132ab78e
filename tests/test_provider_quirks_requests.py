"""Request quirks (issue 26, more), end to end against the loopback fake.

Each quirk — a refresh endpoint of its own (``refresh_url``: UPS, Figma), the
userinfo request carrying the token as ``access_token_placement`` says
(Mailchimp's ``Authorization: OAuth``, Shopify's header), the client id under
another name (``client_id_param``: TikTok's ``client_key``), values the
provider adds to its redirect back (``callback_params``: Intuit's ``realmId``),
JSON token requests (``token_request``: Notion) and OAuth 1.0a's ``signed``
revocation method — is switched on at the fake and set on the Provider as the
catalog's entry sets it; then connect through our views, call, refresh and
disconnect, with the inputs that must be refused.
"""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError

from integrations import connection_check, provider_quirks, tokens
from integrations.models import AuditEvent, Integration, Provider
from integrations.provider_calls import api_base_url
from integrations.sealed.redaction import redact
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


def connect_through(browser, slug="fake", **params):
    response = browser.get(f"/integrations/connect/{slug}/", params)
    assert response.status_code == 302, response.content
    return callback(browser, slug, **consent(response["Location"]))


def call_api(integration, url):
    with tokens.session(integration, purpose="test a call", allowed_hosts="provider") as session:
        return session.get(url, timeout=10)


def grants(fake, grant_type):
    return [r for r in fake.requests if r["form"].get("grant_type") == grant_type]


def clean_errors(provider):
    with pytest.raises(ValidationError) as caught:
        provider.full_clean()
    return " ".join(str(m) for m in caught.value.message_dict.get("metadata", []))


# -- refresh_url ------------------------------------------------------------------------


def test_refresh_at_its_own_endpoint_end_to_end(browser, alice, fake):
    fake.refresh_path = "/refresh"
    make_provider(fake, base_url=f"{fake.url}/", metadata={"refresh_url": f"{fake.url}/refresh"})
    assert connect_through(browser).status_code == 302
    integration = Integration.objects.get()
    assert [r["path"] for r in grants(fake, "authorization_code")] == ["/token"]
    assert call_api(integration, f"{fake.url}/api/me").status_code == 200

    before = integration.access_token
    tokens.refresh_integration(integration, force=True)
    assert [r["path"] for r in grants(fake, "refresh_token")] == ["/refresh"]
    integration.refresh_from_db()
    assert integration.access_token != before
    assert call_api(integration, f"{fake.url}/api/me").status_code == 200
    assert tokens.disconnect(alice, integration).fully_revoked


def test_without_refresh_url_the_refresh_goes_to_the_token_url_and_fails(browser, fake):
    fake.refresh_path = "/refresh"
    make_provider(fake)
    connect_through(browser)
    integration = Integration.objects.get()
    with pytest.raises(tokens.TokenUnavailable) as caught:
        tokens.refresh_integration(integration, force=True)
    assert caught.value.code == "unsupported_grant_type"
    assert [r["path"] for r in grants(fake, "refresh_token")] == ["/token"]


def test_a_templated_refresh_url_uses_the_connections_value(browser, fake):
    fake.tenants = {"acme"}
    fake.refresh_path = "/refresh"
    base = f"{fake.url}/t/{{tenant}}"
    make_provider(
        fake,
        authorize_url=f"{base}/authorize",
        token_url=f"{base}/token",
        revocation_url=f"{base}/revoke",
        userinfo_url=f"{base}/userinfo",
        metadata={
            "refresh_url": f"{base}/refresh",
            "url_params": {
                "tenant": {"label": "Tenant", "pattern": "[a-z]+", "level": "connection"}
            },
        },
    )
    connect_through(browser, **{"url-tenant": "acme"})
    integration = Integration.objects.get()
    tokens.refresh_integration(integration, force=True)
    assert [r["path"] for r in grants(fake, "refresh_token")] == ["/t/acme/refresh"]


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("https://{region}.example.com/refresh", "not declared"),
        ("not a url", "must be a URL"),
        (42, "must be a URL"),
    ],
)
def test_a_bad_refresh_url_is_a_validation_error(fake, url, complaint):
    provider = Provider(slug="bad", name="Bad", metadata={"refresh_url": url})
    assert complaint in clean_errors(provider)


def test_a_plain_http_refresh_url_is_refused_at_use(browser, fake):
    make_provider(fake, metadata={"refresh_url": "http://refresh.example.com/refresh"})
    response = browser.get("/integrations/connect/fake/")
    assert response.status_code == 503
    assert b"refresh_url_not_https" in response.content
    assert fake.requests == []  # nothing was sent anywhere


# -- userinfo honours access_token_placement -------------------------------------------------


MAILCHIMP_METADATA = {
    "dc": "us6",
    "accountname": "Acme Co",
    "user_id": 4242,
    "login": {"email": "owner@acme.test", "login_id": 7},
}


def test_userinfo_with_an_oauth_authorization_scheme(browser, fake, all_logs):
    fake.userinfo_token_header = ("Authorization", "OAuth ")
    fake.userinfo = MAILCHIMP_METADATA
    make_provider(
        fake,
        metadata={
            "access_token_placement": {"in": "header", "name": "Authorization", "prefix": "OAuth "},
            "account": {"id": "user_id", "label": ["accountname", "login.email"]},
        },
    )
    assert connect_through(browser).status_code == 302
    integration = Integration.objects.get()
    assert (integration.external_account_id, integration.label) == ("4242", "Acme Co")
    [sent] = fake.requests_to("/userinfo")
    assert sent["headers"]["Authorization"].startswith("OAuth ")
    # "Test connection" calls userinfo the same way (through the token session).
    assert connection_check.check_connection(integration.owner, integration).ok


def test_userinfo_label_falls_back_to_a_nested_path(browser, fake):
    fake.userinfo_token_header = ("Authorization", "OAuth ")
    fake.userinfo = {**MAILCHIMP_METADATA, "accountname": ""}
    make_provider(
        fake,
        metadata={
            "access_token_placement": {"in": "header", "name": "Authorization", "prefix": "OAuth "},
            "account": {"id": "user_id", "label": ["accountname", "login.email"]},
        },
    )
    connect_through(browser)
    assert Integration.objects.get().label == "owner@acme.test"


def test_userinfo_with_a_custom_header(browser, fake):
    fake.userinfo_token_header = ("X-Fake-Access-Token", "")
    fake.userinfo = {"shop": {"id": 548380009, "name": "Acme Store"}}
    make_provider(
        fake,
        metadata={
            "access_token_placement": {"in": "header", "name": "X-Fake-Access-Token"},
            "account": {"id": "shop.id", "label": ["shop.name"]},
        },
    )
    assert connect_through(browser).status_code == 302
    integration = Integration.objects.get()
    assert (integration.external_account_id, integration.label) == ("548380009", "Acme Store")
    [sent] = fake.requests_to("/userinfo")
    assert "Authorization" not in sent["headers"]


def test_without_the_placement_userinfo_refuses_and_nothing_is_connected(browser, fake):
    fake.userinfo_token_header = ("Authorization", "OAuth ")
    fake.userinfo = MAILCHIMP_METADATA
    make_provider(fake, metadata={"account": {"id": "user_id"}})
    response = connect_through(browser)
    assert response.status_code == 502
    assert not Integration.objects.exists()
    [sent] = fake.requests_to("/userinfo")
    assert sent["headers"]["Authorization"].startswith("Bearer ")


# -- client_id_param ---------------------------------------------------------------------


def tiktok_like(fake, **metadata):
    fake.client_id_param = "client_key"
    return make_provider(
        fake,
        base_url=f"{fake.url}/",
        metadata={"token_endpoint_auth_method": "client_secret_post", **metadata},
    )


def test_the_client_id_under_another_name_end_to_end(browser, alice, fake, all_logs):
    tiktok_like(fake, client_id_param="client_key")
    location, query = start(browser)
    assert query["client_key"] == fake.client_id and "client_id" not in query
    assert callback(browser, **consent(location)).status_code == 302
    integration = Integration.objects.get()
    [exchange] = grants(fake, "authorization_code")
    assert exchange["form"]["client_key"] == fake.client_id
    assert "client_id" not in exchange["form"]
    assert exchange["form"]["client_secret"] == CLIENT_SECRET

    assert call_api(integration, f"{fake.url}/api/me").status_code == 200
    tokens.refresh_integration(integration, force=True)
    [refresh] = grants(fake, "refresh_token")
    assert refresh["form"]["client_key"] == fake.client_id and "client_id" not in refresh["form"]

    result = tokens.disconnect(alice, integration)
    assert result.fully_revoked
    revokes = fake.requests_to("/revoke")
    assert len(revokes) == 2
    assert all(r["form"]["client_key"] == fake.client_id for r in revokes)
    assert CLIENT_SECRET not in all_logs.text


def test_without_client_id_param_the_provider_refuses(browser, fake):
    tiktok_like(fake)
    response = connect_through(browser)
    assert response.status_code == 400  # the provider's invalid_client, shown
    assert not Integration.objects.exists()
    assert grants(fake, "authorization_code") == []


@pytest.mark.parametrize("name", ["client key", "", "client_id&x=1", 7])
def test_a_bad_client_id_param_is_a_validation_error(name):
    provider = Provider(slug="bad", name="Bad", metadata={"client_id_param": name})
    assert "client_id_param" in clean_errors(provider)
    assert provider_quirks.client_id_param(provider) == "client_id"


# -- callback_params ---------------------------------------------------------------------


REALM = {
    "label": "Company id",
    "pattern": "[0-9]{1,20}",
    "example": "9341453474484455",
    "level": "connection",
}


def intuit_like(fake, **metadata):
    return make_provider(
        fake,
        base_url=f"{fake.url}/company/{{realm_id}}/",
        metadata={
            "url_params": {"realm_id": REALM},
            "callback_params": {"realmId": {"pattern": "[0-9]{1,20}", "as": "realm_id"}},
            **metadata,
        },
    )


def company_api(fake, realm):
    def answer(form, headers):
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not fake._live(token):
            return 401, {"error": "invalid_token"}
        return 200, {"realm": realm}

    fake.handlers[f"/company/{realm}/api"] = answer


def test_a_value_from_the_redirect_names_the_connection_end_to_end(browser, alice, fake):
    fake.callback_extra = {"realmId": "1234567890"}
    company_api(fake, "1234567890")
    intuit_like(fake)
    # No form: the user is never asked for the company id.
    response = browser.get("/integrations/connect/fake/")
    assert response.status_code == 302
    assert response["Location"].startswith(fake.authorize_url)
    assert callback(browser, **consent(response["Location"])).status_code == 302

    integration = Integration.objects.get()
    assert integration.metadata["url_values"] == {"realm_id": "1234567890"}
    assert api_base_url(integration) == f"{fake.url}/company/1234567890"
    answer = call_api(integration, f"{api_base_url(integration)}/api")
    assert answer.status_code == 200 and answer.json() == {"realm": "1234567890"}
    tokens.refresh_integration(integration, force=True)
    integration.refresh_from_db()
    assert integration.metadata["url_values"] == {"realm_id": "1234567890"}
    assert call_api(integration, f"{api_base_url(integration)}/api").status_code == 200
    assert tokens.disconnect(alice, integration).fully_revoked


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        (None, "callback_param_realm_id_missing"),
        ({"realmId": ""}, "callback_param_realm_id_missing"),
        ({"realmId": "12ab"}, "callback_param_realm_id_pattern"),
        ({"realmId": "1/../../evil"}, "callback_param_realm_id_unsafe"),
        ({"realmId": "evil.example.com"}, "callback_param_realm_id_pattern"),
        ({"realmId": "1" * 30}, "callback_param_realm_id_pattern"),
    ],
)
def test_a_bad_value_from_the_redirect_is_refused(browser, fake, extra, code, all_logs):
    fake.callback_extra = extra
    intuit_like(fake)
    response = connect_through(browser)
    assert response.status_code == 400
    assert not Integration.objects.exists()
    # Refused before the code is exchanged.
    assert grants(fake, "authorization_code") == []
    failure = AuditEvent.objects.filter(outcome=AuditEvent.Outcome.FAILURE).latest("created_at")
    assert code in failure.detail
    if extra and extra.get("realmId"):
        assert extra["realmId"] not in all_logs.text and extra["realmId"] not in failure.detail


def test_a_user_supplied_value_cannot_override_the_redirects(browser, fake):
    fake.callback_extra = {"realmId": "1234567890"}
    intuit_like(fake)
    location, _ = start(browser, **{"url-realm_id": "999"})
    assert callback(browser, **consent(location)).status_code == 302
    assert Integration.objects.get().metadata["url_values"] == {"realm_id": "1234567890"}


@pytest.mark.parametrize(
    ("callback_params", "complaint"),
    [
        ({"realmId": {"pattern": "[0-9]+", "as": "company"}}, "connection-level placeholder"),
        ({"realmId": {"pattern": "[0-9", "as": "realm_id"}}, "not a regular expression"),
        ({"realmId": {"as": "realm_id"}}, "needs a parameter name, a pattern and as"),
        ("realmId", "callback_params must be an object"),
    ],
)
def test_bad_callback_params_are_a_validation_error(fake, callback_params, complaint):
    provider = Provider(
        slug="bad",
        name="Bad",
        base_url="https://api.example.com/{realm_id}/",
        metadata={"url_params": {"realm_id": REALM}, "callback_params": callback_params},
    )
    assert complaint in clean_errors(provider)


# -- token_request format json ------------------------------------------------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_json_token_requests_end_to_end(browser, alice, fake, method, all_logs):
    fake.json_token_requests = True
    if method == "client_secret_basic":
        fake.require_client_auth = method
        fake.client_secret = CLIENT_SECRET
    make_provider(
        fake,
        base_url=f"{fake.url}/",
        metadata={"token_request": {"format": "json"}, "token_endpoint_auth_method": method},
    )
    assert connect_through(browser).status_code == 302
    integration = Integration.objects.get()
    [exchange] = grants(fake, "authorization_code")
    assert exchange["json"] and exchange["headers"]["Content-Type"] == "application/json"
    body = json.loads(exchange["body"])
    assert body["code"] and body["redirect_uri"].endswith("/integrations/callback/fake/")
    assert ("client_secret" in body) == (method == "client_secret_post")

    assert call_api(integration, f"{fake.url}/api/me").status_code == 200
    tokens.refresh_integration(integration, force=True)
    [refresh] = grants(fake, "refresh_token")
    assert refresh["json"] and json.loads(refresh["body"])["refresh_token"]
    assert call_api(integration, f"{fake.url}/api/me").status_code == 200
    assert tokens.disconnect(alice, integration).fully_revoked
    assert CLIENT_SECRET not in all_logs.text


def test_without_the_format_a_json_only_endpoint_refuses(browser, fake):
    fake.json_token_requests = True
    make_provider(fake)
    assert connect_through(browser).status_code == 502
    assert not Integration.objects.exists()
    [exchange] = grants(fake, "authorization_code")
    assert not exchange["json"]


@pytest.mark.parametrize("value", [{"format": "xml"}, "json", {"format": "json", "x": 1}])
def test_a_bad_token_request_is_a_validation_error(value):
    provider = Provider(slug="bad", name="Bad", metadata={"token_request": value})
    assert "token_request" in clean_errors(provider)


# -- signed revocation (OAuth 1.0a) -------------------------------------------------------


def test_oauth1_revocation_defaults_to_signed_and_oauth2_to_rfc7009():
    oauth1 = Provider(auth_type=Provider.AuthType.OAUTH1)
    assert provider_quirks.revocation(oauth1)["method"] == "signed"
    stored_before = Provider(auth_type="oauth1", metadata={"revocation": {"method": "rfc7009"}})
    assert provider_quirks.revocation(stored_before)["method"] == "signed"
    assert provider_quirks.revocation(Provider())["method"] == "rfc7009"


@pytest.mark.parametrize(
    ("auth_type", "method", "complaint"),
    [
        ("oauth2", "signed", "signed is for OAuth 1.0a providers only"),
        ("oauth1", "rfc7009", "revokes with signed or none"),
        ("oauth1", "bearer", "revokes with signed or none"),
    ],
)
def test_a_revocation_method_of_the_other_protocol_is_a_validation_error(
    auth_type, method, complaint
):
    provider = Provider(
        slug="bad", name="Bad", auth_type=auth_type, metadata={"revocation": {"method": method}}
    )
    assert complaint in clean_errors(provider)


def test_signed_on_an_oauth2_provider_sends_nothing_and_erases(browser, alice, fake, caplog):
    make_provider(fake)
    connect_through(browser)
    integration = Integration.objects.get()
    Provider.objects.filter(slug="fake").update(metadata={"revocation": {"method": "signed"}})
    result = tokens.disconnect(alice, integration)
    assert not result.fully_revoked
    assert result.failed == {"access_token": "revocation_method_invalid"}
    assert fake.requests_to("/revoke") == []
    integration.refresh_from_db()
    assert integration.status == "revoked" and integration.access_token is None
    assert "names signed revocation but is not OAuth 1.0a" in caplog.text


def test_the_authorization_url_keeps_its_other_parameters(browser, fake):
    tiktok_like(fake, client_id_param="client_key")
    location, _ = start(browser)
    query = parse_qs(urlsplit(location).query)
    assert set(query) >= {"client_key", "state", "redirect_uri", "response_type", "scope"}
    assert all(len(values) == 1 for values in query.values())


def test_userinfo_with_a_query_parameter_is_masked_in_logs(browser, fake, all_logs):
    fake.userinfo_token_query = "access_token"
    make_provider(
        fake, metadata={"access_token_placement": {"in": "query", "name": "access_token"}}
    )
    assert connect_through(browser).status_code == 302
    [sent] = fake.requests_to("/userinfo")
    assert "Authorization" not in sent["headers"]
    token = sent["form"]["access_token"]
    assert Integration.objects.get().external_account_id == "fake-user-1"
    # urllib3 logs the URL; the project's log filter masks the parameter there.
    assert token in all_logs.text
    assert token not in redact(all_logs.text)
