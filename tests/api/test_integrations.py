"""/api/integrations/: list, retrieve, label/status, delete = disconnect, refresh."""

import pytest

from integrations import oauth, tokens
from integrations.conf import app_settings
from integrations.models import AuditEvent, Integration

from .conftest import ACCESS, REFRESH, assert_no_secret, assert_no_secret_keys

pytestmark = pytest.mark.django_db

LIST = "/api/integrations/"

needs_disconnect = pytest.mark.skipif(
    not hasattr(tokens, "disconnect"),
    reason="tokens.disconnect(user, integration, ip_address=...) (OAuth issue) is not there yet",
)
needs_refresh = pytest.mark.skipif(
    not hasattr(tokens, "refresh_integration"),
    reason="tokens.refresh_integration(integration, actor=..., force=True) (OAuth issue) "
    "is not there yet",
)


def detail(integration, suffix=""):
    return f"/api/integrations/{integration.pk}/{suffix}"


def test_list_and_retrieve_show_status_never_tokens(alice_api, integration, provider):
    listed = alice_api.get(LIST)
    assert listed.status_code == 200
    body = listed.json()
    assert body["count"] == 1
    item = body["results"][0]
    assert item["id"] == str(integration.pk)
    assert item["provider"] == str(provider.pk)
    assert item["provider_slug"] == "cloudy"
    assert item["status"] == "active"
    assert item["granted_scopes"] == ["read", "write"]
    assert item["access_token_status"] == {"set": True, "state": "sealed", "key_version": 2}
    assert item["refresh_token_status"]["set"] is True
    assert item["can_refresh"] is True
    one = alice_api.get(detail(integration))
    assert one.json() == item
    for response in (listed, one):
        assert_no_secret(response, ACCESS, REFRESH)
        assert_no_secret_keys(response.json())


def test_an_integration_without_refresh_token_says_it_cannot_refresh(
    alice, alice_api, provider, monkeypatch
):
    """Computed from the sealed column alone: nothing is decrypted."""
    integration, _ = tokens.connect(
        alice,
        provider,
        {"access_token": ACCESS, "expires_in": 60},
        external_account_id="no-refresh",
    )

    def no_decrypting(*args, **kwargs):
        raise AssertionError("the API decrypted a token")

    monkeypatch.setattr(type(app_settings.keyring), "decrypt", no_decrypting)
    item = alice_api.get(detail(integration)).json()
    assert item["can_refresh"] is False
    assert item["refresh_token_status"]["set"] is False
    assert item["expires_at"] is not None


def test_can_refresh_is_in_the_schema(alice_api):
    schema = alice_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    field = schema["components"]["schemas"]["Integration"]["properties"]["can_refresh"]
    assert (field["type"], field["readOnly"]) == ("boolean", True)
    assert "connected again" in field["description"]


