import pytest
from django.db import IntegrityError, transaction

from integrations.models import AuditEvent, Credential, Integration, Provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider():
    return Provider.objects.create(slug="acme", name="Acme")


@pytest.mark.parametrize(
    "field",
    ["category", "auth_type", "status", "pkce"],
)
def test_provider_choices_are_enforced_by_the_database(provider, field):
    with pytest.raises(IntegrityError), transaction.atomic():
        Provider.objects.filter(pk=provider.pk).update(**{field: "bogus"})


def test_integration_and_credential_choices_are_enforced(provider, django_user_model):
    user = django_user_model.objects.create_user("u")
    integration = Integration.objects.create(owner=user, provider=provider)
    with pytest.raises(IntegrityError), transaction.atomic():
        Integration.objects.filter(pk=integration.pk).update(status="bogus")
    with pytest.raises(IntegrityError), transaction.atomic():
        Credential.objects.create(owner=user, name="c", credential_type="bogus", data={"a": "b"})


def test_one_integration_per_external_account_but_several_accounts(provider, django_user_model):
    user = django_user_model.objects.create_user("u")
    Integration.objects.create(owner=user, provider=provider, external_account_id="a")
    Integration.objects.create(owner=user, provider=provider, external_account_id="b")
    Integration.objects.create(owner=user, provider=provider)  # unknown account ids may repeat
    Integration.objects.create(owner=user, provider=provider)
    with pytest.raises(IntegrityError), transaction.atomic():
        Integration.objects.create(owner=user, provider=provider, external_account_id="a")


def test_credential_names_are_unique_per_owner(django_user_model):
    alice = django_user_model.objects.create_user("alice")
    bob = django_user_model.objects.create_user("bob")
    Credential.objects.create(owner=alice, name="stripe", credential_type="api_key", data={})
    Credential.objects.create(owner=bob, name="stripe", credential_type="api_key", data={})
    with pytest.raises(IntegrityError), transaction.atomic():
        Credential.objects.create(owner=alice, name="stripe", credential_type="bearer", data={})


class TestAuditEventIsAppendOnly:
    def test_cannot_be_changed_or_deleted_through_the_orm(self):
        event = AuditEvent.objects.create(action="use", purpose="p")
        event.purpose = "changed"
        with pytest.raises(TypeError, match="append-only"):
            event.save()
        with pytest.raises(TypeError, match="append-only"):
            event.delete()
        with pytest.raises(TypeError, match="append-only"):
            AuditEvent.objects.filter(pk=event.pk).update(purpose="x")
        with pytest.raises(TypeError, match="append-only"):
            AuditEvent.objects.all().delete()
        with pytest.raises(TypeError, match="append-only"):
            AuditEvent.objects.bulk_update([event], ["purpose"])
        assert AuditEvent.objects.get(pk=event.pk).purpose == "p"

    def test_survives_the_actor_being_deleted(self, django_user_model):
        user = django_user_model.objects.create_user("gone")
        from integrations import audit

        event = audit.record("use", actor=user, purpose="p")
        user.delete()
        event = AuditEvent.objects.get(pk=event.pk)
        assert event.actor is None
        assert event.actor_label == "gone"


def test_str_of_models_is_not_secret(provider, django_user_model, canary):
    user = django_user_model.objects.create_user("u")
    provider.client_secret = canary
    provider.save()
    integration = Integration.objects.create(
        owner=user, provider=provider, access_token=canary, refresh_token=canary, label="work"
    )
    credential = Credential.objects.create(
        owner=user, name="k", credential_type="api_key", data={"api_key": canary}
    )
    for obj in (provider, integration, credential):
        assert canary not in str(obj)
        assert canary not in repr(obj)
