"""A connect session driven from a page on another origin, in a real browser.

The "single-page app" is a page served by a tiny HTTP server of its own
(``http://127.0.0.1:<port>``, another origin than the live server's
``http://localhost:<port>``, and another cookie jar). Its back end (this test)
asks ``POST /api/connect-sessions/`` for a popup session with an API token over
real HTTP; the page loads ``integrations/connect.js`` from the live server,
opens the popup, the user signs in and consents at the demo provider, and the
Promise resolves with ``connected`` and the integration's id.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests
from django.middleware.security import SecurityMiddleware

from config.demo_provider.registration import register_demo_provider
from integrations.api.api_tokens import create_api_token
from integrations.models import AuditEvent, ConnectSession, Integration
from tests.e2e.browser import running_chromium, sync_playwright_or_skip

sync_playwright = sync_playwright_or_skip()
from playwright.sync_api import expect  # noqa: E402  (after the skip check)

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery-1"
# The demo authorization server's own pages (sign-in and consent) on the live server.
PROVIDER_PAGES = ("/o/", "/accounts/")

SPA_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>The app</title></head>
<body>
<button id="connect">Connect Demo</button>
<output id="result"></output>
<script src="%(site)s/static/integrations/connect.js"></script>
<script>
document.getElementById("connect").addEventListener("click", function () {
  var out = document.getElementById("result");
  SealedIntegrations.connect(%(url)s).then(function (result) {
    out.textContent = JSON.stringify(result);
  }, function (error) {
    out.textContent = "rejected:" + error.message;
  });
});
// A message from this page itself (not the popup) must be ignored by connect.js.
window.forge = function () {
  window.postMessage({type: "sealed-integrations:connect", outcome: "connected",
                      integration_id: "forged"}, "*");
};
</script>
</body></html>
"""


@pytest.fixture(scope="module")
def chromium():
    with running_chromium() as browser:
        yield browser


class SPA:
    """A one-page site on its own origin; ``html`` is what it serves."""

    def __init__(self):
        self.html = ""
        spa = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = spa.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def spa():
    server = SPA()
    yield server
    server.stop()


@pytest.fixture
def site(live_server, spa, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "CONNECT_ALLOWED_ORIGINS": [spa.origin]}
    register_demo_provider(live_server.url)
    return live_server.url


@pytest.fixture(autouse=True)
def provider_pages_keep_the_opener(monkeypatch):
    """The demo authorization server shares this site, whose pages send
    Cross-Origin-Opener-Policy: same-origin (Django's default): in a popup that
    cuts the window off from its opener. A provider's sign-in and consent pages
    meant for popups do not send it, so the demo's are served without it here.
    The connect-session pages are left alone: they send unsafe-none themselves."""
    original = SecurityMiddleware.process_response

    def process_response(self, request, response):
        response = original(self, request, response)
        if request.path.startswith(PROVIDER_PAGES):
            del response["Cross-Origin-Opener-Policy"]
        return response

    monkeypatch.setattr(SecurityMiddleware, "process_response", process_response)


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(
        "alice", email="alice@demo.test", password=PASSWORD
    )


@pytest.fixture
def page(chromium, site, spa):
    context = chromium.new_context(locale="en-US")
    allowed = {urlsplit(site).netloc, urlsplit(spa.origin).netloc}

    def only_the_two_servers(route):
        parts = urlsplit(route.request.url)
        if parts.netloc not in allowed:
            route.abort()
        else:
            route.continue_()

    context.route("**/*", only_the_two_servers)
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


def new_session(site, user, **body):
    token, _expires = create_api_token(user)
    response = requests.post(
        f"{site}/api/connect-sessions/",
        json=body,
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_a_page_on_another_origin_connects_through_a_popup(page, site, spa, alice):
    session = new_session(
        site, alice, provider="demo", mode="popup", origin=spa.origin, metadata={"store": "s-1"}
    )
    spa.html = SPA_PAGE % {"site": site, "url": json.dumps(session["url"])}
    page.goto(spa.origin + "/")
    assert page.evaluate("typeof SealedIntegrations.connect") == "function"

    with page.expect_popup() as popup_info:
        page.get_by_role("button", name="Connect Demo").click()
    popup = popup_info.value
    # A message from anyone but the popup is ignored while it is open.
    page.evaluate("window.forge()")

    # The popup has no session of the site: the demo provider asks alice to sign in.
    popup.get_by_label("Username").fill("alice")
    popup.get_by_label("Password").fill(PASSWORD)
    popup.get_by_role("button", name="Log in").click()
    expect(popup.get_by_text("Authorize Sealed Integrations demo?")).to_be_visible()
    popup.get_by_role("button", name="Authorize").click()

    result = page.locator("#result")
    expect(result).not_to_be_empty()
    answer = json.loads(result.text_content())
    integration = Integration.objects.get(owner=alice, provider__slug="demo")
    assert answer["outcome"] == "connected", answer
    assert answer["integration_id"] == str(integration.pk)
    assert answer["connect_session_id"] == session["id"]
    assert answer["error"] == "" and answer["provider"] == "demo"
    assert integration.host_metadata == {"store": "s-1"}
    assert ConnectSession.objects.get(pk=session["id"]).outcome == "connected"
    # connect.js (or the result page itself) closes the popup.
    for _ in range(100):
        if popup.is_closed():
            break
        page.wait_for_timeout(100)
    assert popup.is_closed()


def test_a_replayed_popup_url_reports_failed_and_is_audited(page, site, spa, alice):
    session = new_session(site, alice, provider="demo", mode="popup", origin=spa.origin)
    assert requests.get(session["url"], allow_redirects=False, timeout=30).status_code == 302
    spa.html = SPA_PAGE % {"site": site, "url": json.dumps(session["url"])}
    page.goto(spa.origin + "/")
    with page.expect_popup():
        page.get_by_role("button", name="Connect Demo").click()
    result = page.locator("#result")
    expect(result).not_to_be_empty()
    answer = json.loads(result.text_content())
    assert answer["outcome"] == "failed" and answer["error"] == "replayed"
    assert AuditEvent.objects.filter(action="connect_refused", detail="replayed").count() == 1
