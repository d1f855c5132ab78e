"""OAuth 1.0a end to end over real HTTP: this site and the demo OAuth 1.0a server
(Authlib's Django OAuth 1 server, config/demo_provider) on pytest-django's
live_server.

The "browser" logs in, connects, consents at the provider and follows the
redirect back; the provider verifies every signature (request token, access
token, userinfo, API calls, revocation) with the secrets it issued.
"""

import asyncio
import http.server
import io
import json
import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import requests
from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.db import SessionStore
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.db import connections as db_connections
from django.test import Client, RequestFactory
from django.utils import timezone

from config.demo_provider.models import OAuth1Client, OAuth1Token
from config.demo_provider.registration import register_demo_oauth1_provider
from integrations import connection_check, credentials, oauth1, oauth1_flow, tokens
from integrations.crypto import is_sealed
from integrations.models import AuditEvent, Integration, Provider
from tests.dbutil import raw_column, write_raw
from tests.e2e.test_demo_provider import PASSWORD, Browser, site_logs

pytestmark = pytest.mark.django_db(transaction=True)

SLUG = "demo-oauth1"
CONNECT = f"/integrations/connect/{SLUG}/"


@pytest.fixture
def demo1(live_server):
    provider, _ = register_demo_oauth1_provider(live_server.url)
    return provider


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(
        "alice", email="alice@demo.test", password=PASSWORD
    )


@pytest.fixture
def browser(live_server, alice, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    browser = Browser(live_server.url)
    browser.login("alice")
    return browser


def start(browser):
    """Open the connect URL: the site obtained a request token; returns the
    provider's authorization URL and its consent page."""
    response = browser.get(CONNECT)
    assert response.status_code == 302, response.text
    authorize_url = response.headers["Location"]
    page = browser.get(authorize_url)
    assert page.status_code == 200, page.text
    return authorize_url, page


def consent(browser, authorize_url, *, allow=True):
    """Answer the consent page; returns the provider's redirect to our callback."""
    data = {"allow": "Authorize"} if allow else {"deny": "Deny"}
    response = browser.post(authorize_url, data)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def connect(browser):
    authorize_url, _ = start(browser)
    callback_url = consent(browser, authorize_url)
    return callback_url, browser.get(callback_url)


def all_text_columns(needle, prefix="integrations"):
    """Every (table, column) of the app's tables (or of every table whose name
    starts with ``prefix``) whose raw value contains ``needle``."""
    found = []
    with connection.cursor() as cursor:
        tables = [t for t in connection.introspection.table_names() if t.startswith(prefix)]
        for table in tables:
            for column in connection.introspection.get_table_description(cursor, table):
                name = connection.ops.quote_name(column.name)
                cursor.execute(
                    f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)} "
                    f"WHERE CAST({name} AS TEXT) LIKE %s",
                    [f"%{needle}%"],
                )
                if cursor.fetchone()[0]:
                    found.append((table, column.name))
    return found


