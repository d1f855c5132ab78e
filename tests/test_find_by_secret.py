"""credentials.find_by_secret: a credential found by its API key through the
blind index of its sealed copy, owner-scoped and audited (issue 14, item 5)."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from integrations import credentials
from integrations.models import AuditEvent, Credential
from tests.conftest import assert_not_logged
from tests.dbutil import raw_column

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob")


def create(user, name, credential_type="api_key", **data):
    return credentials.create_credential(
        user, name=name, credential_type=credential_type, data=data
    )


def test_found_by_its_api_key_or_bearer_token(alice):
    stripe = create(alice, "stripe", api_key="sk_live_alice_0123456789")
    bearer = create(alice, "bearer", "bearer", token="bearer-alice-0123")
    create(alice, "basic", "basic", username="u", password="sk_live_alice_0123456789")
    assert (
        credentials.find_by_secret(alice, "sk_live_alice_0123456789", purpose="webhook") == stripe
    )
    assert credentials.find_by_secret(alice, "bearer-alice-0123", purpose="p") == bearer
    assert (
        credentials.find_by_secret(
            alice, "bearer-alice-0123", purpose="p", credential_type="bearer"
        )
        == bearer
    )
    with pytest.raises(Credential.DoesNotExist):
        credentials.find_by_secret(
            alice, "bearer-alice-0123", purpose="p", credential_type="api_key"
        )


def test_another_users_key_finds_nothing(alice, bob):
    create(bob, "bob's", api_key="sk_live_bob_only")
    with pytest.raises(Credential.DoesNotExist):
        credentials.find_by_secret(alice, "sk_live_bob_only", purpose="webhook")
    assert credentials.find_by_secret(bob, "sk_live_bob_only", purpose="webhook").name == "bob's"


def test_replacing_the_data_moves_the_lookup(alice):
    credential = create(alice, "k", api_key="first-key-value")
    credentials.update_credential(alice, credential, data={"api_key": "second-key-value"})
    with pytest.raises(Credential.DoesNotExist):
        credentials.find_by_secret(alice, "first-key-value", purpose="p")
    assert credentials.find_by_secret(alice, "second-key-value", purpose="p") == credential
    credentials.update_credential(alice, credential, name="renamed")  # data kept: still found
    assert credentials.find_by_secret(alice, "second-key-value", purpose="p").name == "renamed"


@pytest.mark.parametrize("secret", ["", None, 42])
def test_bad_input_is_refused(alice, secret):
    with pytest.raises(ValueError):
        credentials.find_by_secret(alice, secret, purpose="p")
    with pytest.raises(ValueError, match="purpose"):
        credentials.find_by_secret(alice, "x", purpose="")


def test_every_lookup_is_audited_never_with_the_secret(alice, canary, all_logs):
    credential = create(alice, "k", api_key=canary)
    credentials.find_by_secret(alice, canary, purpose="incoming webhook", ip_address="10.0.0.1")
    with pytest.raises(Credential.DoesNotExist):
        credentials.find_by_secret(alice, canary + "-wrong", purpose="incoming webhook")
    found, missed = AuditEvent.objects.filter(purpose="incoming webhook").order_by("created_at")
    assert (found.action, found.outcome, found.target_id) == ("use", "success", str(credential.pk))
    assert (missed.action, missed.outcome, missed.target_id) == ("use", "failure", "")
    for event in AuditEvent.objects.all():
        assert canary not in repr(event.__dict__)
    assert canary not in repr(raw_column(Credential, "lookup_secret_bidx", credential.pk))
    assert canary not in raw_column(Credential, "lookup_secret", credential.pk)
    assert_not_logged(all_logs, canary)


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_credentials_their_copy(alice):
    call_command("migrate", "integrations", "0002", verbosity=0)
    try:
        state = MigrationExecutor(connection).loader.project_state(
            ("integrations", "0002_refresh_lease")
        )
        Old = state.apps.get_model("integrations", "Credential")
        old = Old.objects.create(
            owner_id=alice.pk, name="old", credential_type="api_key", data={"api_key": "old-key"}
        )
        Old.objects.create(
            owner_id=alice.pk, name="basic", credential_type="basic", data={"username": "u"}
        )
    finally:
        call_command("migrate", "integrations", verbosity=0)
    assert credentials.find_by_secret(alice, "old-key", purpose="p").pk == old.pk
    assert Credential.objects.get(name="basic").lookup_secret is None
