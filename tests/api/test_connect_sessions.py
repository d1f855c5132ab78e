"""Connect sessions: POST /api/connect-sessions/ and its one-time URL, opened by
a browser with no session of this site (Django's test client), against the
loopback fake provider over real HTTP.
"""

import json
import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from integrations import connect_sessions, oauth_flow
from integrations.models import AuditEvent, ConnectSession, Credential, Integration, Provider
from tests.oauth_helpers import connected, consent, fake, make_provider  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

APP = "https://app.example"
RETURN = f"{APP}/integrations/done?keep=1"


@pytest.fixture(autouse=True)
def allowed_origins(settings):
    settings.INTEGRATIONS = {
        **settings.INTEGRATIONS,
        "CONNECT_ALLOWED_ORIGINS": [APP, "http://localhost:8123"],
    }


@pytest.fixture
def provider(fake):
    return make_provider(fake)


def create(api, **body):
    body.setdefault("provider", "fake")
    body.setdefault("return_url", RETURN)
    return api.post("/api/connect-sessions/", body, format="json")


def new_url(api, **body):
    response = create(api, **body)
    assert response.status_code == 201, response.content
    return response.json()["url"]


def path_of(url):
    return urlsplit(url).path


def query_of(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def refusals():
    return list(
        AuditEvent.objects.filter(action="connect_refused").values_list("detail", flat=True)
    )


def open_url(url, browser=None):
    browser = browser or Client()
    return browser, browser.get(path_of(url))


def run_flow(api, fake, browser=None, **body):
    """Create, open, consent at the fake provider, come back: the final response."""
    browser, response = open_url(new_url(api, **body), browser)
    assert response.status_code == 302, response.content
    assert response["Location"].startswith(fake.authorize_url + "?")
    back = consent(response["Location"])
    return browser, browser.get("/integrations/callback/fake/", back)


# -- creating ---------------------------------------------------------------------


def test_creating_needs_an_api_token(anon_api, provider):
    response = create(anon_api)
    assert response.status_code == 401
    assert not ConnectSession.objects.exists()


def test_create_answers_a_one_time_url_and_expiry_and_stores_only_a_digest(
    alice_api, alice, provider, settings
):
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "CONNECT_SESSION_TTL_SECONDS": 120}
    before = timezone.now()
    response = create(alice_api, metadata={"store_id": "s-42"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "url", "expires_at", "mode", "provider", "integration"}
    assert body["url"].startswith("http://testserver/integrations/connect-session/")
    assert body["mode"] == "redirect" and body["provider"] == "fake"
    token = path_of(body["url"]).rstrip("/").rsplit("/", 1)[1]
    assert len(token) >= 43
    session = ConnectSession.objects.get(pk=body["id"])
    assert session.user == alice and session.metadata == {"store_id": "s-42"}
    assert session.origin == APP and session.return_url == RETURN
    assert timedelta(seconds=115) < session.expires_at - before <= timedelta(seconds=121)
    stored = json.dumps(list(ConnectSession.objects.values()), default=str)
    assert token not in stored
    assert session.token_digest == connect_sessions.token_digest(token)
    event = AuditEvent.objects.get(action="connect_session")
    assert event.actor == alice and token not in event.detail


def test_unknown_or_inactive_provider_is_refused(alice_api, provider):
    assert create(alice_api, provider="nope").status_code == 400
    provider.status = Provider.Status.INACTIVE
    provider.save()
    response = create(alice_api)
    assert response.status_code == 400
    assert "provider" in response.json()["error"]["fields"]
    assert not ConnectSession.objects.exists()


@pytest.mark.parametrize(
    "return_url",
    [
        "https://evil.example/done",
        "https://app.example.evil.test/done",  # a lookalike host
        "http://app.example/done",  # another scheme
        "https://app.example:8443/done",  # another port
        "https://user@app.example/done",  # user info
        "https://evil.example\\@app.example/",
        "//app.example/done",  # scheme-relative
        "/done",  # relative
        "javascript:alert(1)//https://app.example",
        "http://localhost:8124/",
    ],
)
def test_return_url_off_the_allowed_origins_is_refused_and_audited(
    alice_api, alice, provider, return_url
):
    response = create(alice_api, return_url=return_url)
    assert response.status_code == 400, response.content
    assert "return_url" in response.json()["error"]["fields"]
    assert not ConnectSession.objects.exists()
    assert refusals() == ["origin_not_allowed"]
    assert AuditEvent.objects.get(action="connect_refused").actor == alice


def test_allowed_origins_match_exactly_with_the_default_port(alice_api, provider):
    assert create(alice_api, return_url="https://APP.example:443/x").status_code == 201
    assert create(alice_api, return_url="http://localhost:8123/cb").status_code == 201


def test_an_allowed_entry_that_is_not_an_origin_allows_nothing(alice_api, provider, settings):
    settings.INTEGRATIONS = {
        **settings.INTEGRATIONS,
        "CONNECT_ALLOWED_ORIGINS": [f"{APP}/path", f"{APP}?q", "*", "app.example"],
    }
    assert create(alice_api).status_code == 400
    assert connect_sessions.allowed_origins() == set()


def test_popup_origin_must_be_allowed(alice_api, provider):
    refused = create(alice_api, mode="popup", return_url="", origin="https://evil.example")
    assert refused.status_code == 400 and "origin" in refused.json()["error"]["fields"]
    with_path = create(alice_api, mode="popup", return_url="", origin=f"{APP}/path")
    assert with_path.status_code == 400
    assert create(alice_api, mode="popup", return_url="", origin="*").status_code == 400
    assert create(alice_api, mode="popup", return_url="", origin=f"{APP}?x=1").status_code == 400
    assert create(alice_api, mode="popup", return_url="").status_code == 400  # no origin at all
    assert refusals() == ["origin_not_allowed"] * 5
    ok = create(alice_api, mode="popup", return_url="", origin=APP)
    assert ok.status_code == 201 and ok.json()["mode"] == "popup"


def test_redirect_mode_needs_a_return_url(alice_api, provider):
    response = create(alice_api, return_url="")
    assert response.status_code == 400 and "return_url" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    "metadata",
    [
        ["not", "an", "object"],
        "text",
        {"big": "x" * (16 * 1024 + 1)},
        {"deep": json.loads("[" * 12 + "]" * 12)},
        {"nul": "a\u0000b"},
        {f"k{i}": i for i in range(51)},
        {"": "empty key"},
    ],
)
def test_metadata_beyond_the_limits_is_refused(alice_api, provider, metadata):
    response = create(alice_api, metadata=metadata)
    assert response.status_code == 400, response.content
    assert "metadata" in response.json()["error"]["fields"]
    assert "x" * 100 not in response.content.decode()  # the value is not echoed
    assert not ConnectSession.objects.exists()


