"""Calling a provider's API with stored secrets (tokens.session / httpx_auth,
credentials.session / httpx_auth), against a loopback fake provider over real HTTP."""

import asyncio
import base64
import threading

import httpx
import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections, connection, connections

from integrations import credentials, provider_calls, tokens
from integrations.models import AuditEvent, Integration
from integrations.provider_http import RedirectRefused
from integrations.redaction import RedactingFilter
from integrations.sealed.redaction import is_registered
from tests.conftest import assert_not_logged
from tests.fake_provider import closed_port_url
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    alice,
    bob,
    connected,
    expire,
    fake,
    make_provider,
    provider,
)

pytestmark = pytest.mark.django_db

STORED = "stored-access-token-0001"
PURPOSE = "read the profile"


class Api:
    """The provider's API at ``/api/me``: accepts the tokens in ``accepted``
    (each one the fake issued is added as it issues it), or none with ``reject_all``."""

    def __init__(self, fake, accepted=(STORED,)):
        self.fake = fake
        self.accepted = set(accepted)
        self.reject_all = False
        issue = fake.issue

        def issue_and_accept(form):
            status, token = issue(form)
            self.accepted.add(token["access_token"])
            return status, token

        fake.issue = issue_and_accept
        fake.handlers["/api/me"] = self.answer

    def answer(self, form, headers):
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if self.reject_all or scheme != "Bearer" or token not in self.accepted:
            return 401, {"error": "invalid_token"}
        return 200, {"me": "alice"}

    @property
    def url(self):
        return f"{self.fake.url}/api/me"

    def tokens_sent(self):
        return [
            r["headers"].get("Authorization", "").partition(" ")[2]
            for r in self.fake.requests_to("/api/me")
        ]


@pytest.fixture
def api(fake):
    return Api(fake)


def uses(purpose=PURPOSE):
    return AuditEvent.objects.filter(action="use", purpose=purpose).count()


# -- tokens.session -----------------------------------------------------------------


def test_a_valid_token_is_sent_without_refresh_and_each_request_audited(api, provider, alice, fake):
    integration = connected(alice, provider)
    with tokens.session(integration, purpose=PURPOSE, actor=alice) as session:
        assert session.get(api.url, timeout=5).json() == {"me": "alice"}
        assert session.get(api.url, timeout=5).status_code == 200
    assert api.tokens_sent() == [STORED, STORED]
    assert fake.refresh_requests() == []
    assert uses() == 2


def test_an_expired_token_is_refreshed_once_before_the_call(api, provider, alice, fake):
    integration = connected(alice, provider)
    expire(integration)
    session = tokens.session(integration, purpose=PURPOSE)
    assert session.get(api.url, timeout=5).status_code == 200
    assert session.get(api.url, timeout=5).status_code == 200
    integration.refresh_from_db()
    assert len(fake.refresh_requests()) == 1
    assert api.tokens_sent() == [integration.access_token] * 2
    assert integration.access_token != STORED


def test_a_401_refreshes_once_and_retries_once(api, provider, alice, fake):
    """The provider revoked a token we still think valid: one forced refresh,
    the same request (body included) again with the new token, success."""
    integration = connected(alice, provider)
    api.accepted.discard(STORED)
    session = tokens.session(integration, purpose=PURPOSE, actor=alice)
    response = session.post(api.url, data={"q": "calendar"}, timeout=5)
    assert response.status_code == 200
    integration.refresh_from_db()
    assert api.tokens_sent() == [STORED, integration.access_token]
    assert [r["form"] for r in fake.requests_to("/api/me")] == [{"q": "calendar"}] * 2
    assert len(fake.refresh_requests()) == 1
    assert AuditEvent.objects.filter(action="refresh", outcome="success").count() == 1
    assert uses() == 2  # two requests carried a token


def test_a_provider_answering_401_forever_gets_one_refresh_and_one_retry(
    api, provider, alice, fake
):
    integration = connected(alice, provider)
    api.reject_all = True
    response = tokens.session(integration, purpose=PURPOSE).get(api.url, timeout=5)
    assert response.status_code == 401
    assert len(fake.requests_to("/api/me")) == 2
    assert len(fake.refresh_requests()) == 1


