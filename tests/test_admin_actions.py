import pytest
from django.test.utils import override_settings
from django.urls import reverse

from integrations import credentials, tokens
from integrations.conf import app_settings
from integrations.crypto import Keyring, generate_key
from integrations.models import AuditEvent, Integration, Provider
from tests.dbutil import raw_column, write_raw
from tests.settings import TEST_KEY_V1

pytestmark = pytest.mark.django_db


def run_action(client, model, pks):
    url = reverse(f"admin:integrations_{model._meta.model_name}_changelist")
    return client.post(
        url,
        {"action": "reseal_with_primary_key", "_selected_action": [str(pk) for pk in pks]},
        follow=True,
    )


def test_reseal_selected_providers(admin_client, admin_user, canary):
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V1]}):
        chosen = Provider.objects.create(slug="a", name="A")
        credentials.set_client_secret(chosen, canary, actor=admin_user)
        other = Provider.objects.create(slug="b", name="B")
        credentials.set_client_secret(other, canary, actor=admin_user)
    response = run_action(admin_client, Provider, [chosen.pk])
    page = response.content.decode()
    assert "1 value(s) re-sealed with key version 2" in page
    assert canary not in page
    keyring = app_settings.keyring
    assert keyring.key_version(raw_column(Provider, "client_secret", chosen.pk)) == 2
    assert keyring.key_version(raw_column(Provider, "client_secret", other.pk)) == 1
    assert credentials.read_client_secret(chosen, purpose="t").reveal() == canary
    event = AuditEvent.objects.get(action="reseal")
    assert (event.actor, event.target_type) == (admin_user, "integrations.provider")


def test_legacy_plaintext_is_sealed_and_unreadable_rows_are_named(admin_client, admin_user, canary):
    provider = Provider.objects.create(slug="p", name="P")
    integration, _ = tokens.connect(admin_user, provider, {"access_token": "at-" + canary})
    write_raw(Integration, "refresh_token", integration.pk, "legacy-refresh-" + canary)
    foreign = Keyring.parse([generate_key(9)])
    write_raw(Integration, "access_token", integration.pk, foreign.encrypt(b"x", b"y"))
    response = run_action(admin_client, Integration, [integration.pk])
    page = response.content.decode()
    assert "1 value(s) re-sealed" in page
    assert f"access_token pk={integration.pk} (UnknownKeyVersionError)" in page
    assert canary not in page
    assert Integration.objects.get(pk=integration.pk).refresh_token == "legacy-refresh-" + canary
