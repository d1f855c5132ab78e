"""End to end over real HTTP: this site and the demo authorization server
(django-oauth-toolkit: PKCE required, rotated refresh tokens, revocation,
introspection, OIDC discovery/userinfo/ID tokens) on pytest-django's live_server.

The "browser" is a requests session that logs in, connects, consents at the
provider and follows the redirect back, exactly as a user would.
"""

import threading
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.signals import request_started
from django.db import close_old_connections, connection
from oauth2_provider.models import get_refresh_token_model

from config.demo_provider.registration import register_demo_provider
from integrations import credentials, tokens
from integrations.crypto import is_sealed
from integrations.models import AuditEvent, Integration, Provider
from tests.dbutil import raw_column
from tests.fake_provider import closed_port_url
from tests.oauth_helpers import expire

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery-1"


class _Inputs(HTMLParser):
    """The name/value pairs of a page's <input> elements."""

    def __init__(self):
        super().__init__()
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("name") and attrs.get("type") != "submit":
            self.fields[attrs["name"]] = attrs.get("value") or ""


def inputs(html):
    parser = _Inputs()
    parser.feed(html)
    return parser.fields


class Browser:
    def __init__(self, base):
        self.base = base
        self.session = requests.Session()
        self.seen = []  # every body received, to check no token ever shows

    def get(self, path, **kwargs):
        url = path if path.startswith("http") else self.base + path
        response = self.session.get(url, allow_redirects=False, timeout=30, **kwargs)
        self.seen.append(response.text)
        return response

    def post(self, path, data, **kwargs):
        url = path if path.startswith("http") else self.base + path
        data = {**data, "csrfmiddlewaretoken": self.session.cookies.get("csrftoken", "")}
        response = self.session.post(
            url, data=data, allow_redirects=False, timeout=30, headers={"Referer": url}, **kwargs
        )
        self.seen.append(response.text)
        return response

    def login(self, username):
        self.get("/accounts/login/")
        response = self.post("/accounts/login/", {"username": username, "password": PASSWORD})
        assert response.status_code == 302, "login failed"

    def start_connect(self, slug="demo", **params):
        """Open the connect URL and the provider's consent page; returns the page."""
        response = self.get(f"/integrations/connect/{slug}/", params=params)
        assert response.status_code == 302, response.text
        authorize_url = response.headers["Location"]
        consent = self.get(authorize_url)
        assert consent.status_code == 200, consent.text
        return authorize_url, consent

    def consent(self, authorize_url, page, *, allow=True):
        """Answer the consent form; returns the provider's redirect to our callback."""
        fields = inputs(page.text)
        fields.pop("csrfmiddlewaretoken", None)
        if allow:
            fields["allow"] = "Authorize"
        response = self.post(authorize_url, fields)
        assert response.status_code == 302, response.text
        return response.headers["Location"]

    def connect(self, slug="demo", **params):
        """The whole flow: returns the callback URL and the callback's response."""
        authorize_url, page = self.start_connect(slug, **params)
        callback_url = self.consent(authorize_url, page)
        return callback_url, self.get(callback_url)


@pytest.fixture
def demo(live_server):
    provider, application = register_demo_provider(live_server.url)
    return provider


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(
        "alice", email="alice@demo.test", password=PASSWORD
    )


@pytest.fixture
def browser(live_server, alice, settings):
    # The live server speaks plain HTTP on loopback: cookies cannot be Secure.
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    browser = Browser(live_server.url)
    browser.login("alice")
    return browser


def client_secret(provider):
    return credentials.read_client_secret(provider, purpose="test checks the provider").reveal()


def introspect(base, provider, token):
    response = requests.post(
        f"{base}/o/introspect/",
        data={"token": token},
        auth=(provider.client_id, client_secret(provider)),
        timeout=30,
    )
    response.raise_for_status()
    return response.json()


def refresh_grant(base, provider, refresh_token):
    return requests.post(
        f"{base}/o/token/",
        timeout=30,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(provider.client_id, client_secret(provider)),
    )


# Loggers of the other parties that share this process in the test: the
# authorization server (oauthlib logs token values at DEBUG, as a provider's own
# logs may; its consent template's debug log shows the authorize URL) and the
# test browser's HTTP client (it logs the callback URL it opens).
_NOT_THE_SITE = ("oauthlib", "oauth2_provider", "urllib3")


def _by_the_site(record):
    if record.name.startswith(_NOT_THE_SITE):
        return False
    return not (record.name == "django.template" and "oauth2_provider/" in record.getMessage())


def site_logs(caplog):
    return "\n".join(
        f"{record.name} {record.getMessage()} {record.exc_text or ''}"
        for record in caplog.records
        if _by_the_site(record)
    )


