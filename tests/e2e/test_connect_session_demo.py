"""Connect sessions end to end over real HTTP against the demo authorization
servers (OAuth 2 and OAuth 1.0a) on the live server: the API user asks for a
session with an API token, a browser with no session of the site opens the
one-time URL, signs in at the demo provider (which shares the site) and
consents, and is sent back to the app's return_url with the outcome.
"""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from config.demo_provider.registration import register_demo_oauth1_provider, register_demo_provider
from integrations.api.api_tokens import create_api_token
from integrations.models import ConnectSession, Integration
from tests.e2e.test_demo_provider import PASSWORD, Browser, inputs

pytestmark = pytest.mark.django_db(transaction=True)

APP = "https://app.example"


@pytest.fixture
def site(live_server, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "CONNECT_ALLOWED_ORIGINS": [APP]}
    return live_server.url


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(
        "alice", email="alice@demo.test", password=PASSWORD
    )


def new_session(site, user, **body):
    token, _expires = create_api_token(user)
    response = requests.post(
        f"{site}/api/connect-sessions/",
        json={"return_url": f"{APP}/back", **body},
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()


def query_of(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def open_and_sign_in(site, url):
    """A browser with no session opens the URL, then signs in at the demo provider."""
    browser = Browser(site)
    response = browser.get(url)
    assert response.status_code == 302, response.text
    authorize_url = response.headers["Location"]
    assert "sessionid" in browser.session.cookies  # an anonymous session holds the state
    browser.login("alice")  # at the demo provider, which shares the site
    return browser, authorize_url


def test_oauth2_connect_session_against_the_demo_provider(site, alice):
    provider, _ = register_demo_provider(site)
    session = new_session(site, alice, provider="demo", metadata={"workspace": "w-9"})
    browser, authorize_url = open_and_sign_in(site, session["url"])
    consent_page = browser.get(authorize_url)
    assert consent_page.status_code == 200
    fields = inputs(consent_page.text)
    fields.pop("csrfmiddlewaretoken", None)
    fields["allow"] = "Authorize"
    callback_url = browser.post(authorize_url, fields).headers["Location"]
    response = browser.get(callback_url)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(f"{APP}/back?")
    integration = Integration.objects.get(owner=alice, provider=provider)
    assert query_of(location) == {
        "connect_session_id": session["id"],
        "outcome": "connected",
        "integration_id": str(integration.pk),
    }
    assert integration.host_metadata == {"workspace": "w-9"}
    assert integration.label == "alice@demo.test"
    # No token reached the browser at any step of the site's.
    access_token = str(integration.access_token)
    assert len(access_token) > 20
    assert access_token not in "".join(browser.seen) + location


def test_oauth1_connect_session_against_the_demo_provider(site, alice):
    provider, _ = register_demo_oauth1_provider(site)
    session = new_session(site, alice, provider="demo-oauth1")
    browser, authorize_url = open_and_sign_in(site, session["url"])
    assert browser.get(authorize_url).status_code == 200
    callback_url = browser.post(authorize_url, {"allow": "Authorize"}).headers["Location"]
    response = browser.get(callback_url)
    location = response.headers["Location"]
    integration = Integration.objects.get(owner=alice, provider=provider)
    assert query_of(location)["outcome"] == "connected"
    assert query_of(location)["integration_id"] == str(integration.pk)
    assert ConnectSession.objects.get(pk=session["id"]).integration == integration


def test_oauth1_connect_session_denied_at_the_provider(site, alice):
    register_demo_oauth1_provider(site)
    session = new_session(site, alice, provider="demo-oauth1")
    browser, authorize_url = open_and_sign_in(site, session["url"])
    assert browser.get(authorize_url).status_code == 200
    callback_url = browser.post(authorize_url, {"deny": "Deny"}).headers["Location"]
    response = browser.get(callback_url)
    query = query_of(response.headers["Location"])
    assert query["outcome"] == "denied" and query["error"] == "access_denied"
    assert not Integration.objects.exists()