def test_connect_identify_seal_sign_disconnect(
    live_server, demo1, browser, alice, all_logs, django_user_model
):
    callback_url, response = connect(browser)
    assert urlsplit(callback_url).path == f"/integrations/callback/{SLUG}/"
    assert set(parse_qs(urlsplit(callback_url).query)) == {"oauth_token", "oauth_verifier"}
    assert response.status_code == 302, response.text
    integration = Integration.objects.get(owner=alice, provider=demo1)
    page = browser.get(response.headers["Location"])
    assert "Connected Demo (OAuth 1.0a) as alice@demo.test" in page.text

    # Identified by a signed userinfo call (account_id_field / account_label_fields).
    assert integration.external_account_id == str(alice.pk)
    assert integration.label == "alice@demo.test"
    assert integration.status == "active" and integration.expires_at is None
    assert not integration.can_refresh

    # What the provider issued is what we hold, sealed: token and token secret.
    issued = OAuth1Token.objects.get(user=alice)
    assert integration.access_token == issued.oauth_token
    assert integration.token_secret == issued.oauth_token_secret
    for column, value in (
        ("access_token", issued.oauth_token),
        ("token_secret", issued.oauth_token_secret),
    ):
        stored = raw_column(Integration, column, integration.pk)
        assert is_sealed(stored) and value not in stored
    # No plaintext in any column of any of the app's tables (raw SQL).
    assert all_text_columns(issued.oauth_token) == []
    assert all_text_columns(issued.oauth_token_secret) == []

    # My connections offers and lists it; "Test connection" makes a signed call.
    connections = browser.get("/integrations/")
    assert "Demo (OAuth 1.0a)" in connections.text and str(integration.pk) in connections.text
    check = connection_check.check_connection(alice, integration)
    assert check.ok and check.account_id == str(alice.pk), check

    # The admin shows only the secrets' status (the API: see below).
    staff = django_user_model.objects.create_superuser("ops", "ops@demo.test", PASSWORD)
    site = Client()
    site.force_login(staff)
    admin_page = site.get(f"/admin/integrations/integration/{integration.pk}/change/")
    assert admin_page.status_code == 200
    assert "token secret (oauth 1.0a)" in admin_page.content.decode().lower()
    browser.seen.append(admin_page.content.decode())

    # Signed calls: requests and httpx (sync and async); each hand-out audited.
    uses = AuditEvent.objects.filter(action="use", target_id=str(integration.pk))
    before = uses.count()
    with tokens.session(integration, purpose="read demo profile", actor=alice) as session:
        answer = session.get(f"{live_server.url}/oauth1/me/")
    assert answer.status_code == 200 and answer.json()["username"] == "alice"
    with httpx.Client(auth=tokens.httpx_auth(integration, purpose="read demo profile")) as client:
        assert client.get(f"{live_server.url}/oauth1/me/").json()["id"] == str(alice.pk)

    async def fetch():
        auth = tokens.httpx_auth(integration.pk, purpose="read demo profile")
        try:
            async with httpx.AsyncClient(auth=auth) as client:
                return await client.get(f"{live_server.url}/oauth1/me/")
        finally:  # the thread-sensitive executor's thread opened its own connection
            await sync_to_async(db_connections.close_all, thread_sensitive=True)()

    assert asyncio.run(fetch()).json()["username"] == "alice"
    assert uses.count() == before + 3
    assert set(uses.values_list("purpose", flat=True)) >= {"read demo profile"}

    # The provider checks signatures: a wrong token secret is refused.
    real_secret = integration.token_secret
    integration.token_secret = "not-the-secret"
    integration.save(update_fields=["token_secret"])
    with tokens.session(integration, purpose="read demo profile") as session:
        refused = session.get(f"{live_server.url}/oauth1/me/")
    assert refused.status_code == 401  # returned as it is: nothing to refresh
    integration.refresh_from_db()
    assert integration.status == "active" and integration.last_error == ""
    integration.token_secret = real_secret
    integration.save(update_fields=["token_secret"])

    # OAuth 1.0a tokens are not refreshed, and nothing marks them expired.
    assert tokens.refresh_integration(integration, force=True) == tokens.Outcome.FRESH
    report = tokens.refresh_expiring(within=10**9)
    assert report.counts == {}
    # ...even a row that looks due (an expiry and a refresh token set by hand).
    Integration.objects.filter(pk=integration.pk).update(
        expires_at=timezone.now() - timedelta(hours=1)
    )
    integration.refresh_from_db()
    integration.refresh_token = "set-by-hand"
    integration.save(update_fields=["refresh_token"])
    assert tokens.refresh_expiring(within=60).counts == {}
    integration.refresh_token = None
    integration.save(update_fields=["refresh_token"])
    Integration.objects.filter(pk=integration.pk).update(expires_at=None)
    integration.refresh_from_db()
    assert integration.status == "active" and integration.access_token == issued.oauth_token

    # Disconnect: the signed revocation call invalidates the token at the
    # provider, then both sealed values are erased.
    browser.get(f"/integrations/{integration.pk}/disconnect/")
    response = browser.post(f"/integrations/{integration.pk}/disconnect/", {})
    assert response.status_code == 302
    assert "its access was revoked" in browser.get(response.headers["Location"]).text
    assert not OAuth1Token.objects.filter(pk=issued.pk).exists()
    integration.refresh_from_db()
    assert integration.status == "revoked"
    assert raw_column(Integration, "access_token", integration.pk) is None
    assert raw_column(Integration, "token_secret", integration.pk) is None
    revokes = AuditEvent.objects.filter(action="revoke", target_id=str(integration.pk))
    assert list(revokes.values_list("outcome", "detail")) == [
        ("success", "access_token revoked at the provider")
    ]
    assert AuditEvent.objects.filter(action="disconnect", target_id=str(integration.pk)).exists()

    # No token, secret or verifier ever reached a page, a log line or the audit log.
    logged = site_logs(all_logs)
    audit_text = " ".join(
        " ".join(str(v) for v in row)
        for row in AuditEvent.objects.values_list("purpose", "detail", "target_label")
    )
    verifier = parse_qs(urlsplit(callback_url).query)["oauth_verifier"][0]
    for secret_text in (issued.oauth_token, issued.oauth_token_secret, verifier):
        assert not any(secret_text in body for body in browser.seen)
        assert secret_text not in logged
        assert secret_text not in audit_text