class TokenRequests:
    """Counts requests that reach the provider's token endpoint."""

    def __init__(self):
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, sender, environ=None, **kwargs):
        if environ and environ.get("PATH_INFO") == "/o/token/":
            with self._lock:
                self.count += 1

    def __enter__(self):
        request_started.connect(self, weak=False)
        return self

    def __exit__(self, *exc):
        request_started.disconnect(self)


def test_connect_refresh_disconnect_end_to_end(live_server, demo, browser, alice, all_logs):
    base = live_server.url
    # connect -> consent -> callback
    callback_url, response = browser.connect()
    assert urlsplit(callback_url).path == "/integrations/callback/demo/"
    assert response.status_code == 302, response.text
    integration = Integration.objects.get(owner=alice, provider=demo)
    assert response.headers["Location"] == f"/integrations/result/{integration.pk}/"
    page = browser.get(response.headers["Location"])
    assert page.status_code == 200 and "Connected Demo as alice@demo.test" in page.text

    # The account is identified from userinfo and a verified RS256 ID token.
    assert integration.external_account_id == str(alice.pk)
    assert integration.label == "alice@demo.test"
    assert integration.status == "active"
    assert set(integration.granted_scopes) == {"openid", "profile", "email", "read"}

    # Sealed at rest: the raw columns hold no token.
    first_access, first_refresh = integration.access_token, integration.refresh_token
    for column, token in (("access_token", first_access), ("refresh_token", first_refresh)):
        stored = raw_column(Integration, column, integration.pk)
        assert is_sealed(stored) and token not in stored
    assert introspect(base, demo, first_access)["active"] is True

    # Expiry -> automatic refresh, with a rotated refresh token.
    expire(integration)
    with TokenRequests() as token_requests:
        secret = tokens.get_valid_token(integration, purpose="sync demo data", actor=alice)
    assert token_requests.count == 1
    integration.refresh_from_db()
    assert secret.reveal() == integration.access_token != first_access
    assert integration.refresh_token != first_refresh
    assert introspect(base, demo, integration.access_token)["active"] is True

    # Disconnect (the user's POST) revokes at the provider, then erases.
    second_access, second_refresh = integration.access_token, integration.refresh_token
    browser.get(f"/integrations/{integration.pk}/disconnect/")
    response = browser.post(f"/integrations/{integration.pk}/disconnect/", {})
    assert response.status_code == 302
    assert "its access was revoked" in browser.get(response.headers["Location"]).text
    assert introspect(base, demo, second_access) == {"active": False}
    assert refresh_grant(base, demo, second_refresh).json()["error"] == "invalid_grant"
    integration.refresh_from_db()
    assert integration.status == "revoked"
    assert raw_column(Integration, "access_token", integration.pk) is None
    assert raw_column(Integration, "refresh_token", integration.pk) is None
    revokes = AuditEvent.objects.filter(action="revoke", target_id=str(integration.pk))
    assert sorted(revokes.values_list("outcome", "detail")) == [
        ("success", "access_token revoked at the provider"),
        ("success", "refresh_token revoked at the provider"),
    ]
    with pytest.raises(tokens.ReauthorizationRequired):
        tokens.get_valid_token(integration, purpose="sync")

    # No token, state or code ever reached a page the browser saw, or a log line.
    logged = site_logs(all_logs)
    for secret_text in (first_access, first_refresh, second_access, second_refresh):
        assert not any(secret_text in body for body in browser.seen)
        assert secret_text not in logged
    query = parse_qs(urlsplit(callback_url).query)
    assert query["code"][0] not in logged and query["state"][0] not in logged


def test_reconnecting_updates_the_same_integration(demo, browser, alice):
    for _ in range(2):
        _, response = browser.connect()
        assert response.status_code == 302
    assert Integration.objects.filter(owner=alice, provider=demo).count() == 1


def test_replaying_the_callback_url_is_rejected(demo, browser):
    callback_url, response = browser.connect()
    assert response.status_code == 302
    replay = browser.get(callback_url)
    assert replay.status_code == 400
    assert AuditEvent.objects.filter(action="state_rejected", detail="state_replayed").count() == 1


def test_a_callback_in_another_session_is_rejected(live_server, demo, browser, alice):
    authorize_url, page = browser.start_connect()
    callback_url = browser.consent(authorize_url, page)
    other = Browser(live_server.url)
    other.login("alice")
    assert other.get(callback_url).status_code == 400
    assert not Integration.objects.exists()


