"""Fixtures and helpers shared by the OAuth tests (import the fixtures by name)."""

import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.db import connection
from django.test import Client
from django.utils import timezone

from integrations import credentials, oauth_flow, tokens
from integrations.models import Integration, Provider
from tests.fake_provider import FakeProvider

CLIENT_SECRET = "fake-client-secret-0123456789"
# Every try of one refresh (REFRESH_RETRY_ATTEMPTS's default): script a failure
# this many times for it to outlast the backoff.
EVERY_TRY = 3

_skip_unless_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL row locks"
)


def postgres_only(test):
    """Mark ``test`` postgres_only and skip it elsewhere (SQLite has no row locks)."""
    return pytest.mark.postgres_only(_skip_unless_postgres(test))


@pytest.fixture
def fake():
    provider = FakeProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(
        "alice", email="alice@example.test", password="pw-alice-123"
    )


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="pw-bob-123")


def make_provider(fake, *, slug="fake", **fields):
    values = {
        "name": "Fake",
        "token_url": fake.token_url,
        "authorize_url": fake.authorize_url,
        "revocation_url": fake.revocation_url,
        "userinfo_url": fake.userinfo_url,
        "client_id": fake.client_id,
        "default_scopes": ["read"],
        **fields,
    }
    provider = Provider.objects.create(slug=slug, **values)
    credentials.set_client_secret(provider, CLIENT_SECRET, actor=None)
    return provider


@pytest.fixture
def provider(fake):
    return make_provider(fake)


def connected(
    user,
    provider,
    *,
    expires_in=3600,
    access="stored-access-token-0001",
    refresh="stored-refresh-token-0001",
    external_account_id="acct-1",
):
    token = {"access_token": access, "token_type": "Bearer", "expires_in": expires_in}
    if refresh:
        token["refresh_token"] = refresh
    integration, _ = tokens.connect(user, provider, token, external_account_id=external_account_id)
    return integration


def expire(integration, seconds_ago=10):
    Integration.objects.filter(pk=integration.pk).update(
        expires_at=timezone.now() - timedelta(seconds=seconds_ago)
    )
    integration.refresh_from_db()


# -- the browser side of the flow (Django's test client) ---------------------------


@pytest.fixture
def browser(alice):
    client = Client()
    client.force_login(alice)
    return client


def start(browser, slug="fake", **params):
    """Open the connect URL; returns the provider's authorization URL and its query."""
    response = browser.get(f"/integrations/connect/{slug}/", params)
    assert response.status_code == 302, response.content
    query = {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}
    return response["Location"], query


def consent(location):
    """Follow the authorization URL to the provider, as the browser would, and
    return the query it sends the browser back to the callback with."""
    response = requests.get(location, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def callback(browser, slug="fake", **params):
    return browser.get(f"/integrations/callback/{slug}/", params)


def pending(browser):
    return browser.session[oauth_flow.SESSION_KEY]["pending"]


def race_for_token(integration, callers):
    """What ``get_valid_token`` gave each of ``callers`` threads started together,
    each on its own connection: the token, ``Type:code`` for a TokenUnavailable,
    ``RAW Type`` for anything else (a driver's error reaching a caller)."""
    barrier = threading.Barrier(callers)
    outcomes = []

    def ask():
        try:
            fresh = Integration.objects.get(pk=integration.pk)
            barrier.wait(timeout=30)
            outcomes.append(tokens.get_valid_token(fresh, purpose="race").reveal())
        except tokens.TokenUnavailable as exc:
            outcomes.append(f"{type(exc).__name__}:{exc.code}")
        except Exception as exc:  # noqa: BLE001 - shown as the outcome
            outcomes.append(f"RAW {type(exc).__name__}")
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes
