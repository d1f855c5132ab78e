"""Redis down: the rate-limited API endpoints, the credential pages and both
OAuth callbacks refuse with 503 + Retry-After (no trace, nothing stored, the
OAuth state still single-use), one warning per outage, and everything works
again once Redis is back, without restarting anything.

Each test points Django's caches at a Redis server of its own
(``private_redis``), kills it, and starts it again on the same port.
"""

import logging
import threading
from urllib.parse import urlencode

import pytest
from django.core.cache import caches
from django.db import close_old_connections
from django.test import Client

from integrations.models import AuditEvent, Credential, Integration, Provider
from tests.faults.outage_helpers import (
    CANARY,
    api_client,
    assert_refused_cleanly,
    no_outage_left,  # noqa: F401 (fixture)
    outage_records,
)
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    alice,
    browser,
    callback,
    connected,
    consent,
    fake,
    make_provider,
    provider,
    start,
)

pytestmark = pytest.mark.faults

SECRET = CANARY


@pytest.fixture
def redis_cache(private_redis, settings, no_outage_left):  # noqa: F811
    """Django's default cache (rate-limit counters, OAuth markers) on the private Redis."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": private_redis.url,
        }
    }
    settings.RATELIMIT_USE_CACHE = "default"
    yield private_redis
    caches["default"].close()


def credential_post(client, name="Mailer key", **headers):
    return client.post(
        "/integrations/credentials/add/",
        {"name": name, "credential_type": "api_key", "api_key": SECRET},
        **headers,
    )


# -- the pages ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_credential_add_page_refuses_while_redis_is_down_then_works(
    redis_cache, browser, all_logs
):
    redis_cache.stop()
    for _ in range(5):
        assert_refused_cleanly(credential_post(browser))
    french = credential_post(browser, HTTP_ACCEPT_LANGUAGE="fr")
    assert_refused_cleanly(french)
    assert "Veuillez réessayer dans 30 secondes" in french.content.decode()
    assert not Credential.objects.exists()
    # One warning for the outage, naming the backend and the error type, no value;
    # Django does not log each 503 as an error (nor mail the admins).
    [warning] = outage_records(all_logs, logging.WARNING)
    message = warning.getMessage()
    assert "RedisCache" in message and "redis.exceptions.ConnectionError" in message
    assert str(redis_cache.port) not in message
    assert not [r for r in all_logs.records if r.name == "django.request"]

    redis_cache.start()
    response = credential_post(browser)
    assert response.status_code == 302
    assert Credential.objects.count() == 1
    [back] = outage_records(all_logs, logging.INFO)
    assert "available again" in back.getMessage() and "6 request(s)" in back.getMessage()
    assert len(outage_records(all_logs, logging.WARNING)) == 1


@pytest.mark.django_db(transaction=True)
def test_one_warning_for_an_outage_met_by_many_threads(redis_cache, alice, all_logs):
    cookie = Client()
    cookie.force_login(alice)
    session = cookie.cookies
    redis_cache.stop()
    statuses = []
    barrier = threading.Barrier(8)

    def post_several():
        client = Client()
        client.cookies = session
        barrier.wait()
        try:
            for _ in range(4):
                statuses.append(credential_post(client).status_code)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=post_several) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [503] * 32
    assert len(outage_records(all_logs, logging.WARNING)) == 1
    assert not Credential.objects.exists()

    redis_cache.start()
    assert credential_post(cookie).status_code == 302
    assert len(outage_records(all_logs, logging.INFO)) == 1


@pytest.mark.django_db
def test_ratelimit_fail_open_lets_the_page_through_uncounted(redis_cache, browser, settings):
    """A project that sets django-ratelimit's RATELIMIT_FAIL_OPEN chooses this."""
    settings.RATELIMIT_FAIL_OPEN = True
    redis_cache.stop()
    assert credential_post(browser).status_code == 302
    assert Credential.objects.count() == 1


# -- the API -----------------------------------------------------------------------


@pytest.mark.api
@pytest.mark.django_db
def test_the_rate_limited_api_endpoints_refuse_while_redis_is_down_then_work(
    redis_cache, alice, provider, fake, all_logs
):
    api = api_client(alice)
    integration = connected(alice, provider, expires_in=10)
    refresh = f"/api/integrations/{integration.pk}/refresh/"
    create = {
        "name": "Mailer key",
        "type": "api_key",
        "data": {"api_key": SECRET},
    }

    redis_cache.stop()
    assert_refused_cleanly(api.get("/api/credentials/"), json=True)
    assert_refused_cleanly(
        api.post("/api/credentials/", create, content_type="application/json"), json=True
    )
    assert_refused_cleanly(api.post(refresh), json=True)
    french = api.get("/api/credentials/", HTTP_ACCEPT_LANGUAGE="fr")
    assert_refused_cleanly(french, json=True)
    assert "indisponible" in french.json()["error"]["message"]
    assert not Credential.objects.exists()
    assert fake.refresh_requests() == []  # refused before the provider was called
    assert len(outage_records(all_logs, logging.WARNING)) == 1
    assert not [r for r in all_logs.records if r.name == "django.request"]

    redis_cache.start()
    assert api.get("/api/credentials/").status_code == 200
    created = api.post("/api/credentials/", create, content_type="application/json")
    assert created.status_code == 201, created.content
    assert api.post(refresh).status_code == 200
    assert len(fake.refresh_requests()) == 1
    assert len(outage_records(all_logs, logging.INFO)) == 1