def test_a_401_without_a_refresh_token_needs_reauthorization(api, provider, alice, fake):
    integration = connected(alice, provider, refresh=None)
    api.accepted.clear()
    with pytest.raises(tokens.ReauthorizationRequired) as info:
        tokens.session(integration, purpose=PURPOSE).get(api.url, timeout=5)
    assert info.value.code == "no_refresh_token"
    assert len(fake.requests_to("/api/me")) == 1
    assert fake.refresh_requests() == []
    integration.refresh_from_db()
    assert integration.status == "expired"


def test_a_401_for_a_token_another_worker_already_replaced_takes_its_token(provider, alice, fake):
    """Exactly once across workers: the 401 answered the old token, and the row
    already holds a newer one, so no second refresh."""
    integration = connected(alice, provider, access="newer-access-token-0002")
    assert tokens.refresh_rejected(integration, STORED) == tokens.Outcome.FRESH
    assert fake.refresh_requests() == []
    assert (
        tokens.refresh_rejected(integration, "newer-access-token-0002") == tokens.Outcome.REFRESHED
    )
    assert len(fake.refresh_requests()) == 1


def test_a_streamed_body_is_not_retried(api, provider, alice, fake):
    integration = connected(alice, provider)
    api.accepted.discard(STORED)
    response = tokens.session(integration, purpose=PURPOSE).post(
        api.url, data=iter([b"q=", b"calendar"]), timeout=5
    )
    assert response.status_code == 401
    assert fake.refresh_requests() == []


def test_a_redirect_is_refused_and_not_followed(api, provider, alice, fake):
    integration = connected(alice, provider)
    fake.redirect("/api/me", f"{fake.url}/elsewhere")
    with pytest.raises(RedirectRefused):
        tokens.session(integration, purpose=PURPOSE).get(api.url, timeout=5)
    assert fake.requests_to("/elsewhere") == []


def test_another_users_integration_is_refused(api, provider, alice, bob):
    integration = connected(alice, provider)
    with pytest.raises(Integration.DoesNotExist):
        tokens.session(integration, purpose=PURPOSE, actor=bob).get(api.url, timeout=5)
    assert api.tokens_sent() == []
    assert AuditEvent.objects.filter(action="reveal_denied").count() == 1


def test_a_purpose_is_required(provider, alice):
    integration = connected(alice, provider)
    with pytest.raises(ValueError):
        tokens.session(integration, purpose="")
    with pytest.raises(ValueError):
        tokens.httpx_auth(integration, purpose="")


@pytest.mark.django_db(transaction=True)
def test_20_threads_on_one_expired_token_refresh_once(api, provider, alice, fake):
    callers = 20
    integration = connected(alice, provider)
    expire(integration)
    session = tokens.session(integration, purpose=PURPOSE)
    barrier = threading.Barrier(callers)
    statuses, errors = [], []

    def call():
        try:
            barrier.wait(timeout=30)
            statuses.append(session.get(api.url, timeout=30).status_code)
        except Exception as exc:  # noqa: BLE001
            errors.append(type(exc).__name__)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert statuses == [200] * callers
    assert len(fake.refresh_requests()) == 1
    integration.refresh_from_db()
    assert set(api.tokens_sent()) == {integration.access_token}


def test_the_token_never_shows_in_reprs_exceptions_or_logs(fake, provider, alice, canary, all_logs):
    api = Api(fake, accepted=())
    integration = connected(alice, provider, access=canary, refresh=None)
    session = tokens.session(integration, purpose=PURPOSE)
    auth = tokens.httpx_auth(integration, purpose=PURPOSE)
    with pytest.raises(tokens.ReauthorizationRequired) as info:
        session.get(api.url, timeout=5)
    for text in (repr(session), repr(auth), repr(session.policy), str(info.value)):
        assert canary not in text
    assert integration.pk and str(integration.pk) in repr(session)
    with pytest.raises(requests.ConnectionError) as info:
        tokens.session(connected(alice, provider, access=canary), purpose=PURPOSE).get(
            closed_port_url() + "/api/me", timeout=5
        )
    assert canary not in str(info.value)
    assert_not_logged(all_logs, canary)


# -- tokens.httpx_auth ----------------------------------------------------------------


def test_httpx_client_refreshes_once_after_a_401_and_retries(api, provider, alice, fake):
    integration = connected(alice, provider)
    api.accepted.discard(STORED)
    with httpx.Client(auth=tokens.httpx_auth(integration, purpose=PURPOSE)) as client:
        response = client.post(api.url, data={"q": "calendar"})
        assert response.status_code == 200
        assert client.get(api.url).status_code == 200
    integration.refresh_from_db()
    assert api.tokens_sent() == [STORED, integration.access_token, integration.access_token]
    assert [r["form"] for r in fake.requests_to("/api/me")][:2] == [{"q": "calendar"}] * 2
    assert len(fake.refresh_requests()) == 1