def test_the_request_token_secret_stays_on_the_server(demo1, browser, alice, settings):
    """Even with signed-cookie sessions (the session travels in the cookie), the
    browser never gets the request token's secret, not even sealed ones it could
    read: the session holds the token's digest and the secret sealed."""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    site = Client()  # our site with that session engine; the provider stays live
    site.force_login(alice)
    client = OAuth1Client.objects.get(client_id=demo1.client_id)
    client.redirect_uris += f" http://testserver/integrations/callback/{SLUG}/"
    client.save()
    response = site.get(CONNECT)
    assert response.status_code == 302, response.content
    authorize_url = response["Location"]
    request_token = parse_qs(urlsplit(authorize_url).query)["oauth_token"][0]
    issued_secret = cache.get(f"temporary_credential:{request_token}")["oauth_token_secret"]
    cookie = site.cookies[settings.SESSION_COOKIE_NAME].value
    session_data = signing.loads(
        cookie,
        salt="django.contrib.sessions.backends.signed_cookies",
        serializer=signing.JSONSerializer,
    )
    assert issued_secret not in cookie and issued_secret not in json.dumps(session_data)
    assert request_token not in json.dumps(session_data)  # a digest only
    pending = session_data[oauth1_flow.SESSION_KEY]["pending"]
    assert [is_sealed(entry["s"]) for entry in pending.values()] == [True]

    browser.get(authorize_url)
    callback_url = consent(browser, authorize_url)
    parts = urlsplit(callback_url)
    response = site.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 302, response.content
    assert Integration.objects.get(provider=demo1).label == "alice@demo.test"


def test_a_replayed_callback_is_refused_and_audited(demo1, browser, alice):
    callback_url, response = connect(browser)
    assert response.status_code == 302
    before = set(Integration.objects.values_list("pk", "updated_at"))
    replay = browser.get(callback_url)
    assert replay.status_code == 400
    assert "already used" in replay.text
    assert AuditEvent.objects.filter(
        action="state_rejected", detail="oauth_token_replayed", outcome="denied"
    ).exists()
    assert set(Integration.objects.values_list("pk", "updated_at")) == before


def test_a_forged_oauth_token_is_refused_and_audited(demo1, browser):
    authorize_url, _ = start(browser)
    callback_url = consent(browser, authorize_url)
    query = parse_qs(urlsplit(callback_url).query)
    forged = browser.get(
        f"/integrations/callback/{SLUG}/",
        params={"oauth_token": "forged-token", "oauth_verifier": query["oauth_verifier"][0]},
    )
    assert forged.status_code == 400
    assert AuditEvent.objects.filter(
        action="state_rejected", detail="oauth_token_unknown", outcome="denied"
    ).exists()
    assert not Integration.objects.exists()