# -- the OAuth callbacks -----------------------------------------------------------


@pytest.mark.django_db
def test_the_oauth2_callback_refuses_while_redis_is_down_and_the_state_stays_single_use(
    redis_cache, browser, provider, fake
):
    location, _query = start(browser)
    params = consent(location)
    events = AuditEvent.objects.count()

    redis_cache.stop()
    assert_refused_cleanly(callback(browser, **params))
    assert_refused_cleanly(callback(browser, **params))
    assert not Integration.objects.exists()
    assert AuditEvent.objects.count() == events  # nothing recorded as done or rejected
    assert fake.requests_to("/token") == []  # the code was not spent

    redis_cache.start()
    response = callback(browser, **params)
    assert response.status_code == 302, response.content[:500]
    assert Integration.objects.count() == 1
    # Used once, never again.
    assert callback(browser, **params).status_code == 400
    assert len(fake.requests_to("/token")) == 1


def oauth1_endpoints(fake):
    """Request and access token endpoints of an OAuth 1.0a provider on ``fake``."""

    def form(**values):
        return lambda _form, _headers: (200, urlencode(values))

    fake.handlers["/oauth1/request_token"] = form(
        oauth_token="request-token-1",
        oauth_token_secret="request-secret-1",
        oauth_callback_confirmed="true",
    )
    fake.handlers["/oauth1/access_token"] = form(
        oauth_token="access-token-1", oauth_token_secret="access-secret-1", user_id="42"
    )
    return make_provider(
        fake,
        slug="fake1",
        auth_type=Provider.AuthType.OAUTH1,
        request_token_url=f"{fake.url}/oauth1/request_token",
        authorize_url=f"{fake.url}/oauth1/authorize",
        token_url=f"{fake.url}/oauth1/access_token",
        userinfo_url="",
        revocation_url="",
        default_scopes=[],
        metadata={"account_id_field": "user_id"},
    )


@pytest.mark.django_db
def test_the_oauth1_callback_refuses_while_redis_is_down_and_the_token_stays_single_use(
    redis_cache, browser, fake
):
    oauth1_endpoints(fake)
    response = browser.get("/integrations/connect/fake1/")
    assert response.status_code == 302, response.content[:500]
    params = {"oauth_token": "request-token-1", "oauth_verifier": "verifier-1"}

    events = AuditEvent.objects.count()

    redis_cache.stop()
    assert_refused_cleanly(callback(browser, "fake1", **params))
    assert not Integration.objects.exists()
    assert AuditEvent.objects.count() == events
    assert fake.requests_to("/oauth1/access_token") == []

    redis_cache.start()
    response = callback(browser, "fake1", **params)
    assert response.status_code == 302, response.content[:500]
    assert Integration.objects.get().external_account_id == "42"
    assert callback(browser, "fake1", **params).status_code == 400
    assert len(fake.requests_to("/oauth1/access_token")) == 1


@pytest.mark.django_db
def test_connecting_a_discovery_provider_works_while_redis_is_down(
    redis_cache, browser, fake, all_logs
):
    """The discovery document is cached, but the cache is only a shortcut: with
    Redis down the connect page fetches the document again (no 500), and the
    outage is logged once."""
    make_provider(fake, discovery_url=fake.discovery_url, token_url="", authorize_url="")
    redis_cache.stop()
    for _ in range(2):
        location, query = start(browser)
        assert location.startswith(fake.authorize_url)
    assert len(fake.requests_to("/.well-known/openid-configuration")) == 2
    assert all_logs.text.count("is unavailable") == 1


@pytest.mark.django_db
def test_a_forced_refresh_is_refused_while_its_counter_cannot_be_reached(
    redis_cache, alice, provider, fake
):
    """The per-integration limit of forced refreshes (a 401, the refresh endpoint)
    fails closed like the others: with Redis down nothing is sent to the provider,
    the tokens stay, and the error is typed (a 503 for pages and the API)."""
    from integrations import tokens
    from integrations.outages import ServiceUnavailable

    integration = connected(alice, provider)
    redis_cache.stop()
    with pytest.raises(tokens.RefreshLimitUnavailable) as info:
        tokens.refresh_integration(integration, force=True)
    assert isinstance(info.value, ServiceUnavailable)
    assert info.value.code == "cache_unavailable"
    assert fake.refresh_requests() == []
    redis_cache.start()
    assert tokens.refresh_integration(integration, force=True) == tokens.Outcome.REFRESHED
