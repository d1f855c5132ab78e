"""/api/credentials/: full CRUD, write-only secret data, service-layer audit."""

import pytest
from django.urls import reverse

from integrations import credentials
from integrations.models import AuditEvent, Credential

from .conftest import API_KEY, assert_no_secret, assert_no_secret_keys

pytestmark = pytest.mark.django_db

LIST = "/api/credentials/"


def detail(credential):
    return f"/api/credentials/{getattr(credential, 'pk', credential)}/"


def test_urls_are_where_the_design_says():
    assert reverse("integrations_api:credential-list") == LIST
    assert reverse("integrations_api:provider-list") == "/api/providers/"
    assert reverse("integrations_api:integration-list") == "/api/integrations/"
    assert reverse("integrations_api:auditevent-list") == "/api/audit-events/"
    assert reverse("integrations_api:schema") == "/api/schema/"
    assert reverse("integrations_api:docs") == "/api/docs/"


class TestCreate:
    def test_creates_through_the_service_sealed_and_audited(self, alice, alice_api, mailer, canary):
        secret = f"{canary}-0123456789"
        response = alice_api.post(
            LIST,
            {
                "name": "Mailer live",
                "type": "api_key",
                "provider": str(mailer.pk),
                "data": {"api_key": secret, "account": "acme"},
            },
            format="json",
        )
        assert response.status_code == 201, response.json()
        body = response.json()
        assert set(body) == {
            "id",
            "name",
            "type",
            "provider",
            "plugin",
            "secret_status",
            "hint",
            "expires_at",
            "created_at",
            "updated_at",
        }
        assert body["name"] == "Mailer live"
        assert body["type"] == "api_key"
        assert body["provider"] == str(mailer.pk)
        assert body["secret_status"] == {"set": True, "state": "sealed", "key_version": 2}
        assert body["hint"] == secret[-4:]
        assert_no_secret(response, canary, secret)
        assert_no_secret_keys(body)

        stored = Credential.objects.get(pk=body["id"])
        assert stored.owner == alice
        assert canary not in stored.data_sealed
        assert credentials.read_secret(alice, stored, purpose="test").reveal() == {
            "api_key": secret,
            "account": "acme",
        }
        event = AuditEvent.objects.get(action="create", target_id=body["id"])
        assert event.actor == alice
        assert event.ip_address == "127.0.0.1"

    @pytest.mark.parametrize(
        "credential_type, data",
        [
            ("basic", {"username": "u", "password": "p"}),
            ("bearer", {"token": "short"}),
            ("custom", {"anything": [1, 2, {"x": None}]}),
        ],
    )
    def test_every_type(self, alice_api, credential_type, data):
        response = alice_api.post(
            LIST, {"name": credential_type, "type": credential_type, "data": data}, format="json"
        )
        assert response.status_code == 201, response.json()
        assert response.json()["hint"] == ""  # short secrets get no hint

    def test_owner_cannot_be_chosen(self, alice, bob, alice_api):
        response = alice_api.post(
            LIST,
            {"name": "mine", "type": "bearer", "owner": bob.pk, "data": {"token": "t"}},
            format="json",
        )
        assert response.status_code == 201
        assert Credential.objects.get(pk=response.json()["id"]).owner == alice

    @pytest.mark.parametrize(
        "payload, field",
        [
            ({"type": "api_key", "data": {"api_key": "k"}}, "name"),
            ({"name": "n", "data": {"api_key": "k"}}, "type"),
            ({"name": "n", "type": "api_key"}, "data"),
            ({"name": "n", "type": "api_key", "data": {}}, "data"),
            ({"name": "n", "type": "api_key", "data": ["k"]}, "data"),
            ({"name": "n", "type": "api_key", "data": "k"}, "data"),
            ({"name": "n", "type": "basic", "data": {"username": "u"}}, "data"),
            ({"name": "n", "type": "custom", "data": {"": "v"}}, "data"),
            ({"name": "   ", "type": "bearer", "data": {"token": "t"}}, "name"),
            ({"name": "x" * 101, "type": "bearer", "data": {"token": "t"}}, "name"),
            ({"name": "n", "type": "nope", "data": {"token": "t"}}, "type"),
            (
                {"name": "n", "type": "bearer", "data": {"token": "t"}, "provider": "not-a-uuid"},
                "provider",
            ),
            (
                {
                    "name": "n",
                    "type": "bearer",
                    "data": {"token": "t"},
                    "provider": "00000000-0000-4000-8000-000000000000",
                },
                "provider",
            ),
            (
                {"name": "n", "type": "bearer", "data": {"token": "t"}, "expires_at": "soon"},
                "expires_at",
            ),
            ({"name": "n\x00", "type": "bearer", "data": {"token": "t"}}, "name"),
        ],
    )
    def test_invalid_input_is_400_naming_the_field(self, alice_api, payload, field):
        response = alice_api.post(LIST, payload, format="json")
        assert response.status_code == 400, response.json()
        error = response.json()["error"]
        assert error["code"] == "invalid"
        assert field in error["fields"], error
        assert not Credential.objects.exists()

    def test_missing_keys_are_named_values_never(self, alice_api, canary):
        response = alice_api.post(
            LIST, {"name": "n", "type": "basic", "data": {"username": canary}}, format="json"
        )
        assert response.status_code == 400
        assert "password" in " ".join(response.json()["error"]["fields"]["data"])
        assert_no_secret(response, canary)

    def test_inactive_provider_cannot_be_chosen(self, alice_api, hidden_provider):
        response = alice_api.post(
            LIST,
            {
                "name": "n",
                "type": "bearer",
                "data": {"token": "t"},
                "provider": str(hidden_provider.pk),
            },
            format="json",
        )
        assert response.status_code == 400
        assert "provider" in response.json()["error"]["fields"]

    def test_a_name_in_use_is_409(self, alice_api, credential):
        response = alice_api.post(
            LIST, {"name": credential.name, "type": "bearer", "data": {"token": "t"}}, format="json"
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "conflict"
        assert "name" in response.json()["error"]["fields"]

    def test_another_users_name_is_free(self, bob_api, credential):
        response = bob_api.post(
            LIST, {"name": credential.name, "type": "bearer", "data": {"token": "t"}}, format="json"
        )
        assert response.status_code == 201

    def test_only_json_is_accepted(self, alice_api):
        response = alice_api.post(LIST, {"name": "n", "type": "bearer", "data": "x"})
        assert response.status_code == 415
        assert response.json()["error"]["code"] == "unsupported_media_type"


class TestReadUpdateDelete:
    def test_list_and_retrieve_never_carry_data(self, alice_api, credential):
        listed = alice_api.get(LIST)
        assert listed.status_code == 200
        assert [item["id"] for item in listed.json()["results"]] == [str(credential.pk)]
        one = alice_api.get(detail(credential))
        assert one.status_code == 200
        assert one.json() == listed.json()["results"][0]
        for response in (listed, one):
            assert_no_secret(response, API_KEY)
            assert_no_secret_keys(response.json())

    def test_patch_name_keeps_the_secret(self, alice, alice_api, credential):
        sealed = credential.data_sealed
        response = alice_api.patch(detail(credential), {"name": "Renamed"}, format="json")
        assert response.status_code == 200, response.json()
        assert response.json()["name"] == "Renamed"
        credential.refresh_from_db()
        assert credential.data_sealed == sealed
        assert AuditEvent.objects.filter(action="update", target_id=str(credential.pk)).exists()

    def test_patch_data_replaces_the_secret(self, alice, alice_api, credential, canary):
        secret = f"new-{canary}-key"
        response = alice_api.patch(detail(credential), {"data": {"api_key": secret}}, format="json")
        assert response.status_code == 200
        assert response.json()["hint"] == secret[-4:]
        assert_no_secret(response, canary, secret)
        assert credentials.read_secret(alice, credential, purpose="t").reveal() == {
            "api_key": secret
        }
        event = AuditEvent.objects.filter(action="update", target_id=str(credential.pk)).get()
        assert event.detail == "secret replaced"

    def test_patch_data_is_checked_against_the_stored_type(self, alice_api, credential, canary):
        response = alice_api.patch(detail(credential), {"data": {"token": canary}}, format="json")
        assert response.status_code == 400
        assert "api_key" in " ".join(response.json()["error"]["fields"]["data"])
        assert_no_secret(response, canary)

    def test_type_cannot_change(self, alice_api, credential):
        response = alice_api.patch(detail(credential), {"type": "bearer"}, format="json")
        assert response.status_code == 200
        assert response.json()["type"] == "api_key"

    def test_put_replaces_fields_and_keeps_data_unless_given(self, alice_api, credential):
        response = alice_api.put(
            detail(credential), {"name": "Put", "plugin": "mail", "provider": None}, format="json"
        )
        assert response.status_code == 200, response.json()
        body = response.json()
        assert (body["name"], body["plugin"], body["provider"]) == ("Put", "mail", None)
        assert body["secret_status"]["set"] is True
        assert alice_api.put(detail(credential), {"plugin": "x"}, format="json").status_code == 400

    def test_rename_onto_another_name_is_409(self, alice, alice_api, credential):
        credentials.create_credential(
            alice, name="Other", credential_type="bearer", data={"token": "t"}
        )
        response = alice_api.patch(detail(credential), {"name": "Other"}, format="json")
        assert response.status_code == 409

    def test_delete(self, alice_api, credential):
        response = alice_api.delete(detail(credential))
        assert response.status_code == 204
        assert not Credential.objects.filter(pk=credential.pk).exists()
        assert AuditEvent.objects.filter(action="delete", target_id=str(credential.pk)).exists()
        assert alice_api.get(detail(credential)).status_code == 404

    def test_staff_reach_only_their_own(self, staff_api, credential):
        """Staff manage other users' credentials in the admin, not through the API."""
        assert staff_api.get(detail(credential)).status_code == 404
        assert staff_api.get(LIST).json()["count"] == 0


def test_a_name_taken_in_a_race_is_409_naming_the_field(alice, alice_api, monkeypatch, canary):
    """Another request takes the name after the service checked it was free."""
    from integrations.models import Credential

    credentials.create_credential(
        alice, name="clash", credential_type="bearer", data={"token": "the other request's"}
    )
    full_clean = Credential.full_clean
    monkeypatch.setattr(
        Credential,
        "full_clean",
        lambda self, *args, **kwargs: full_clean(
            self, *args, validate_unique=False, validate_constraints=False, **kwargs
        ),
    )
    response = alice_api.post(
        LIST, {"name": "clash", "type": "bearer", "data": {"token": canary}}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["fields"] == {
        "name": ["You already have a credential with this name."]
    }
    assert canary not in response.content.decode()
    assert Credential.objects.get(owner=alice).data == {"token": "the other request's"}
