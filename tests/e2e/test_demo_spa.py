"""The demo project's "Connect from a single-page app" page (``make run``), in a
real browser: signed in, the user opens it from the home page, picks the demo
provider and clicks Connect; the page's script gets a short-lived API token,
creates a popup connect session with fetch, revokes the token and opens the
popup with connect.js; the user consents at the demo provider and the page
shows the result."""

import json
import os

import pytest
from django.test import Client
from knox.models import AuthToken

from config.demo_provider.registration import register_demo_provider
from integrations.models import AuditEvent, ConnectSession, Integration
from tests.e2e.browser import running_chromium, sync_playwright_or_skip

sync_playwright = sync_playwright_or_skip()
from playwright.sync_api import expect  # noqa: E402  (after the skip check)

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery-1"


@pytest.fixture(scope="module")
def chromium():
    with running_chromium() as browser:
        yield browser


@pytest.fixture
def site(live_server, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    settings.INTEGRATIONS = {
        **settings.INTEGRATIONS,
        "CONNECT_ALLOWED_ORIGINS": [live_server.url],
    }
    register_demo_provider(live_server.url)
    return live_server.url


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(
        "alice", email="alice@demo.test", password=PASSWORD
    )


@pytest.fixture
def page(chromium, site):
    context = chromium.new_context(locale="en-US")
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


def test_the_demo_spa_page_connects_through_a_connect_session(page, site, alice):
    page.goto(f"{site}/accounts/login/?next=/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator("#demo-spa-link").click()
    expect(page.get_by_role("heading", name="Connect from a single-page app")).to_be_visible()
    assert page.locator("[role=alert]").count() == 0  # the origin is allowed
    page.get_by_label("Provider").select_option("demo")

    expect(page.locator("#spa[data-ready]")).to_have_count(1)  # its script is on
    with page.expect_popup() as popup_info:
        page.get_by_role("button", name="Connect").click()
    popup = popup_info.value
    # Signed in here already: the demo provider goes straight to its consent page.
    expect(popup.get_by_text("Authorize Sealed Integrations demo?")).to_be_visible()
    popup.get_by_role("button", name="Authorize").click()

    result = page.locator("#spa-result")
    expect(result).to_contain_text('"outcome": "connected"')
    answer = json.loads(result.text_content())
    integration = Integration.objects.get(owner=alice, provider__slug="demo")
    assert answer["integration_id"] == str(integration.pk)
    assert answer["provider"] == "demo" and answer["error"] == ""
    assert integration.host_metadata == {"demo": "single-page app"}
    session = ConnectSession.objects.get(pk=answer["connect_session_id"])
    assert session.mode == "popup" and session.origin == site and session.outcome == "connected"
    # The page's API token was short-lived and is revoked already; it never was in the page.
    assert not AuthToken.objects.filter(user=alice).exists()
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert "api_token_created" in actions and "api_token_revoked" in actions
    assert "Token " not in page.content()


def test_the_page_says_when_its_origin_is_not_allowed(page, site, alice, settings):
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "CONNECT_ALLOWED_ORIGINS": []}
    page.goto(f"{site}/accounts/login/?next=/demo/spa/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("[role=alert]")).to_contain_text("CONNECT_ALLOWED_ORIGINS")
    expect(page.locator("#spa[data-ready]")).to_have_count(1)  # its script is on
    page.get_by_role("button", name="Connect").click()
    expect(page.locator("#spa-result")).to_contain_text("origin")
    assert not ConnectSession.objects.exists()


def test_the_token_endpoint_needs_a_signed_in_csrf_checked_post(alice, site):
    assert Client().post("/demo/spa/token/").status_code == 302  # to the login page
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.get("/demo/spa/token/").status_code == 405
    assert browser.post("/demo/spa/token/").status_code == 403  # no CSRF token
    assert not AuthToken.objects.exists()
    page = browser.get("/demo/spa/")
    csrf = page.cookies["csrftoken"].value
    response = browser.post("/demo/spa/token/", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = AuthToken.objects.get(user=alice)
    lifetime = token.expiry - token.created
    assert 0 < lifetime.total_seconds() <= 5 * 60


def test_the_demo_settings_allow_the_dev_servers_origin():
    """``make run`` passes DEMO_BASE_URL (its HOST and PORT); the demo settings
    allow that origin and its 127.0.0.1/localhost twin, and nothing with the
    demo off."""
    import subprocess
    import sys

    code = (
        "import config.settings as s; import json; "
        "print(json.dumps(s.INTEGRATIONS['CONNECT_ALLOWED_ORIGINS']))"
    )

    def origins(**env):
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("DEMO_", "CONNECT_"))}
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**clean, "DEBUG": "true", **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return json.loads(out.strip().splitlines()[-1])

    assert origins(DEMO_BASE_URL="http://127.0.0.1:8123") == [
        "http://127.0.0.1:8123",
        "http://localhost:8123",
    ]
    assert origins() == ["http://127.0.0.1:8000", "http://localhost:8000"]
    assert origins(DEMO_BASE_URL="http://0.0.0.0:9000") == ["http://0.0.0.0:9000"]
    assert origins(DEMO_PROVIDER="false") == []
    assert origins(CONNECT_ALLOWED_ORIGINS="https://app.example") == ["https://app.example"]


def test_the_home_page_links_the_demo_spa(alice, site):
    browser = Client()
    browser.force_login(alice)
    assert b'href="/demo/spa/"' in browser.get("/").content