def test_httpx_client_gets_the_401_after_one_retry(api, provider, alice, fake):
    integration = connected(alice, provider)
    api.reject_all = True
    with httpx.Client(auth=tokens.httpx_auth(integration, purpose=PURPOSE)) as client:
        assert client.get(api.url).status_code == 401
    assert len(fake.requests_to("/api/me")) == 2
    assert len(fake.refresh_requests()) == 1


def _close_executor_connections():
    """The thread-sensitive executor's thread opened its own connections."""
    return asyncio.run(_aclose())


async def _aclose():
    from asgiref.sync import sync_to_async

    await sync_to_async(connections.close_all, thread_sensitive=True)()


@pytest.mark.django_db(transaction=True)
def test_async_client_inside_an_event_loop(api, provider, alice, fake):
    """Inside a running loop the ORM is only reached through the executor:
    no SynchronousOnlyOperation, one refresh for the expired token, then one
    after the provider's 401 and a successful retry."""
    integration = connected(alice, provider)
    expire(integration)

    async def main():
        auth = tokens.httpx_auth(integration, purpose=PURPOSE, actor=alice)
        async with httpx.AsyncClient(auth=auth) as client:
            first = await client.get(api.url)
            api.accepted.clear()  # the provider revokes what it issued
            second = await client.post(api.url, json={"q": "calendar"})
        token = await tokens.aget_valid_token(integration, purpose="async view", actor=alice)
        stored = await tokens.aread_access_token(integration, purpose="async view")
        return first.status_code, second.status_code, token, stored

    try:
        first, second, token, stored = asyncio.run(main())
    finally:
        _close_executor_connections()
    assert (first, second) == (200, 200)
    assert len(fake.refresh_requests()) == 2
    integration.refresh_from_db()
    assert token == stored and token.reveal() == integration.access_token
    assert api.tokens_sent()[-1] == integration.access_token


# -- credentials ----------------------------------------------------------------------

KEY = "canary-7f3a9c1e-SECRET-do-not-leak"


@pytest.fixture
def echo(fake):
    """An API that answers 200 and lets the test read what it received."""
    fake.handlers["/api/echo"] = lambda form, headers: (200, {"ok": True})
    return f"{fake.url}/api/echo"


def _credential(user, provider=None, credential_type="api_key", data=None):
    data = data or {"api_key": KEY}
    return credentials.create_credential(
        user,
        name=f"c-{credential_type}",
        provider=provider,
        credential_type=credential_type,
        data=data,
    )


def _received(fake):
    request = fake.requests_to("/api/echo")[-1]
    return request["headers"], request["form"]


@pytest.mark.parametrize("client", ["requests", "httpx"])
@pytest.mark.parametrize(
    ("setting", "credential_type", "data", "header", "value"),
    [
        (None, "api_key", {"api_key": KEY}, "Authorization", f"Bearer {KEY}"),
        ({"in": "header", "name": "X-API-Key"}, "api_key", {"api_key": KEY}, "X-Api-Key", KEY),
        (
            {"name": "Authorization", "prefix": "Token "},
            "api_key",
            {"api_key": KEY},
            "Authorization",
            f"Token {KEY}",
        ),
        (None, "bearer", {"token": KEY}, "Authorization", f"Bearer {KEY}"),
        (
            None,
            "basic",
            {"username": "alice", "password": KEY},
            "Authorization",
            "Basic " + base64.b64encode(f"alice:{KEY}".encode()).decode(),
        ),
    ],
)
def test_credential_placements_in_headers(
    fake, echo, alice, client, setting, credential_type, data, header, value, all_logs
):
    provider = make_provider(fake, metadata={"api_key": setting} if setting else {})
    credential = _credential(alice, provider, credential_type, data)
    if client == "requests":
        with credentials.session(alice, credential, purpose=PURPOSE) as session:
            assert session.get(echo, timeout=5).status_code == 200
    else:
        with httpx.Client(auth=credentials.httpx_auth(alice, credential, purpose=PURPOSE)) as http:
            assert http.get(echo).status_code == 200
    headers, query = _received(fake)
    assert {k.lower(): v for k, v in headers.items()}[header.lower()] == value
    assert query == {}
    assert uses() == 1
    assert_not_logged(all_logs, KEY)


