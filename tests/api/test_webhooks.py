"""/api/webhook-endpoints/ and /api/webhook-deliveries/: staff only; the signing
secret in the create's response once; the delivery log and its replay."""

import pytest
from django.contrib.auth.models import Permission

from integrations import credentials, webhooks
from integrations.models import AuditEvent, WebhookDelivery, WebhookEndpoint

from .conftest import API_KEY, _client, assert_no_secret

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/webhook-endpoints/"
DELIVERIES = "/api/webhook-deliveries/"


@pytest.fixture(autouse=True)
def local_urls(settings):
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "WEBHOOK_ALLOW_PRIVATE_URLS": True}


@pytest.fixture
def hooks_staff(django_user_model):
    user = django_user_model.objects.create_user("hooks", password="hooks-pw-1", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="integrations", codename__contains="_webhook"
        )
    )
    return _client(django_user_model.objects.get(pk=user.pk))


def test_only_staff_with_the_permissions_reach_webhooks(alice_api, staff_api, anon_api):
    for client, expected in ((anon_api, 401), (alice_api, 403), (staff_api, 403)):
        assert client.get(ENDPOINTS).status_code == expected
        assert client.get(DELIVERIES).status_code == expected
        response = client.post(ENDPOINTS, {"url": "http://127.0.0.1:9/x"}, format="json")
        assert response.status_code == expected
    assert not WebhookEndpoint.objects.exists()


def test_the_secret_is_returned_by_the_create_only(hooks_staff):
    response = hooks_staff.post(
        ENDPOINTS,
        {"url": "http://127.0.0.1:9/hooks", "events": ["credential.created"]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    secret = body["secret"]
    assert secret.startswith("whsec_")
    assert "no-store" in response["Cache-Control"]
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert endpoint.secret == secret and endpoint.events == ["credential.created"]
    assert AuditEvent.objects.filter(action="create", target_id=str(endpoint.pk)).exists()
    for response in (
        hooks_staff.get(ENDPOINTS),
        hooks_staff.get(f"{ENDPOINTS}{endpoint.pk}/"),
        hooks_staff.patch(f"{ENDPOINTS}{endpoint.pk}/", {"active": False}, format="json"),
    ):
        assert response.status_code == 200
        assert_no_secret(response, secret, endpoint.secret_sealed)
        assert "secret" not in str(response.json())
    # A secret sent in a request is not taken either: the secret is generated.
    response = hooks_staff.post(
        ENDPOINTS, {"url": "http://127.0.0.1:9/x", "secret": "whsec_mine"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["secret"] not in ("whsec_mine", secret)


@pytest.mark.parametrize(
    "url",
    ["http://hooks.example.com/", "https://127.0.0.1/", "https://169.254.169.254/", "ftp://x/"],
)
def test_refused_urls_are_a_400_on_the_url(hooks_staff, settings, url):
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "WEBHOOK_ALLOW_PRIVATE_URLS": False}
    response = hooks_staff.post(ENDPOINTS, {"url": url}, format="json")
    assert response.status_code == 400
    assert "url" in response.json()["error"]["fields"]
    assert not WebhookEndpoint.objects.exists()


def test_unknown_event_types_are_refused(hooks_staff):
    response = hooks_staff.post(
        ENDPOINTS, {"url": "http://127.0.0.1:9/x", "events": ["token.leaked"]}, format="json"
    )
    assert response.status_code == 400


def test_update_and_delete_are_audited(hooks_staff):
    endpoint, _ = webhooks.create_endpoint(url="http://127.0.0.1:9/hooks")
    response = hooks_staff.patch(
        f"{ENDPOINTS}{endpoint.pk}/", {"events": ["keys.rotation_finished"]}, format="json"
    )
    assert response.status_code == 200 and response.json()["events"] == ["keys.rotation_finished"]
    assert AuditEvent.objects.filter(
        action="update", target_id=str(endpoint.pk), detail="changed: events"
    ).exists()
    assert hooks_staff.delete(f"{ENDPOINTS}{endpoint.pk}/").status_code == 204
    assert AuditEvent.objects.filter(action="delete", target_id=str(endpoint.pk)).exists()


def test_the_delivery_log_lists_filters_and_replays_without_secrets(hooks_staff, credential):
    endpoint, secret = webhooks.create_endpoint(url="http://127.0.0.1:9/hooks")
    credentials.update_credential(credential.owner, credential, data={"api_key": API_KEY + "2"})
    response = hooks_staff.get(DELIVERIES)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["event_type"] for r in results] == ["credential.updated"]
    assert results[0]["payload"]["credential_id"] == str(credential.pk)
    assert_no_secret(response, secret.reveal(), API_KEY + "2")
    assert hooks_staff.get(DELIVERIES, {"status": "succeeded"}).json()["results"] == []
    assert hooks_staff.get(DELIVERIES, {"status": "nope"}).status_code == 400

    delivery = WebhookDelivery.objects.get()
    response = hooks_staff.post(f"{DELIVERIES}{delivery.pk}/replay/")
    assert response.status_code == 202
    assert response.json()["replay_of"] == str(delivery.pk)
    assert response.json()["event_id"] == delivery.event_id
    webhooks.update_endpoint(endpoint, active=False)
    assert hooks_staff.post(f"{DELIVERIES}{delivery.pk}/replay/").status_code == 400


def test_replay_needs_the_change_permission(django_user_model, credential):
    webhooks.create_endpoint(url="http://127.0.0.1:9/hooks")
    credentials.update_credential(credential.owner, credential, name="renamed")
    viewer = django_user_model.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
    client = _client(viewer)
    delivery = WebhookDelivery.objects.get()
    assert client.get(f"{DELIVERIES}{delivery.pk}/").status_code == 200
    assert client.post(f"{DELIVERIES}{delivery.pk}/replay/").status_code == 403
    assert WebhookDelivery.objects.count() == 1