def test_a_callback_in_another_session_is_refused(live_server, demo1, browser, alice):
    authorize_url, _ = start(browser)
    callback_url = consent(browser, authorize_url)
    other = Browser(live_server.url)
    other.login("alice")
    assert other.get(callback_url).status_code == 400
    assert AuditEvent.objects.filter(action="state_rejected", detail="oauth_token_unknown").exists()
    assert not Integration.objects.exists()
    # ...and the pending request token is still the first session's alone.
    assert browser.get(callback_url).status_code == 302
    assert Integration.objects.count() == 1


def test_a_callback_for_another_user_is_refused(demo1, browser, alice, django_user_model):
    """Signing in as someone else flushes the session; the pending request token
    is bound to the user as well, so a session that kept it still refuses."""
    bob = django_user_model.objects.create_user("bob", password=PASSWORD)
    authorize_url, _ = start(browser)
    callback_url = consent(browser, authorize_url)
    session = SessionStore(session_key=browser.session.cookies["sessionid"])
    request = RequestFactory().get(callback_url)
    request.session, request.user = session, bob
    with pytest.raises(oauth1.StateError) as caught:
        oauth1_flow.complete_authorization(request, demo1)
    assert caught.value.code == "oauth_token_wrong_user"
    assert AuditEvent.objects.filter(
        action="state_rejected", detail="oauth_token_wrong_user", actor=bob
    ).exists()
    assert not Integration.objects.exists()


def test_the_consent_page_offers_deny_as_the_secondary_choice(demo1, browser):
    _, page = start(browser)
    assert '<button type="submit" name="allow" value="Authorize">Authorize</button>' in page.text
    assert (
        '<button type="submit" name="deny" value="Deny" class="secondary">Deny</button>'
        in page.text
    )


def test_denial_at_the_provider_gets_a_friendly_page(demo1, browser):
    authorize_url, _ = start(browser)
    callback_url = consent(browser, authorize_url, allow=False)
    assert parse_qs(urlsplit(callback_url).query)["error"] == ["access_denied"]
    response = browser.get(callback_url)
    assert response.status_code == 200
    assert "You cancelled the connection" in response.text
    assert not Integration.objects.exists()
    assert AuditEvent.objects.filter(
        action="connect", outcome="failure", detail="access_denied"
    ).exists()


def test_an_x_style_denial_consumes_the_request_token(demo1, browser):
    authorize_url, _ = start(browser)
    request_token = parse_qs(urlsplit(authorize_url).query)["oauth_token"][0]
    response = browser.get(f"/integrations/callback/{SLUG}/", params={"denied": request_token})
    assert response.status_code == 200 and "You cancelled the connection" in response.text
    again = browser.get(
        f"/integrations/callback/{SLUG}/",
        params={"oauth_token": request_token, "oauth_verifier": "x"},
    )
    assert again.status_code == 400
    assert not Integration.objects.exists()


def test_an_expired_request_token_is_refused(demo1, browser, settings):
    authorize_url, _ = start(browser)
    callback_url = consent(browser, authorize_url)
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "STATE_TTL_SECONDS": 1}
    time.sleep(1.5)
    assert browser.get(callback_url).status_code == 400
    assert AuditEvent.objects.filter(detail="oauth_token_expired").exists()
    assert not Integration.objects.exists()


def test_a_wrong_client_secret_is_refused_by_the_provider(demo1, browser):
    credentials.set_client_secret(demo1, "not-what-the-provider-issued", actor=None)
    response = browser.get(CONNECT)
    assert response.status_code == 503  # as for a misconfigured provider
    assert "request_token_refused" in response.text and "Nothing was saved" in response.text
    assert not Integration.objects.exists()


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_token_endpoint_that_is_down_is_a_passing_failure(demo1, browser, status):
    """A 5xx or 429 from the request-token endpoint is reported as temporary
    (502, "try again"), not as a refusal, and its body is never shown."""
    canary = "provider-body-canary-7f3c"

    class Down(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = canary.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Down)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        demo1.request_token_url = f"http://127.0.0.1:{server.server_port}/initiate"
        demo1.save()
        response = browser.get(CONNECT)
    finally:
        server.shutdown()
        server.server_close()
    assert response.status_code == 502, response.text
    assert f"http_{status}" in response.text and canary not in response.text
    assert "Nothing was saved" in response.text
    assert not Integration.objects.exists()