def _chain(exc):
    """The exception and the causes a traceback would print with it."""
    while exc is not None:
        yield exc
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


@pytest.mark.parametrize("client", ["requests", "httpx"])
def test_an_api_key_in_the_query_is_redacted_from_logs_and_errors(
    fake, echo, alice, client, all_logs
):
    """The key is then in the URL, which urllib3 and httpx log: the registered
    Secret makes the project's log filter remove it; a connection error's
    message does not quote it."""
    provider = make_provider(fake, metadata={"api_key": {"in": "query", "name": "key"}})
    credential = _credential(alice, provider)
    if client == "requests":
        session = credentials.session(alice, credential, purpose=PURPOSE)
        assert session.get(echo, params={"page": "2"}, timeout=5).status_code == 200
        with pytest.raises(requests.ConnectionError) as info:
            session.get(closed_port_url() + "/api/echo", timeout=5)
    else:
        auth = credentials.httpx_auth(alice, credential, purpose=PURPOSE)
        with httpx.Client(auth=auth) as http:
            assert http.get(echo, params={"page": "2"}).status_code == 200
            with pytest.raises(httpx.ConnectError) as info:
                http.get(closed_port_url() + "/api/echo")
    headers, query = _received(fake)
    assert query == {"page": "2", "key": KEY}
    assert "Authorization" not in headers
    assert not any(KEY in str(exc) for exc in _chain(info.value))
    assert is_registered(KEY)
    assert any(KEY in record.getMessage() for record in all_logs.records)  # urllib3/httpx URL
    redacting = RedactingFilter()
    for record in all_logs.records:
        redacting.filter(record)
        assert KEY not in record.getMessage()


def test_a_credential_401_is_returned_without_retry(fake, alice):
    fake.handlers["/api/echo"] = lambda form, headers: (401, {"error": "invalid_key"})
    credential = _credential(alice, make_provider(fake))
    response = credentials.session(alice, credential, purpose=PURPOSE).get(
        f"{fake.url}/api/echo", timeout=5
    )
    assert response.status_code == 401
    assert len(fake.requests_to("/api/echo")) == 1


def test_another_users_credential_is_refused_and_audited(fake, echo, alice, bob):
    credential = _credential(alice)
    with pytest.raises(credentials.Credential.DoesNotExist):
        credentials.session(bob, credential, purpose=PURPOSE).get(echo, timeout=5)
    assert fake.requests_to("/api/echo") == []
    assert AuditEvent.objects.filter(action="reveal_denied").count() == 1


@pytest.mark.parametrize(
    "setting",
    [
        "X-API-Key",
        {"in": "cookie", "name": "k"},
        {"in": "header", "name": " "},
        {"in": "query"},
        {"name": "k", "prefix": 3},
    ],
)
def test_a_malformed_placement_is_a_configuration_error(fake, echo, alice, setting):
    credential = _credential(alice, make_provider(fake, metadata={"api_key": setting}))
    with pytest.raises(ImproperlyConfigured) as info:
        credentials.session(alice, credential, purpose=PURPOSE).get(echo, timeout=5)
    assert KEY not in str(info.value)
    assert fake.requests_to("/api/echo") == []


def test_a_custom_credential_has_no_standard_placement(fake, echo, alice):
    credential = _credential(alice, credential_type="custom", data={"anything": KEY})
    with pytest.raises(ValueError) as info:
        credentials.session(alice, credential, purpose=PURPOSE).get(echo, timeout=5)
    assert KEY not in str(info.value)
    assert (
        repr(provider_calls.Placement(KEY, headers={"X": KEY}, params={"k": KEY})).count(KEY) == 0
    )


@pytest.mark.django_db(transaction=True)
def test_credential_auth_in_an_async_client(fake, echo, alice):
    credential = _credential(alice)

    async def main():
        auth = credentials.httpx_auth(alice, credential, purpose=PURPOSE)
        async with httpx.AsyncClient(auth=auth) as http:
            status = (await http.get(echo)).status_code
        secret = await credentials.aread_secret(alice, credential, purpose=PURPOSE)
        return status, secret

    try:
        status, secret = asyncio.run(main())
    finally:
        _close_executor_connections()
    assert status == 200 and secret.reveal() == {"api_key": KEY}
    assert _received(fake)[0]["Authorization"] == f"Bearer {KEY}"


