"""/api/providers/: everyone signed in reads active ones; staff manage them."""

import pytest

from integrations import credentials
from integrations.models import AuditEvent, Provider

from .conftest import CLIENT_SECRET, assert_no_secret, assert_no_secret_keys

pytestmark = pytest.mark.django_db

LIST = "/api/providers/"


def detail(provider):
    return f"/api/providers/{provider.pk}/"


def test_users_see_active_providers_without_their_secret(
    alice_api, provider, mailer, hidden_provider
):
    response = alice_api.get(LIST)
    assert response.status_code == 200
    assert [p["slug"] for p in response.json()["results"]] == ["cloudy", "mailer"]
    cloudy = response.json()["results"][0]
    assert cloudy["client_secret_status"] == {"set": True, "state": "sealed", "key_version": 2}
    assert_no_secret(response, CLIENT_SECRET)
    assert_no_secret_keys(response.json())
    assert alice_api.get(detail(hidden_provider)).status_code == 404


def test_staff_see_all(staff_api, provider, hidden_provider):
    response = staff_api.get(LIST)
    assert {p["slug"] for p in response.json()["results"]} == {"cloudy", "hidden"}
    assert staff_api.get(detail(hidden_provider)).status_code == 200


def test_staff_create_with_a_write_only_secret(staff, staff_api, canary):
    secret = f"{canary}-client-secret"
    response = staff_api.post(
        LIST,
        {
            "slug": "acme",
            "name": "Acme",
            "category": "crm",
            "auth_type": "oauth2",
            "authorize_url": "https://acme.example/authorize",
            "token_url": "https://acme.example/token",
            "default_scopes": ["read"],
            "client_id": "acme-id",
            "client_secret": secret,
            "metadata": {"issuer": "https://acme.example"},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["client_secret_status"]["set"] is True
    assert_no_secret(response, canary, secret)
    provider = Provider.objects.get(slug="acme")
    assert credentials.read_client_secret(provider, purpose="test").reveal() == secret
    assert AuditEvent.objects.filter(
        action="create", target_id=str(provider.pk), actor=staff
    ).exists()
    assert AuditEvent.objects.filter(
        action="update", target_id=str(provider.pk), detail="client secret replaced"
    ).exists()


def test_staff_update_and_clear_the_secret(staff_api, provider):
    response = staff_api.patch(detail(provider), {"name": "Cloudy 2"}, format="json")
    assert response.status_code == 200
    provider.refresh_from_db()
    assert provider.name == "Cloudy 2"
    assert provider.client_secret == CLIENT_SECRET  # omitted: kept
    response = staff_api.patch(detail(provider), {"client_secret": None}, format="json")
    assert response.json()["client_secret_status"] == {
        "set": False,
        "state": "not_set",
        "key_version": None,
    }
    provider.refresh_from_db()
    assert provider.client_secret_sealed is None


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"name": "X", "slug": "not a slug"}, "slug"),
        ({"name": "X", "slug": "x", "token_url": "http://insecure.example/token"}, "token_url"),
        ({"name": "X", "slug": "x", "category": "nonsense"}, "category"),
        ({"name": "X", "slug": "x", "default_scopes": "read"}, "default_scopes"),
        ({"name": "X", "slug": "x", "metadata": {"k": "nul\x00"}}, "metadata"),
        ({"slug": "x"}, "name"),
    ],
)
def test_staff_invalid_input_is_400(staff_api, payload, field):
    response = staff_api.post(LIST, payload, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]


def test_loopback_http_endpoints_are_allowed(staff_api):
    response = staff_api.post(
        LIST,
        {"name": "Local", "slug": "local", "token_url": "http://127.0.0.1:9000/token"},
        format="json",
    )
    assert response.status_code == 201


def test_taken_slug_is_409(staff_api, provider):
    response = staff_api.post(LIST, {"name": "Again", "slug": "cloudy"}, format="json")
    assert response.status_code == 409
    assert "slug" in response.json()["error"]["fields"]


def test_staff_delete_and_409_while_in_use(staff_api, provider, mailer, integration):
    assert staff_api.delete(detail(mailer)).status_code == 204
    assert not Provider.objects.filter(pk=mailer.pk).exists()
    response = staff_api.delete(detail(provider))
    assert response.status_code == 409
    assert Provider.objects.filter(pk=provider.pk).exists()
    assert not AuditEvent.objects.filter(action="delete", target_id=str(provider.pk)).exists()


def test_staff_without_the_model_permission_cannot_write(django_user_model, make_client, provider):
    bare = django_user_model.objects.create_user("bare", is_staff=True)
    api = make_client(bare)
    assert api.get(LIST).status_code == 200
    assert api.patch(detail(provider), {"name": "no"}, format="json").status_code == 403
    assert api.post(LIST, {"name": "n", "slug": "n"}, format="json").status_code == 403


def test_users_cannot_write(alice_api, provider):
    before = Provider.objects.values().get(pk=provider.pk)
    for response in (
        alice_api.post(LIST, {"name": "n", "slug": "n"}, format="json"),
        alice_api.put(detail(provider), {"name": "n", "slug": "n"}, format="json"),
        alice_api.patch(detail(provider), {"name": "n"}, format="json"),
        alice_api.delete(detail(provider)),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    assert Provider.objects.values().get(pk=provider.pk) == before
    assert Provider.objects.count() == 1