def test_declining_consent_gets_a_friendly_page(demo, browser):
    authorize_url, page = browser.start_connect()
    callback_url = browser.consent(authorize_url, page, allow=False)
    assert parse_qs(urlsplit(callback_url).query)["error"] == ["access_denied"]
    response = browser.get(callback_url)
    assert response.status_code == 200
    assert "You cancelled the connection" in response.text
    assert not Integration.objects.exists()


def test_an_open_redirect_in_next_is_refused(demo, browser):
    response = browser.get("/integrations/connect/demo/", params={"next": "https://evil.example/"})
    assert response.status_code == 400
    _, response = browser.connect(next="/accounts/login/?ok=1")
    assert response.headers["Location"] == "/accounts/login/?ok=1"


def test_a_revoked_grant_needs_reauth_and_keeps_the_old_tokens(live_server, demo, browser, alice):
    browser.connect()
    integration = Integration.objects.get()
    old = (
        raw_column(Integration, "access_token", integration.pk),
        raw_column(Integration, "refresh_token", integration.pk),
    )
    # The user revokes this site's access at the provider.
    get_refresh_token_model().objects.get(revoked__isnull=True).revoke()
    expire(integration)
    with pytest.raises(tokens.ReauthorizationRequired) as info:
        tokens.get_valid_token(integration, purpose="sync")
    assert info.value.code == "invalid_grant"
    integration.refresh_from_db()
    assert (integration.status, integration.last_error) == ("needs_reauth", "invalid_grant")
    assert (
        raw_column(Integration, "access_token", integration.pk),
        raw_column(Integration, "refresh_token", integration.pk),
    ) == old


def test_provider_down_marks_error_and_keeps_tokens(demo, browser):
    browser.connect()
    integration = Integration.objects.get()
    old = raw_column(Integration, "refresh_token", integration.pk)
    Provider.objects.filter(pk=demo.pk).update(token_url=closed_port_url() + "/o/token/")
    expire(integration)
    with pytest.raises(tokens.RefreshFailed) as info:
        tokens.get_valid_token(integration, purpose="sync")
    assert info.value.code == "network_error"
    integration.refresh_from_db()
    assert integration.status == "error"
    assert raw_column(Integration, "refresh_token", integration.pk) == old


def test_replaying_a_rotated_refresh_token_revokes_the_grant(live_server, demo, browser, alice):
    """The demo provider is as strict as oidc-provider and Auth0 (what the race
    below relies on): reuse of a rotated refresh token kills the newest tokens too."""
    base = live_server.url
    browser.connect()
    integration = Integration.objects.get()
    first_refresh = integration.refresh_token
    expire(integration)
    tokens.get_valid_token(integration, purpose="sync")
    integration.refresh_from_db()
    assert introspect(base, demo, integration.access_token)["active"] is True
    assert refresh_grant(base, demo, first_refresh).json()["error"] == "invalid_grant"
    assert introspect(base, demo, integration.access_token) == {"active": False}
    expire(integration)
    with pytest.raises(tokens.ReauthorizationRequired) as info:
        tokens.get_valid_token(integration, purpose="sync")
    assert info.value.code == "invalid_grant"