SHORT_KEY = "zQx"  # 3 characters: too short for the registry of secret values


@pytest.mark.parametrize("client", ["requests", "httpx"])
def test_a_short_api_key_in_the_query_is_removed_from_every_error_and_log(
    fake, echo, alice, client, all_logs
):
    """Issue 23, item 8: a value placed in a URL is masked by its parameter's name,
    whatever its length, in the error we raise, the log lines and the error report."""
    import sys

    from integrations.reporting import RedactingExceptionReporter

    provider = make_provider(fake, metadata={"api_key": {"in": "query", "name": "appid"}})
    credential = _credential(alice, provider, data={"api_key": SHORT_KEY})
    if client == "requests":
        session = credentials.session(alice, credential, purpose=PURPOSE)
        assert session.get(echo, params={"page": "2"}, timeout=5).status_code == 200
        try:
            session.get(closed_port_url() + "/api/echo", params={"q": "1"}, timeout=5)
        except requests.ConnectionError:
            report = sys.exc_info()
    else:
        auth = credentials.httpx_auth(alice, credential, purpose=PURPOSE)
        with httpx.Client(auth=auth) as http:
            assert http.get(echo, params={"page": "2"}).status_code == 200
            try:
                http.get(closed_port_url() + "/api/echo", params={"q": "1"})
            except httpx.ConnectError:
                report = sys.exc_info()
    assert _received(fake)[1] == {"page": "2", "appid": SHORT_KEY}  # it was sent
    assert not any(SHORT_KEY in str(exc) for exc in _chain(report[1]))
    assert any(f"appid={SHORT_KEY}" in r.getMessage() for r in all_logs.records)  # as logged
    redacting = RedactingFilter()
    for record in all_logs.records:
        redacting.filter(record)
        assert SHORT_KEY not in record.getMessage()
    assert any("appid=[REDACTED]" in r.getMessage() for r in all_logs.records)
    for reporter in (
        RedactingExceptionReporter(None, *report),
        RedactingExceptionReporter(None, *report, is_email=True),
    ):
        for text in (reporter.get_traceback_html(), reporter.get_traceback_text()):
            assert f"appid={SHORT_KEY}" not in text and f"appid%3D{SHORT_KEY}" not in text


# -- OAuth 1.0a PLAINTEXT: the secrets themselves go on the wire (issue 23, item 2) ----


@pytest.fixture
def plaintext_integration(alice, canary):
    from integrations.models import Provider

    provider = Provider.objects.create(
        slug="plain1",
        name="Plain 1",
        auth_type=Provider.AuthType.OAUTH1,
        signature_method=Provider.SignatureMethod.PLAINTEXT,
        request_token_url="https://provider.test/oauth/request_token",
        authorize_url="https://provider.test/oauth/authorize",
        token_url="https://provider.test/oauth/access_token",
        userinfo_url="https://provider.test/account",
        client_id="plain-client",
    )
    credentials.set_client_secret(provider, f"{canary}-client", actor=None)
    integration, _ = tokens.connect(
        alice,
        provider,
        {"oauth_token": f"{canary}-token", "oauth_token_secret": f"{canary}-secret"},
        external_account_id="acct-plain",
    )
    return integration


@pytest.mark.parametrize("client", ["requests", "httpx"])
@pytest.mark.parametrize("where", ["loopback", "elsewhere"])
def test_a_plaintext_signed_request_to_plain_http_is_refused_before_it_leaves(
    fake, echo, alice, plaintext_integration, canary, client, where, all_logs
):
    from integrations.oauth1 import InsecureRequestRefused

    url = echo if where == "loopback" else "http://provider.test/api/echo"
    with pytest.raises(InsecureRequestRefused) as refused:
        if client == "requests":
            tokens.session(plaintext_integration, purpose=PURPOSE, actor=alice).get(url, timeout=5)
        else:
            auth = tokens.httpx_auth(plaintext_integration, purpose=PURPOSE, actor=alice)
            with httpx.Client(auth=auth) as http:
                http.get(url)
    assert refused.value.code == "plaintext_needs_https"
    assert canary not in str(refused.value)
    assert fake.requests_to("/api/echo") == []  # nothing was sent
    event = AuditEvent.objects.get(action="use", outcome="denied")
    assert event.detail == "plaintext_needs_https" and event.purpose == PURPOSE
    assert event.target_id == str(plaintext_integration.pk) and event.actor == alice
    assert not AuditEvent.objects.filter(action="use", outcome="success").exists()
    assert_not_logged(all_logs, canary)