@pytest.mark.parametrize(
    "tags", ["shop-1", ["Not A Slug"], ["x"] * 0 + [f"t{i}" for i in range(21)]]
)
def test_tags_beyond_the_limits_are_refused(alice_api, provider, tags):
    response = create(alice_api, tags=tags)
    assert response.status_code == 400, response.content
    assert "tags" in response.json()["error"]["fields"]
    assert not ConnectSession.objects.exists()


def test_another_users_integration_cannot_be_reconnected(alice_api, bob_api, alice, provider):
    integration = connected(alice, provider)
    response = create(bob_api, provider="", integration=str(integration.pk))
    assert response.status_code == 400
    assert "integration" in response.json()["error"]["fields"]
    assert refusals() == ["other_users_integration"]
    assert not ConnectSession.objects.exists()


# -- the flow -----------------------------------------------------------------------


def test_the_url_runs_the_flow_for_the_api_user_without_logging_anyone_in(
    alice_api, alice, provider, fake
):
    browser, response = run_flow(
        alice_api, fake, metadata={"store_id": "s-42"}, tags=["shop-42", "eu"]
    )
    assert response.status_code == 302, response.content
    assert response["Referrer-Policy"] == "no-referrer"
    # Not a popup: the project's opener policy stands (Django's same-origin).
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    location = response["Location"]
    assert location.startswith(f"{APP}/integrations/done?")
    query = query_of(location)
    integration = Integration.objects.get(owner=alice, provider=provider)
    assert query["keep"] == "1"
    assert query["outcome"] == "connected"
    assert query["integration_id"] == str(integration.pk)
    assert "error" not in query
    # The host app's ids go to its own columns; the app's metadata keeps the identity.
    assert integration.host_metadata == {"store_id": "s-42"}
    assert integration.tags == ["shop-42", "eu"]
    assert "store_id" not in integration.metadata
    assert integration.metadata["identity"]["sub"] == "fake-user-1"
    assert "fake-access" not in location
    session = ConnectSession.objects.get()
    assert session.outcome == "connected" and session.integration == integration
    # Nobody was logged in: the browser's session is anonymous.
    assert "_auth_user_id" not in browser.session
    assert browser.get("/integrations/")["Location"].startswith("/accounts/login/")


