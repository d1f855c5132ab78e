"""Connect sessions for a provider whose URLs hold a connection-level
placeholder (a Shopify shop): the fake provider serves every endpoint under
``/t/{tenant}/``. The value comes in the API call (checked at creation) or is
asked for in the browser that opens the one-time URL, with the connect page's
pattern-checked form; either way it reaches the integration.
"""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from integrations import tokens
from integrations.models import AuditEvent, ConnectSession, Integration
from tests.oauth_helpers import consent, fake  # noqa: F401 (fixture)
from tests.test_provider_quirks_tenant import tenant_provider

pytestmark = pytest.mark.django_db

APP = "https://app.example"
RETURN = f"{APP}/done"


@pytest.fixture(autouse=True)
def allowed_origins(settings):
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "CONNECT_ALLOWED_ORIGINS": [APP]}


@pytest.fixture
def tenant(fake):
    fake.tenants = {"acme", "globex"}
    return tenant_provider(fake)


def create(api, **body):
    return api.post(
        "/api/connect-sessions/", {"provider": "fake", "return_url": RETURN, **body}, format="json"
    )


def path_of(url):
    return urlsplit(url).path


def query_of(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def finish_at_the_fake(browser, fake, authorize_url, tenant_name):
    assert authorize_url.startswith(f"{fake.url}/t/{tenant_name}/authorize?"), authorize_url
    response = browser.get("/integrations/callback/fake/", consent(authorize_url))
    assert response.status_code == 302, response.content
    return query_of(response["Location"])


def test_values_given_at_creation_carry_through_to_the_integration(alice_api, alice, tenant, fake):
    response = create(alice_api, url_values={"tenant": "acme"})
    assert response.status_code == 201, response.content
    assert ConnectSession.objects.get().url_values == {"tenant": "acme"}
    browser = Client()
    opened = browser.get(path_of(response.json()["url"]))
    assert opened.status_code == 302
    query = finish_at_the_fake(browser, fake, opened["Location"], "acme")
    assert query["outcome"] == "connected"
    integration = Integration.objects.get(owner=alice)
    assert query["integration_id"] == str(integration.pk)
    assert integration.metadata["url_values"] == {"tenant": "acme"}
    assert any(r["path"] == "/t/acme/token" for r in fake.requests)
    # Later calls go to the connection's own tenant.
    with tokens.session(integration, purpose="test", allowed_hosts="provider") as session:
        answer = session.get(f"{fake.url}/t/acme/api", timeout=10)
    assert answer.json()["tenant"] == "acme"


@pytest.mark.parametrize(
    "url_values",
    [
        {"tenant": "Not A Tenant"},  # pattern
        {"tenant": "../evil"},  # unsafe
        {"tenant": ""},
        {"tenant": "acme", "other": "x"},  # not declared
        {"other": "acme"},
    ],
)
def test_values_that_do_not_fit_are_refused_at_creation(alice_api, tenant, url_values):
    response = create(alice_api, url_values=url_values)
    assert response.status_code == 400
    body = response.content.decode()
    assert any(f.startswith("url_values") for f in response.json()["error"]["fields"])
    # The refused value is never echoed back.
    if url_values.get("tenant"):
        assert url_values["tenant"] not in body
    assert not ConnectSession.objects.exists()


def test_values_for_a_provider_without_placeholders_are_refused(alice_api, fake):
    from tests.oauth_helpers import make_provider

    make_provider(fake)
    response = create(alice_api, url_values={"tenant": "acme"})
    assert response.status_code == 400
    assert not ConnectSession.objects.exists()


def test_without_values_the_browser_is_asked_with_the_checked_form(alice_api, alice, tenant, fake):
    response = create(alice_api)
    assert response.status_code == 201, response.content
    browser = Client()
    opened = browser.get(path_of(response.json()["url"]))
    assert opened.status_code == 302
    form_url = opened["Location"]
    assert form_url.endswith("/values/")
    assert not any("/t/" in r["path"] for r in fake.requests)  # nothing started yet
    page = browser.get(form_url)
    assert page.status_code == 200
    assert b'name="url-tenant"' in page.content and b"Your shop" in page.content
    # Another browser cannot use it.
    assert Client().get(form_url).status_code == 404
    # A value off the pattern is refused by the same form, nothing starts.
    bad = browser.post(form_url, {"url-tenant": "ACME corp"})
    assert bad.status_code == 400 and b"acme" in bad.content  # the example is shown
    assert not any("/t/" in r["path"] for r in fake.requests)
    good = browser.post(form_url, {"url-tenant": "globex"})
    assert good.status_code == 302
    query = finish_at_the_fake(browser, fake, good["Location"], "globex")
    assert query["outcome"] == "connected"
    integration = Integration.objects.get(owner=alice)
    assert integration.metadata["url_values"] == {"tenant": "globex"}
    # The form is single use.
    assert browser.post(form_url, {"url-tenant": "acme"}).status_code == 404


def test_cancelling_the_form_returns_denied(alice_api, tenant):
    browser = Client()
    opened = browser.get(path_of(create(alice_api).json()["url"]))
    response = browser.post(opened["Location"], {"cancel": "1"})
    assert response.status_code == 302
    assert query_of(response["Location"])["outcome"] == "denied"
    assert not Integration.objects.exists()


def test_a_reconnect_reuses_the_integrations_values(alice_api, alice, tenant, fake):
    browser = Client()
    opened = browser.get(path_of(create(alice_api, url_values={"tenant": "acme"}).json()["url"]))
    finish_at_the_fake(browser, fake, opened["Location"], "acme")
    integration = Integration.objects.get()
    response = alice_api.post(
        "/api/connect-sessions/",
        {"integration": str(integration.pk), "return_url": RETURN},
        format="json",
    )
    assert response.status_code == 201, response.content
    again = Client()
    opened = again.get(path_of(response.json()["url"]))
    assert opened.status_code == 302
    query = finish_at_the_fake(again, fake, opened["Location"], "acme")
    assert query["outcome"] == "connected" and query["integration_id"] == str(integration.pk)


def test_the_refused_form_is_audited(alice_api, tenant):
    browser = Client()
    opened = browser.get(path_of(create(alice_api).json()["url"]))
    Client().post(opened["Location"], {"url-tenant": "acme"})
    assert list(
        AuditEvent.objects.filter(action="connect_refused").values_list("detail", flat=True)
    ) == ["not_this_browser"]