def test_there_is_no_create(alice_api, provider):
    response = alice_api.post(LIST, {"provider": str(provider.pk)}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_patch_label_and_status(alice, alice_api, integration):
    sealed = (integration.access_token_sealed, integration.refresh_token_sealed)
    response = alice_api.patch(
        detail(integration), {"label": "Work", "status": "needs_reauth"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["label"], response.json()["status"]) == ("Work", "needs_reauth")
    integration.refresh_from_db()
    assert (integration.label, integration.status) == ("Work", "needs_reauth")
    assert (integration.access_token_sealed, integration.refresh_token_sealed) == sealed
    event = AuditEvent.objects.get(action="update", target_id=str(integration.pk), actor=alice)
    assert "label" in event.detail and "needs_reauth" in event.detail

    response = alice_api.put(detail(integration), {"status": "active"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "active"


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"status": "revoked"}, "status"),
        ({"status": "nonsense"}, "status"),
        ({"label": "x" * 256}, "label"),
    ],
)
def test_invalid_update_is_400(alice_api, integration, payload, field):
    response = alice_api.patch(detail(integration), payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_other_fields_are_read_only(alice_api, integration):
    response = alice_api.patch(
        detail(integration),
        {"external_account_id": "x", "access_token": "injected-token"},
        format="json",
    )
    assert response.status_code == 200
    integration.refresh_from_db()
    assert integration.external_account_id == "alice@cloudy"
    assert integration.access_token == ACCESS


def test_active_needs_a_token_and_revoked_stays_revoked(alice, alice_api, integration):
    Integration.objects.filter(pk=integration.pk).update(status="error")
    integration.refresh_from_db()
    integration.access_token = None
    integration.save()
    assert (
        alice_api.patch(detail(integration), {"status": "active"}, format="json").status_code == 409
    )
    Integration.objects.filter(pk=integration.pk).update(status="revoked")
    response = alice_api.patch(detail(integration), {"status": "error"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["fields"] == {
        "status": ["A revoked integration must be connected again."]
    }


@needs_disconnect
def test_delete_disconnects_without_a_revocation_endpoint(alice, alice_api, integration):
    response = alice_api.delete(detail(integration))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["revocation"] == {
        "supported": False,
        "method": "rfc7009",
        "revoked": [],
        "failed": {},
    }
    assert body["integration"]["status"] == "revoked"
    assert body["integration"]["access_token_status"]["set"] is False
    assert_no_secret(response)
    integration.refresh_from_db()
    assert integration.status == "revoked"
    assert integration.access_token_sealed is None and integration.refresh_token_sealed is None
    assert AuditEvent.objects.filter(
        action="disconnect", target_id=str(integration.pk), actor=alice
    ).exists()
    # Safe to repeat.
    assert alice_api.delete(detail(integration)).status_code == 200


@needs_disconnect
def test_delete_revokes_at_the_provider(alice_api, integration, provider, monkeypatch):
    provider.revocation_url = "https://auth.cloudy.example/revoke"
    provider.save()
    revoked = []

    def revoke(provider, token, hint, *, revocation_url, **_):
        revoked.append((hint, token))
        if hint == "access_token":
            raise oauth.ProviderRequestFailed("http_503", transient=True)

    monkeypatch.setattr(oauth, "revoke_token_request", revoke)
    response = alice_api.delete(detail(integration))
    assert response.status_code == 200
    assert response.json()["revocation"] == {
        "supported": True,
        "method": "rfc7009",
        "revoked": ["refresh_token"],
        "failed": {"access_token": "http_503"},
    }
    assert revoked == [("refresh_token", REFRESH), ("access_token", ACCESS)]
    assert_no_secret(response)


@needs_refresh
class TestRefresh:
    def test_refresh_stores_new_tokens_and_returns_public_fields(
        self, alice, alice_api, integration, monkeypatch, canary
    ):
        calls = []

        def refresh(provider, refresh_token, **_):
            calls.append(refresh_token)
            return {
                "access_token": f"{canary}-access",
                "refresh_token": f"{canary}-refresh",
                "expires_in": 7200,
            }

        monkeypatch.setattr(oauth, "refresh_token_request", refresh)
        response = alice_api.post(detail(integration, "refresh/"))
        assert response.status_code == 200, response.json()
        body = response.json()
        assert body["id"] == str(integration.pk)
        assert body["status"] == "active"
        assert body["last_refreshed_at"] is not None
        assert body["expires_at"] is not None
        assert_no_secret(response, canary)
        assert_no_secret_keys(body)
        assert calls == [REFRESH]  # forced: the valid token was refreshed anyway
        integration.refresh_from_db()
        assert integration.access_token == f"{canary}-access"
        assert AuditEvent.objects.filter(
            action="refresh", target_id=str(integration.pk), actor=alice, outcome="success"
        ).exists()

    def test_refused_grant_is_409_and_keeps_the_tokens(self, alice_api, integration, monkeypatch):
        def refuse(provider, refresh_token, **_):
            raise oauth.ProviderRequestFailed("invalid_grant")

        monkeypatch.setattr(oauth, "refresh_token_request", refuse)
        response = alice_api.post(detail(integration, "refresh/"))
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "reauthorization_required"
        assert "invalid_grant" in error["message"]
        integration.refresh_from_db()
        assert integration.status == "needs_reauth"
        assert integration.access_token == ACCESS

    @pytest.mark.django_db(transaction=True)
    def test_a_refresh_the_database_cannot_store_is_503(
        self, alice_api, integration, monkeypatch, settings
    ):
        """The provider answered, the database refused the write to the end: the
        answer waits in the refresh outbox, and the client hears 503 with
        Retry-After (try again), not 500."""
        from django.db import OperationalError

        from integrations import token_refresh

        def refused(*args, **kwargs):
            raise OperationalError("the database system is shutting down")

        monkeypatch.setattr(oauth, "refresh_token_request", lambda *a, **k: {"access_token": "new"})
        monkeypatch.setattr(token_refresh, "_write_if_leased", refused)
        settings.INTEGRATIONS = {**settings.INTEGRATIONS, "REFRESH_STORE_RETRY_SECONDS": 0}
        response = alice_api.post(detail(integration, "refresh/"))
        assert response.status_code == 503
        assert response["Retry-After"] == str(app_settings.OUTAGE_RETRY_AFTER_SECONDS)
        assert response.json()["error"]["code"] == "service_unavailable"

    def test_unreachable_provider_is_502(self, alice_api, integration, monkeypatch):
        def down(provider, refresh_token, **_):
            raise oauth.ProviderRequestFailed("network_error", transient=True)

        monkeypatch.setattr(oauth, "refresh_token_request", down)
        response = alice_api.post(detail(integration, "refresh/"))
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "provider_unavailable"
        integration.refresh_from_db()
        assert integration.status == "error"
        assert integration.refresh_token == REFRESH

    def test_revoked_integration_is_409(self, alice_api, integration):
        Integration.objects.filter(pk=integration.pk).update(status="revoked")
        response = alice_api.post(detail(integration, "refresh/"))
        assert response.status_code == 409

    def test_get_is_not_allowed(self, alice_api, integration):
        assert alice_api.get(detail(integration, "refresh/")).status_code == 405