def test_the_callback_is_still_the_users_own_without_a_connect_session(provider, fake, alice):
    browser = Client()
    browser.force_login(alice)
    response = browser.get("/integrations/connect/fake/")
    back = consent(response["Location"])
    response = browser.get("/integrations/callback/fake/", back)
    integration = Integration.objects.get(owner=alice)
    assert response["Location"] == f"/integrations/result/{integration.pk}/"


def test_a_replayed_url_is_refused_and_audited(alice_api, alice, provider, fake):
    url = new_url(alice_api)
    _, first = open_url(url)
    assert first["Location"].startswith(fake.authorize_url)
    _, again = open_url(url)
    assert again.status_code == 302
    assert query_of(again["Location"]) == {
        "keep": "1",
        "connect_session_id": str(ConnectSession.objects.get().pk),
        "outcome": "failed",
        "error": "replayed",
    }
    assert refusals() == ["replayed"]
    assert AuditEvent.objects.get(action="connect_refused").actor == alice


def test_an_expired_url_is_refused_and_audited(alice_api, provider):
    url = new_url(alice_api)
    ConnectSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    _, response = open_url(url)
    assert query_of(response["Location"])["error"] == "expired"
    assert query_of(response["Location"])["outcome"] == "failed"
    assert refusals() == ["expired"]
    assert ConnectSession.objects.get().outcome == "failed"


def test_a_deactivated_user_or_provider_is_refused_when_opened(alice_api, alice, provider):
    url = new_url(alice_api)
    later = new_url(alice_api)
    alice.is_active = False
    alice.save()
    _, response = open_url(url)
    assert query_of(response["Location"])["error"] == "user_inactive"
    alice.is_active = True
    alice.save()
    Provider.objects.update(status=Provider.Status.INACTIVE)
    _, response = open_url(later)
    assert query_of(response["Location"])["error"] == "provider_unavailable"
    assert sorted(refusals()) == ["provider_unavailable", "user_inactive"]


def test_an_unknown_token_is_a_404_and_audited(provider):
    response = Client().get("/integrations/connect-session/not-a-real-token/", follow=True)
    assert response.redirect_chain == [("/integrations/connect-session/refused/unknown/", 302)]
    assert response.status_code == 404
    assert refusals() == ["unknown"]


def test_a_browser_signed_in_as_another_user_is_refused(alice_api, bob, provider, fake, caplog):
    url = new_url(alice_api)
    bobs_browser = Client()
    bobs_browser.force_login(bob)
    # As Django's default logging does (this project's logs only errors there).
    caplog.set_level("WARNING", logger="django.request")
    response = bobs_browser.get(path_of(url), follow=True)
    assert response.status_code == 403
    assert response.redirect_chain == [("/integrations/connect-session/refused/wrong_user/", 302)]
    # The 403 Django logs names the refusal page, not the still valid one-time URL.
    assert "Forbidden" in caplog.text and path_of(url) not in caplog.text
    assert refusals() == ["wrong_user"]
    assert AuditEvent.objects.get(action="connect_refused").actor == bob
    # Not burned: the browser it was meant for can still use it.
    _, response = open_url(url)
    assert response["Location"].startswith(fake.authorize_url)


def test_a_callback_in_a_browser_signed_in_as_another_user_is_refused(
    alice_api, bob, provider, fake
):
    browser, response = open_url(new_url(alice_api))
    back = consent(response["Location"])
    browser.force_login(bob)  # the pending entry stays in the (cycled) session
    response = browser.get("/integrations/callback/fake/", back)
    assert response.status_code == 403
    assert refusals() == ["wrong_user"]
    assert not Integration.objects.exists()