@pytest.mark.usefixtures("demo")
def test_refresh_race_refreshes_exactly_once(live_server, browser):
    """20 threads, each on its own connection, ask for a valid token of one
    expired integration at the same moment (SQLite and PostgreSQL); the
    provider revokes the grant on any refresh-token reuse, and the tokens the
    callers got still work."""
    callers = 20
    browser.connect()
    integration = Integration.objects.get()
    expire(integration)
    barrier = threading.Barrier(callers)
    results, errors = [None] * callers, []

    def ask(index):
        try:
            fresh = Integration.objects.get(pk=integration.pk)
            barrier.wait(timeout=30)
            results[index] = tokens.get_valid_token(fresh, purpose="race").reveal()
        except Exception as exc:  # noqa: BLE001
            errors.append(type(exc).__name__)
        finally:
            close_old_connections()
            connection.close()

    with TokenRequests() as token_requests:
        threads = [threading.Thread(target=ask, args=(i,)) for i in range(callers)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    assert token_requests.count == 1, "exactly one refresh request reaches the provider"
    integration.refresh_from_db()
    assert set(results) == {integration.access_token}
    assert integration.status == "active"
    assert (
        introspect(live_server.url, Provider.objects.get(slug="demo"), integration.access_token)[
            "active"
        ]
        is True
    )
    assert AuditEvent.objects.filter(action="refresh", outcome="success").count() == 1
    assert time.monotonic() - started < 30


def test_the_demo_providers_iss_is_checked_and_required(live_server, demo, browser, alice):
    """django-oauth-toolkit, configured like a careful provider, advertises
    RFC 9207 and sends ``iss``: the right one passes; without it, or with
    another, the callback is refused before the code is exchanged."""
    callback_url, response = browser.connect()
    query = parse_qs(urlsplit(callback_url).query)
    assert query["iss"] == [f"{live_server.url}/o"]
    assert response.status_code == 302, response.text

    for tamper, code in (
        (lambda q: q.pop("iss"), "issuer_missing"),
        (lambda q: q.update(iss=["https://attacker.example/o"]), "issuer_mismatch"),
    ):
        authorize_url, page = browser.start_connect()
        callback_url = browser.consent(authorize_url, page)
        query = parse_qs(urlsplit(callback_url).query)
        tamper(query)
        with TokenRequests() as token_requests:
            refused = browser.get(
                urlsplit(callback_url).path, params={k: v[0] for k, v in query.items()}
            )
        assert refused.status_code == 400 and code in refused.text
        assert token_requests.count == 0
    assert Integration.objects.filter(owner=alice).count() == 1


def test_the_demo_server_keeps_no_live_copy_of_the_sealed_tokens(demo, browser, alice):
    """Issue 23, item 11: django-oauth-toolkit stored the tokens it issued in
    clear, so ``dumpdata`` printed the very tokens the Integration keeps sealed.
    With hashed storage only their checksums are kept; everything still works."""
    import io

    from django.core.management import call_command
    from oauth2_provider.models import get_access_token_model

    _, response = browser.connect()
    assert response.status_code == 302
    integration = Integration.objects.get(owner=alice, provider=demo)
    issued = [integration.access_token, integration.refresh_token]
    expire(integration)
    tokens.get_valid_token(integration, purpose="sync demo data", actor=alice)
    integration.refresh_from_db()
    issued += [integration.access_token, integration.refresh_token]
    assert all(issued)

    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    dumped = out.getvalue()
    assert '"model": "oauth2_provider.accesstoken"' in dumped
    for token in issued:
        assert token not in dumped
    for model in (get_access_token_model(), get_refresh_token_model()):
        assert set(model.objects.values_list("token", flat=True)) == {""}
        assert all(model.objects.values_list("token_checksum", flat=True))
    # The tokens still work at the provider: found by their checksums.
    assert introspect(browser.base, demo, integration.access_token)["active"] is True


def test_the_migration_redacts_tokens_stored_before(demo, alice, settings):
    """Rows written in clear before the switch are blanked; their checksums stay."""
    import importlib

    from django.apps import apps
    from django.utils import timezone
    from oauth2_provider.models import (
        get_access_token_model,
        get_application_model,
        set_token_value,
    )

    from config.demo_provider.registration import APPLICATION_NAME

    migration = importlib.import_module(
        "config.demo_provider.migrations.0002_redact_stored_oauth2_tokens"
    )
    AccessToken = get_access_token_model()
    # As the demo server stored tokens before (DOT reloads on setting_changed).
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": False,
    }
    access = AccessToken(
        user=alice,
        application=get_application_model().objects.get(name=APPLICATION_NAME),
        expires=timezone.now(),
        scope="read",
    )
    set_token_value(access, "legacy-plaintext-access-token-0001")
    access.save()
    assert AccessToken.objects.get(pk=access.pk).token == "legacy-plaintext-access-token-0001"

    migration.redact(apps, type("SchemaEditor", (), {"connection": connection})())
    stored = AccessToken.objects.get(pk=access.pk)
    assert stored.token == ""
    assert stored.token_checksum == access.token_checksum


def test_the_oidc_preset_scopes_connect_to_the_demo(live_server, demo, browser):
    """django-oauth-toolkit answers invalid_scope to offline_access, which its
    discovery does not list: with the generic ``oidc`` preset's scopes the flow
    leaves it out and connects. (DOT issues a refresh token all the same, so
    the page has nothing to warn about.)"""
    from integrations.providers import get_preset

    scopes = get_preset("oidc")["default_scopes"]
    assert "offline_access" in scopes
    Provider.objects.filter(pk=demo.pk).update(default_scopes=scopes)
    authorize_url, page = browser.start_connect()
    asked = parse_qs(urlsplit(authorize_url).query)["scope"][0].split()
    assert asked == [s for s in scopes if s != "offline_access"]
    callback_url = browser.consent(authorize_url, page)
    assert "error" not in parse_qs(urlsplit(callback_url).query)
    response = browser.get(callback_url)
    assert response.status_code == 302, response.text
    integration = Integration.objects.get(provider=demo)
    assert integration.can_refresh
    result = browser.get(response.headers["Location"]).text
    assert "Connected Demo" in result
    assert "does not offer offline access" not in result
