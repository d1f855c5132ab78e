from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from integrations import tokens
from integrations.crypto import is_sealed
from integrations.models import AuditEvent, Integration, Provider
from tests.oauth_helpers import connected, expire, fake, make_provider  # noqa: F401 (fake)

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice")


@pytest.fixture
def provider():
    return Provider.objects.create(slug="demo", name="Demo")


RESPONSE = {
    "access_token": "at-0123456789-access",
    "refresh_token": "rt-0123456789-refresh",
    "token_type": "Bearer",
    "expires_in": 3600,
    "scope": "read write",
}


def stored(column, pk):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM integrations_integration WHERE id = %s",
            [Integration._meta.pk.get_db_prep_value(pk, connection)],
        )
        return cursor.fetchone()[0]


def test_connect_stores_sealed_tokens(alice, provider):
    before = timezone.now()
    integration, created = tokens.connect(
        alice,
        provider,
        RESPONSE,
        external_account_id="u-1",
        label="alice@demo",
        requested_scopes=["read"],
    )
    assert created
    assert is_sealed(stored("access_token", integration.pk))
    assert "at-0123456789" not in stored("access_token", integration.pk)
    loaded = Integration.objects.get(pk=integration.pk)
    assert loaded.access_token == RESPONSE["access_token"]
    assert loaded.refresh_token == RESPONSE["refresh_token"]
    assert loaded.granted_scopes == ["read", "write"]
    assert (
        before + timedelta(seconds=3590)
        < loaded.expires_at
        < timezone.now() + timedelta(seconds=3601)
    )
    assert AuditEvent.objects.get().action == "connect"


def test_reconnecting_the_same_account_updates_it(alice, provider):
    first, _ = tokens.connect(alice, provider, RESPONSE, external_account_id="u-1")
    second, created = tokens.connect(
        alice, provider, {**RESPONSE, "access_token": "at-second-000"}, external_account_id="u-1"
    )
    assert not created and second.pk == first.pk
    assert Integration.objects.count() == 1
    assert Integration.objects.get().access_token == "at-second-000"


def test_refresh_without_refresh_token_keeps_the_old_one(alice, provider):
    integration, _ = tokens.connect(alice, provider, RESPONSE)
    tokens.store_token_response(integration, {"access_token": "at-new-1234567", "expires_in": "60"})
    loaded = Integration.objects.get(pk=integration.pk)
    assert loaded.access_token == "at-new-1234567"
    assert loaded.refresh_token == RESPONSE["refresh_token"]
    assert loaded.granted_scopes == ["read", "write"]
    assert loaded.last_refreshed_at is not None


def test_rotated_refresh_token_is_stored(alice, provider):
    integration, _ = tokens.connect(alice, provider, RESPONSE)
    tokens.store_token_response(integration, {**RESPONSE, "refresh_token": "rt-rotated-1234"})
    assert Integration.objects.get(pk=integration.pk).refresh_token == "rt-rotated-1234"


def test_scope_defaults_to_requested_on_first_connect(alice, provider):
    response = {k: v for k, v in RESPONSE.items() if k != "scope"}
    integration, _ = tokens.connect(alice, provider, response, requested_scopes=["a", "b"])
    assert integration.granted_scopes == ["a", "b"]


def test_expires_at_and_no_expiry(alice, provider):
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    integration, _ = tokens.connect(
        alice, provider, {"access_token": "x" * 10, "expires_at": int(moment.timestamp())}
    )
    assert integration.expires_at == moment
    integration, _ = tokens.connect(alice, provider, {"access_token": "y" * 10})
    assert integration.expires_at is None


