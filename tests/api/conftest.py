"""Fixtures for the REST API tests: users, token clients, a provider, and a
world of integrations and credentials owned by alice (bob owns nothing of hers)."""

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from rest_framework.test import APIClient

from integrations import credentials, tokens
from integrations.api.api_tokens import create_api_token
from integrations.models import Provider

# Secret values used by the fixtures; none may ever appear in a response.
ACCESS = "fixture-access-token-0123456789abcdef"
REFRESH = "fixture-refresh-token-0123456789abcdef"
API_KEY = "fixture-api-key-0123456789abcdefWXYZ"
CLIENT_SECRET = "fixture-client-secret-0123456789abcdef"
FIXTURE_SECRETS = (ACCESS, REFRESH, API_KEY, CLIENT_SECRET)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counts live in the cache: every test starts from zero."""
    cache.clear()
    yield
    cache.clear()


def _client(user=None):
    client = APIClient()
    if user is not None:
        token, _expires_at = create_api_token(user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def make_client():
    return _client


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-password-1")


@pytest.fixture
def staff(django_user_model):
    """A staff user with the provider permissions (as the admin would ask)."""
    user = django_user_model.objects.create_user(
        "staff", password="staff-password-1", is_staff=True
    )
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="integrations", codename__endswith="_provider"
        )
    )
    return django_user_model.objects.get(pk=user.pk)  # drop the permission cache


@pytest.fixture
def alice_api(alice):
    return _client(alice)


@pytest.fixture
def bob_api(bob):
    return _client(bob)


@pytest.fixture
def staff_api(staff):
    return _client(staff)


@pytest.fixture
def anon_api():
    return _client()


@pytest.fixture
def provider(db):
    provider = Provider.objects.create(
        slug="cloudy",
        name="Cloudy",
        category=Provider.Category.STORAGE,
        auth_type=Provider.AuthType.OAUTH2,
        authorize_url="https://auth.cloudy.example/authorize",
        token_url="https://auth.cloudy.example/token",
        client_id="cloudy-client",
    )
    credentials.set_client_secret(provider, CLIENT_SECRET, actor=None)
    return provider


@pytest.fixture
def mailer(db):
    return Provider.objects.create(
        slug="mailer",
        name="Mailer",
        category=Provider.Category.EMAIL,
        auth_type=Provider.AuthType.API_KEY,
    )


@pytest.fixture
def hidden_provider(db):
    return Provider.objects.create(slug="hidden", name="Hidden", status=Provider.Status.INACTIVE)


@pytest.fixture
def integration(alice, provider):
    integration, _ = tokens.connect(
        alice,
        provider,
        {
            "access_token": ACCESS,
            "refresh_token": REFRESH,
            "expires_in": 3600,
            "scope": "read write",
        },
        external_account_id="alice@cloudy",
        label="Alice at Cloudy",
    )
    return integration


@pytest.fixture
def credential(alice, mailer):
    return credentials.create_credential(
        alice,
        name="Mailer key",
        credential_type="api_key",
        data={"api_key": API_KEY},
        provider=mailer,
    )


def assert_no_secret(response, *secrets):
    """Neither the body nor any header carries any of ``secrets`` (or a fixture secret)."""
    text = response.content.decode("utf-8", "replace")
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    for secret in (*secrets, *FIXTURE_SECRETS):
        assert secret not in text
        assert secret not in headers


def walk_keys(value):
    """Every dict key anywhere in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from walk_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_keys(item)


SECRET_KEYS = {
    "data",
    "access_token",
    "refresh_token",
    "client_secret",
    "api_key",
    "password",
    "token",
    "secret",
}


def assert_no_secret_keys(payload):
    assert not SECRET_KEYS & set(walk_keys(payload)), payload