@pytest.mark.parametrize("method", ["HMAC-SHA256", "RSA-SHA1"])
def test_other_signature_methods_end_to_end(live_server, browser, alice, method):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    public_pem = ""
    if method == "RSA-SHA1":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public_pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
    provider, _ = register_demo_oauth1_provider(
        live_server.url, signature_method=method, rsa_public_key=public_pem
    )
    if method == "RSA-SHA1":
        credentials.set_client_secret(provider, private_pem, actor=None)
    _, response = connect(browser)
    assert response.status_code == 302, response.text
    integration = Integration.objects.get(provider=provider)
    with tokens.session(integration, purpose="read demo profile") as session:
        assert session.get(f"{live_server.url}/oauth1/me/").json()["username"] == "alice"


def test_plaintext_is_refused_over_plain_http(demo1, browser):
    Provider.objects.filter(pk=demo1.pk).update(signature_method="PLAINTEXT")
    response = browser.get(CONNECT)
    assert response.status_code == 503
    assert "request_token_url_plaintext_needs_https" in response.text
    demo1.refresh_from_db()
    with pytest.raises(oauth1.ProviderMisconfigured):
        oauth1.endpoints(demo1)


def test_an_unreadable_token_secret_still_disconnects(live_server, demo1, browser, alice):
    _, response = connect(browser)
    integration = Integration.objects.get(provider=demo1)
    write_raw(Integration, "token_secret", integration.pk, "tampered")
    result = tokens.disconnect(alice, integration)
    assert not result.fully_revoked
    integration.refresh_from_db()
    assert integration.status == "revoked"
    assert raw_column(Integration, "token_secret", integration.pk) is None
    assert raw_column(Integration, "access_token", integration.pk) is None


@pytest.mark.parametrize("column", ["access_token", "token_secret"])
def test_an_unreadable_token_or_secret_asks_the_user_to_connect_again(
    live_server, demo1, browser, alice, column
):
    """Nothing can refresh an OAuth 1.0a token: one that cannot be opened marks
    the row needs_reauth (audited, once), as an unreadable OAuth 2 refresh
    token does, and every later call says so without trying again."""
    connect(browser)
    integration = Integration.objects.get(provider=demo1)
    write_raw(Integration, column, integration.pk, "tampered")
    with pytest.raises(tokens.TokenUnreadable):
        with tokens.session(integration, purpose="read demo profile") as session:
            session.get(f"{live_server.url}/oauth1/me/")
    integration.refresh_from_db()
    assert (integration.status, integration.last_error) == ("needs_reauth", "token_not_sealed")
    failures = AuditEvent.objects.filter(
        action="use", outcome="failure", target_id=str(integration.pk)
    )
    assert [event.detail for event in failures] == ["token_not_sealed"]
    with pytest.raises(tokens.ReauthorizationRequired):
        tokens.get_signing_credentials(integration, purpose="again")
    assert failures.count() == 1


def test_setup_demo_registers_both_providers(live_server, settings):
    settings.DEBUG = True
    call_command("setup_demo", base_url=live_server.url, stdout=open("/dev/null", "w"))
    assert set(Provider.objects.values_list("slug", "auth_type")) >= {
        ("demo", "oauth2"),
        (SLUG, "oauth1"),
    }
    provider = Provider.objects.get(slug=SLUG)
    response = requests.post(provider.request_token_url, timeout=30)
    assert response.status_code in (400, 401)  # an unsigned request is refused


@pytest.mark.api
def test_the_api_shows_only_the_secrets_status(demo1, browser, alice):
    _, response = connect(browser)
    integration = Integration.objects.get(provider=demo1)
    site = Client()
    site.force_login(alice)
    api = site.get(f"/api/integrations/{integration.pk}/")
    assert api.status_code == 200, api.content
    body = api.json()
    assert body["token_secret_status"]["set"] is True
    assert body["access_token_status"]["set"] is True and body["can_refresh"] is False
    text = api.content.decode()
    assert integration.access_token not in text and integration.token_secret not in text
    # Refreshing through the API changes nothing and says so without a secret.
    refreshed = site.post(f"/api/integrations/{integration.pk}/refresh/")
    assert refreshed.status_code == 200, refreshed.content
    assert integration.token_secret not in refreshed.content.decode()
    integration.refresh_from_db()
    assert integration.status == "active"