@pytest.mark.parametrize(
    ("response", "fragment"),
    [
        ({}, "no access_token"),
        ({"access_token": ""}, "no access_token"),
        ({"access_token": 5}, "no access_token"),
        ({"access_token": "canary-at", "expires_in": "soon"}, "'expires_in' is not a number"),
        ({"access_token": "canary-at", "refresh_token": 7}, "'refresh_token' must be a string"),
        ({"access_token": "canary-at", "scope": 7}, "'scope' must be"),
        ({"access_token": "canary-at", "expires_at": "x"}, "'expires_at' is not a timestamp"),
        ("canary-string", "must be a JSON object"),
        # Malformed values a real provider was seen to send, or a hostile one could:
        ({"access_token": "canary-at", "expires_in": 10**12}, "'expires_in' is out of range"),
        ({"access_token": "canary-at", "expires_in": -1}, "'expires_in' is out of range"),
        ({"access_token": "canary-at", "expires_in": float("inf")}, "'expires_in' is not a number"),
        ({"access_token": "canary-at", "expires_in": True}, "'expires_in' is not a number"),
        ({"access_token": "canary-at", "expires_at": 10**15}, "'expires_at' is out of range"),
        ({"access_token": "canary-at", "scope": "read canary\x00write"}, "'scope' holds a control"),
        (
            {"access_token": "canary-at", "scope": ["read", "canary\ud800"]},
            "'scope' holds a control",
        ),
        ({"access_token": "canary-at", "scope": "canary" * 200}, "'scope' is too long"),
        ({"access_token": "canary-at", "token_type": "Bearer\x00canary"}, "'token_type' holds"),
        ({"access_token": "canary-at", "token_type": "canary" * 10}, "'token_type' is too long"),
        ({"access_token": "canary-at", "token_type": ["Bearer"]}, "'token_type' must be a string"),
        ({"access_token": "canary-at\x00"}, "'access_token' holds a control"),
        ({"access_token": "canary-at\udfff"}, "'access_token' holds a control"),
        ({"access_token": "canary-at", "refresh_token": "canary-rt\x00"}, "'refresh_token' holds"),
    ],
)
def test_bad_token_responses_name_fields_not_values(alice, provider, response, fragment):
    with pytest.raises(tokens.TokenResponseError) as info:
        tokens.connect(alice, provider, response)
    assert fragment in str(info.value)
    assert "canary" not in str(info.value)
    assert not Integration.objects.exists()


def test_read_access_token_is_audited_and_masked(alice, provider, canary):
    integration, _ = tokens.connect(alice, provider, {"access_token": canary})
    secret = tokens.read_access_token(integration, purpose="sync", actor=alice, ip_address="::1")
    assert secret.reveal() == canary
    assert canary not in repr(secret)
    use = AuditEvent.objects.get(action="use")
    assert (use.actor, use.purpose, use.ip_address, use.target_id) == (
        alice,
        "sync",
        "::1",
        str(integration.pk),
    )


def test_read_access_token_of_another_user_is_denied(alice, provider, django_user_model):
    bob = django_user_model.objects.create_user("bob")
    integration, _ = tokens.connect(alice, provider, RESPONSE)
    with pytest.raises(Integration.DoesNotExist):
        tokens.read_access_token(integration, purpose="steal", actor=bob)
    assert AuditEvent.objects.get(action="reveal_denied").actor == bob
    with pytest.raises(Integration.DoesNotExist):
        tokens.get_integration(bob, integration.pk)
    assert list(tokens.list_integrations(bob)) == []


def test_system_reads_are_labelled(alice, provider):
    integration, _ = tokens.connect(alice, provider, RESPONSE)
    tokens.read_access_token(integration, purpose="nightly sync")
    use = AuditEvent.objects.get(action="use")
    assert (use.actor, use.actor_label) == (None, "system")


def test_a_malformed_refresh_response_is_a_failed_refresh_and_keeps_the_tokens(alice, fake, canary):
    """The refresh path stores through apply_token_response too: a malformed
    response is a recorded, audited failure, never a server error."""
    provider = make_provider(fake)
    integration = connected(alice, provider)
    expire(integration)
    fake.script(
        "/token", 200, {"access_token": canary, "expires_in": 10**12, "scope": f"read {canary}\x00"}
    )
    with pytest.raises(tokens.RefreshFailed) as info:
        tokens.refresh_integration(integration)
    assert info.value.code == "invalid_token_response"
    loaded = Integration.objects.get(pk=integration.pk)
    assert loaded.access_token == "stored-access-token-0001"
    assert (loaded.status, loaded.last_error) == ("error", "invalid_token_response")
    failure = AuditEvent.objects.get(action="refresh", outcome="failure")
    assert failure.detail == "invalid_token_response" and canary not in failure.detail