def test_a_plaintext_signed_request_over_https_is_signed_and_sent(plaintext_integration, alice):
    """HTTPS passes the check: the request goes out (to a closed port here)."""
    https = closed_port_url().replace("http://", "https://") + "/api/echo"
    with pytest.raises(requests.ConnectionError):
        tokens.session(plaintext_integration, purpose=PURPOSE, actor=alice).get(https, timeout=5)
    assert AuditEvent.objects.filter(
        action="use", outcome="success", target_type="integrations.integration"
    ).exists()


def test_the_plaintext_signer_itself_refuses_plain_http(plaintext_integration, canary):
    """The backstop under the policy: Authlib's signer, as the flow's own requests use it."""
    from integrations import oauth1

    auth = oauth1.signing_auth(
        plaintext_integration.provider, "tok", "tok-secret", client_secret=None
    )
    with pytest.raises(oauth1.InsecureRequestRefused):
        auth.prepare("GET", "http://127.0.0.1:9/api", {}, b"")
    url, headers, _body = auth.prepare("GET", "https://provider.test/api", {}, b"")
    assert 'oauth_signature_method="PLAINTEXT"' in headers["Authorization"]


# -- allowed_hosts: the token only goes where the caller allows (issue 23) ------------


def _other_host(url):
    """The same loopback server under another host name."""
    return url.replace("127.0.0.1", "localhost")


@pytest.mark.parametrize("client", ["requests", "httpx"])
@pytest.mark.parametrize("allowed", ["provider", "list"])
def test_allowed_hosts_refuses_another_host_before_the_token_is_sent(
    fake, echo, alice, client, allowed, canary, all_logs
):
    provider = make_provider(fake, base_url=f"{fake.url}/api")
    integration = connected(alice, provider, access=canary)
    hosts = "provider" if allowed == "provider" else ["127.0.0.1", ".api.test"]
    if client == "requests":
        session = tokens.session(integration, purpose=PURPOSE, actor=alice, allowed_hosts=hosts)
        assert session.get(echo, timeout=5).status_code == 200
        with pytest.raises(provider_calls.HostNotAllowed) as refused:
            session.get(_other_host(echo), timeout=5)
    else:
        auth = tokens.httpx_auth(integration, purpose=PURPOSE, actor=alice, allowed_hosts=hosts)
        with httpx.Client(auth=auth) as http:
            assert http.get(echo).status_code == 200
            with pytest.raises(provider_calls.HostNotAllowed) as refused:
                http.get(_other_host(echo))
    assert refused.value.host == "localhost" and refused.value.code == "host_not_allowed"
    assert len(fake.requests_to("/api/echo")) == 1  # the refused one never left
    denied = AuditEvent.objects.get(action="use", outcome="denied")
    assert denied.detail == "host_not_allowed" and denied.target_id == str(integration.pk)
    # The allowed request's token only: the refused one read none.
    assert AuditEvent.objects.filter(action="use", outcome="success", purpose=PURPOSE).count() == 1
    assert_not_logged(all_logs, canary)


def test_allowed_hosts_for_a_credential_and_a_provider_without_base_url(fake, echo, alice):
    provider = make_provider(fake, metadata={"api_key": {"in": "query", "name": "key"}})
    credential = _credential(alice, provider)
    session = credentials.session(alice, credential, purpose=PURPOSE, allowed_hosts=["127.0.0.1"])
    assert session.get(echo, timeout=5).status_code == 200
    with pytest.raises(provider_calls.HostNotAllowed):
        session.get(_other_host(echo), timeout=5)
    assert len(fake.requests_to("/api/echo")) == 1
    assert AuditEvent.objects.filter(
        action="use", outcome="denied", target_type="integrations.credential"
    ).exists()
    with pytest.raises(ImproperlyConfigured, match="base_url"):
        credentials.session(alice, credential, purpose=PURPOSE, allowed_hosts="provider").get(
            echo, timeout=5
        )
    with pytest.raises(TypeError):
        credentials.session(alice, credential, purpose=PURPOSE, allowed_hosts="127.0.0.1")


def test_without_allowed_hosts_any_host_is_reached_as_before(api, provider, alice, fake):
    integration = connected(alice, provider)
    assert tokens.session(integration, purpose=PURPOSE).get(_other_host(api.url), timeout=5).ok