def test_the_demo_server_keeps_no_live_copy_of_the_sealed_secrets(demo1, browser, alice):
    """Issue 23, item 11: the demo OAuth 1.0a server stored its client's secret and
    the token and token secret it issued in clear -- the values the site's
    Provider and Integration keep sealed. It seals them too now."""

    _, response = connect(browser)
    assert response.status_code == 302
    integration = Integration.objects.get(owner=alice, provider=demo1)
    issued = OAuth1Token.objects.get(user=alice)
    client_secret = OAuth1Client.objects.get(client_id=demo1.client_id).client_secret
    secrets = [issued.oauth_token, issued.oauth_token_secret, client_secret]
    assert secrets == [
        integration.access_token,
        integration.token_secret,
        credentials.read_client_secret(demo1, purpose="test").reveal(),
    ]
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    for secret in secrets:
        assert all_text_columns(secret, prefix="") == []
        assert secret not in out.getvalue()
    # Still found by the token (its blind index), as Authlib looks it up.
    assert OAuth1Token.objects.get(oauth_token=integration.access_token) == issued


def test_the_migration_seals_what_was_stored_in_clear(demo1, alice):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("config.demo_provider.migrations.0003_seal_oauth1_secrets")
    token = OAuth1Token.objects.create(
        client_id=demo1.client_id, user=alice, oauth_token="t" * 42, oauth_token_secret="s" * 48
    )
    # As the server stored them before: plain columns, no index.
    write_raw(OAuth1Token, "oauth_token", token.pk, "legacy-token-" + "t" * 29)
    write_raw(OAuth1Token, "oauth_token_secret", token.pk, "legacy-secret-" + "s" * 34)
    write_raw(OAuth1Token, "oauth_token_bidx", token.pk, None)
    migration.seal_existing(apps, type("SchemaEditor", (), {"connection": connection})())
    assert is_sealed(raw_column(OAuth1Token, "oauth_token", token.pk))
    assert is_sealed(raw_column(OAuth1Token, "oauth_token_secret", token.pk))
    found = OAuth1Token.objects.get(oauth_token="legacy-token-" + "t" * 29)
    assert found.oauth_token_secret == "legacy-secret-" + "s" * 34


@pytest.mark.parametrize("method", ["signed", "none"])
def test_the_revocation_method_says_whether_disconnect_invalidates(demo1, browser, alice, method):
    """``revocation.method = "signed"`` (the catalog's X entry) makes disconnecting
    invalidate the token at the provider with a signed POST; ``none`` sends
    nothing, and the provider's token stays valid there."""
    demo1.metadata = {
        **demo1.metadata,
        "revocation": {"method": method, **({"note": "by hand"} if method == "none" else {})},
    }
    demo1.full_clean(exclude=["client_secret"])
    demo1.save(update_fields=["metadata"])
    _, response = connect(browser)
    assert response.status_code == 302, response.text
    integration = Integration.objects.get(owner=alice, provider=demo1)
    issued = OAuth1Token.objects.get()
    result = tokens.disconnect(alice, integration)
    assert result.method == method
    assert result.fully_revoked is (method == "signed")
    assert OAuth1Token.objects.filter(pk=issued.pk).exists() is (method == "none")
    integration.refresh_from_db()
    assert integration.status == "revoked" and integration.access_token is None


@pytest.mark.parametrize("method", ["rfc7009", "bearer", "hook"])
def test_an_oauth2_revocation_method_is_refused_for_oauth1(demo1, method):
    demo1.metadata = {**demo1.metadata, "revocation": {"method": method, "hook": "github_grant"}}
    with pytest.raises(ValidationError) as caught:
        demo1.full_clean(exclude=["client_secret"])
    assert "revokes with signed or none" in str(caught.value)