def test_denied_at_the_provider_returns_denied(alice_api, provider, fake):
    browser, response = open_url(new_url(alice_api))
    state = query_of(response["Location"])["state"]
    response = browser.get(
        "/integrations/callback/fake/", {"error": "access_denied", "state": state}
    )
    query = query_of(response["Location"])
    assert query["outcome"] == "denied" and query["error"] == "access_denied"
    assert "integration_id" not in query
    assert not Integration.objects.exists()
    assert ConnectSession.objects.get().outcome == "denied"


def test_a_callback_after_the_state_expired_returns_failed(alice_api, provider, fake, monkeypatch):
    browser, response = open_url(new_url(alice_api))
    back = consent(response["Location"])
    later = oauth_flow._now() + 601
    monkeypatch.setattr(oauth_flow, "_now", lambda: later)
    response = browser.get("/integrations/callback/fake/", back)
    query = query_of(response["Location"])
    assert query["outcome"] == "failed" and query["error"] == "state_expired"
    assert not Integration.objects.exists()
    assert fake.requests_to("/token") == []  # refused before the code exchange


def test_a_provider_failure_returns_failed_with_a_code(alice_api, provider, fake):
    fake.script("/token", 500, {"error": "server_error"}, times=3)
    _, response = run_flow(alice_api, fake)
    query = query_of(response["Location"])
    assert query["outcome"] == "failed" and query["error"]
    assert not Integration.objects.exists()


def test_a_second_callback_for_a_finished_session_is_refused(alice_api, provider, fake):
    browser, response = open_url(new_url(alice_api))
    back = consent(response["Location"])
    assert browser.get("/integrations/callback/fake/", back).status_code == 302
    # The state is used up: the same callback again is not a connect session's any more.
    again = browser.get("/integrations/callback/fake/", back)
    assert again.status_code == 302 and again["Location"].startswith("/accounts/login/")
    assert Integration.objects.count() == 1


def test_reconnect_updates_the_same_integration(alice_api, alice, provider, fake):
    integration = connected(alice, provider, external_account_id="fake-user-1")
    Integration.objects.filter(pk=integration.pk).update(status="needs_reauth")
    _, response = run_flow(alice_api, fake, provider="", integration=str(integration.pk))
    query = query_of(response["Location"])
    assert query["outcome"] == "connected" and query["integration_id"] == str(integration.pk)
    integration.refresh_from_db()
    assert integration.status == "active"
    assert Integration.objects.count() == 1


def test_reconnect_with_another_account_changes_nothing(alice_api, alice, provider, fake):
    integration = connected(alice, provider, external_account_id="someone-else")
    Integration.objects.filter(pk=integration.pk).update(status="needs_reauth")
    _, response = run_flow(alice_api, fake, provider="", integration=str(integration.pk))
    query = query_of(response["Location"])
    assert query["outcome"] == "failed" and query["error"] == "wrong_account"
    integration.refresh_from_db()
    assert integration.status == "needs_reauth" and Integration.objects.count() == 1


def test_popup_mode_posts_the_result_to_the_exact_origin(alice_api, provider, fake):
    _, response = run_flow(alice_api, fake, mode="popup", return_url="", origin=APP)
    assert response.status_code == 200
    html = response.content.decode()
    integration = Integration.objects.get()
    assert f'data-origin="{APP}"' in html
    assert "/static/integrations/connect-result.js" in html
    # CSP-friendly: one static script, no inline code, and the header forbids any.
    assert html.count("<script") == 1 and "<script>" not in html
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["Cross-Origin-Opener-Policy"] == "unsafe-none"
    assert str(integration.pk) in html and "connected" in html
    assert "fake-access" not in html and "fake-refresh" not in html


def test_connect_result_script_posts_only_to_the_named_origin():
    from django.contrib.staticfiles import finders

    script = open(finders.find("integrations/connect-result.js")).read()
    assert "postMessage(result, origin)" in script and '"*"' in script  # refuses "*"
    spa = open(finders.find("integrations/connect.js")).read()
    assert "event.origin !== serverOrigin" in spa and "event.source !== popup" in spa


