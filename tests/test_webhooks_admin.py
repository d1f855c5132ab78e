"""The webhooks' admin: the secret shown once, write-only afterwards; the
delivery log read only, with an audited "Replay" action; nothing secret shown."""

import re

import pytest
from django.urls import reverse

from integrations import credentials, webhooks
from integrations.models import AuditEvent, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def local_urls(settings):
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "WEBHOOK_ALLOW_PRIVATE_URLS": True}


ADD = "admin:integrations_webhookendpoint_add"


def test_creating_an_endpoint_shows_its_secret_once(admin_client):
    response = admin_client.post(
        reverse(ADD),
        {
            "url": "http://127.0.0.1:9/hooks",
            "description": "billing",
            "events": ["integration.needs_reauth", "credential.deleted"],
            "active": "on",
        },
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    secret = re.search(r'value="(whsec_[A-Za-z0-9+/=]+)"', page).group(1)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == secret
    assert endpoint.events == ["credential.deleted", "integration.needs_reauth"]
    assert endpoint.created_by.username == "admin"
    assert AuditEvent.objects.filter(action="create", target_id=str(endpoint.pk)).exists()
    # Never again: not on the change page, nor the list.
    for url in (
        reverse("admin:integrations_webhookendpoint_change", args=[endpoint.pk]),
        reverse("admin:integrations_webhookendpoint_changelist"),
    ):
        shown = admin_client.get(url)
        assert shown.status_code == 200
        assert secret not in shown.content.decode()
        assert endpoint.secret_sealed not in shown.content.decode()


@pytest.mark.parametrize(
    "url", ["https://169.254.169.254/latest/", "https://10.0.0.1/", "https://localhost/"]
)
def test_the_add_form_refuses_private_urls_without_the_setting(admin_client, settings, url):
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "WEBHOOK_ALLOW_PRIVATE_URLS": False}
    response = admin_client.post(reverse(ADD), {"url": url, "active": "on"})
    assert response.status_code == 200
    assert "errornote" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_changing_and_deleting_are_audited(admin_client):
    endpoint, _secret = webhooks.create_endpoint(url="http://127.0.0.1:9/hooks")
    response = admin_client.post(
        reverse("admin:integrations_webhookendpoint_change", args=[endpoint.pk]),
        {"url": "http://127.0.0.1:9/other", "description": "", "events": [], "active": ""},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.active) == ("http://127.0.0.1:9/other", False)
    assert AuditEvent.objects.filter(
        action="update", target_id=str(endpoint.pk), detail="changed: active, url"
    ).exists()
    admin_client.post(
        reverse("admin:integrations_webhookendpoint_delete", args=[endpoint.pk]), {"post": "yes"}
    )
    assert not WebhookEndpoint.objects.exists()
    assert AuditEvent.objects.filter(action="delete", target_id=str(endpoint.pk)).exists()


def test_the_delivery_log_is_read_only_and_replay_queues_a_new_attempt(
    admin_client, django_user_model, canary
):
    endpoint, secret = webhooks.create_endpoint(url="http://127.0.0.1:9/hooks")
    owner = django_user_model.objects.create_user("owner")
    credentials.create_credential(
        owner, name="Mail", credential_type="api_key", data={"api_key": f"{canary}-WXYZ"}
    )
    delivery = WebhookDelivery.objects.get()
    changelist = reverse("admin:integrations_webhookdelivery_changelist")
    page = admin_client.get(changelist).content.decode()
    assert "credential.created" in page
    detail = admin_client.get(
        reverse("admin:integrations_webhookdelivery_change", args=[delivery.pk])
    )
    text = detail.content.decode()
    assert str(owner.pk) in text and "credential_id" in text
    for shown in (page, text):
        assert canary not in shown and "WXYZ" not in shown and secret.reveal() not in shown
    assert 'name="_save"' not in text  # read only
    assert admin_client.get(reverse("admin:integrations_webhookdelivery_add")).status_code == 403

    response = admin_client.post(
        changelist, {"action": "replay", "_selected_action": [str(delivery.pk)]}, follow=True
    )
    assert "1 replay queued." in response.content.decode()
    replayed = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    assert (replayed.replay_of_id, replayed.event_id, replayed.status) == (
        delivery.pk,
        delivery.event_id,
        "pending",
    )
    event = AuditEvent.objects.get(target_id=str(delivery.pk), detail__startswith="replay")
    assert event.actor.username == "admin"

    webhooks.update_endpoint(endpoint, active=False)
    before = WebhookDelivery.objects.count()
    response = admin_client.post(
        changelist, {"action": "replay", "_selected_action": [str(delivery.pk)]}, follow=True
    )
    assert "not replayed" in response.content.decode()
    assert WebhookDelivery.objects.count() == before


def test_staff_without_the_change_permission_cannot_replay(client, django_user_model):
    from django.contrib.auth.models import Permission

    webhooks.create_endpoint(url="http://127.0.0.1:9/hooks")
    owner = django_user_model.objects.create_user("owner")
    credentials.create_credential(
        owner, name="Mail", credential_type="api_key", data={"api_key": "k" * 32}
    )
    viewer = django_user_model.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
    client.force_login(viewer)
    changelist = reverse("admin:integrations_webhookdelivery_changelist")
    assert client.get(changelist).status_code == 200
    delivery = WebhookDelivery.objects.get()
    client.post(changelist, {"action": "replay", "_selected_action": [str(delivery.pk)]})
    assert WebhookDelivery.objects.count() == 1
