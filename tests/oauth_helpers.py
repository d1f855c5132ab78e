"""Fixtures and helpers shared by the OAuth tests (import the fixtures by name)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from integrations import credentials, tokens
from integrations.models import Integration, Provider
from tests.fake_provider import FakeProvider

CLIENT_SECRET = "fake-client-secret-0123456789"

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
    return django_user_model.objects.create_user("alice", email="alice@example.test", password="pw-alice-123")


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


def connected(user, provider, *, expires_in=3600, access="stored-access-token-0001",
              refresh="stored-refresh-token-0001", external_account_id="acct-1"):
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