# -- hosted form (API key, basic, bearer) ----------------------------------------------


@pytest.fixture
def keyed(db):
    return Provider.objects.create(slug="keyed", name="Keyed", auth_type="api_key")


def test_api_key_provider_gets_a_hosted_form(alice_api, alice, keyed):
    url = new_url(alice_api, provider="keyed")
    browser, response = open_url(url)
    form_url = response["Location"]
    assert form_url.startswith("/integrations/connect-session/") and form_url.endswith("/form/")
    page = browser.get(form_url)
    assert page.status_code == 200 and b'name="api_key"' in page.content
    # Another browser cannot use it.
    assert Client().get(form_url).status_code == 404
    assert refusals() == ["not_this_browser"]
    secret = "sk-hosted-form-0123456789abcdef"
    response = browser.post(form_url, {"name": "Keyed live", "api_key": secret})
    assert response.status_code == 302, response.content
    query = query_of(response["Location"])
    credential = Credential.objects.get(owner=alice)
    assert query["outcome"] == "connected" and query["credential_id"] == str(credential.pk)
    assert credential.provider == keyed
    assert secret not in response["Location"]
    # Single use: the form is gone once it saved.
    assert browser.post(form_url, {"name": "Again", "api_key": secret}).status_code == 404
    assert Credential.objects.count() == 1


def test_hosted_form_cancel_returns_denied(alice_api, keyed):
    browser, response = open_url(new_url(alice_api, provider="keyed"))
    response = browser.post(response["Location"], {"cancel": "1"})
    assert query_of(response["Location"])["outcome"] == "denied"
    assert not Credential.objects.exists()


# -- one flow per URL, across threads ---------------------------------------------------


class _AllReadFirst:
    """``timezone`` for connect_sessions whose ``now()`` (called once a claim has
    read the row, before it writes) waits for every caller: all of them see the
    session unused, so only the conditional UPDATE can keep it single use."""

    def __init__(self, callers):
        self.barrier = threading.Barrier(callers)

    def now(self):
        try:
            self.barrier.wait(timeout=10)
        except threading.BrokenBarrierError:
            pass
        return timezone.now()


@pytest.mark.django_db(transaction=True)
def test_concurrent_opens_start_exactly_one_flow(alice, provider, fake, monkeypatch):
    from tests.api.conftest import _client

    url = new_url(_client(alice))
    callers = 6
    barrier = threading.Barrier(callers)
    monkeypatch.setattr(connect_sessions, "timezone", _AllReadFirst(callers))
    locations = []

    def open_it():
        try:
            barrier.wait(timeout=30)
            locations.append(Client().get(path_of(url))["Location"])
        finally:
            connection.close()

    threads = [threading.Thread(target=open_it) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    flows = [loc for loc in locations if loc.startswith(fake.authorize_url)]
    refused = [loc for loc in locations if query_of(loc).get("error") == "replayed"]
    assert len(flows) == 1 and len(refused) == callers - 1
    assert refusals().count("replayed") == callers - 1


def test_the_pending_entry_names_the_connect_session_not_the_token(alice_api, provider):
    url = new_url(alice_api)
    browser, response = open_url(url)
    [entry] = browser.session[oauth_flow.SESSION_KEY]["pending"].values()
    assert entry["cs"] == str(ConnectSession.objects.get().pk)
    token = path_of(url).rstrip("/").rsplit("/", 1)[1]
    assert token not in json.dumps(dict(browser.session.items()))


def test_the_admin_lists_sessions_read_only_without_the_digest(alice_api, provider, admin_client):
    new_url(alice_api, metadata={"store_id": "s-42"})
    session = ConnectSession.objects.get()
    listing = admin_client.get("/admin/integrations/connectsession/")
    assert listing.status_code == 200 and APP.encode() in listing.content
    page = admin_client.get(f"/admin/integrations/connectsession/{session.pk}/change/")
    assert page.status_code == 200 and b"s-42" in page.content
    assert session.token_digest.encode() not in page.content + listing.content
    assert admin_client.get("/admin/integrations/connectsession/add/").status_code == 403
    assert admin_client.post(page.request["PATH_INFO"], {"error": "x"}).status_code == 403
