"""One JSON error shape, and a canary secret sent to the API never comes back
out: not in a body, a header or a log line, on success, on validation errors
or on a 500."""

import pytest

from integrations import credentials
from integrations.api import views as api_views
from tests.conftest import assert_not_logged

from .conftest import assert_no_secret

pytestmark = pytest.mark.django_db


def assert_error_shape(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    return body["error"]


def test_the_shape_of_every_error(alice_api, anon_api, credential):
    assert_error_shape(anon_api.get("/api/credentials/"), 401, "not_authenticated")
    assert_error_shape(
        alice_api.get("/api/credentials/00000000-0000-4000-8000-000000000000/"), 404, "not_found"
    )
    assert_error_shape(alice_api.get("/api/credentials/not-a-uuid/"), 404, "not_found")
    assert_error_shape(alice_api.get("/api/no-such-endpoint/"), 404, "not_found")
    assert_error_shape(
        alice_api.post("/api/providers/", {}, format="json"), 403, "permission_denied"
    )
    assert_error_shape(
        alice_api.post("/api/audit-events/", {}, format="json"), 403, "permission_denied"
    )
    assert_error_shape(
        alice_api.post("/api/integrations/", {}, format="json"), 405, "method_not_allowed"
    )
    error = assert_error_shape(
        alice_api.post("/api/credentials/", {}, format="json"), 400, "invalid"
    )
    assert set(error["fields"]) == {"name", "type", "data"}
    malformed = alice_api.generic(
        "POST", "/api/credentials/", "{not json", content_type="application/json"
    )
    assert assert_error_shape(malformed, 400, "parse_error")["message"] == "Malformed request body."
    surrogate = alice_api.generic(
        "POST", "/api/credentials/", '{"name": "\\ud800"}', content_type="application/json"
    )
    assert_error_shape(surrogate, 400, "parse_error")
    deep = alice_api.generic(
        "POST", "/api/credentials/", "[" * 100_000 + "]" * 100_000, content_type="application/json"
    )
    assert_error_shape(deep, 400, "parse_error")
    assert_error_shape(
        alice_api.get("/api/credentials/", HTTP_ACCEPT="text/csv"), 406, "not_acceptable"
    )


def test_canary_in_create_and_update(all_logs, alice_api, canary):
    response = alice_api.post(
        "/api/credentials/",
        {
            "name": "Canary",
            "type": "basic",
            "data": {"username": "me", "password": canary},
        },
        format="json",
    )
    assert response.status_code == 201
    assert_no_secret(response, canary)
    url = f"/api/credentials/{response.json()['id']}/"
    for method in ("put", "patch"):
        response = getattr(alice_api, method)(
            url,
            {"name": f"Canary {method}", "data": {"username": "me", "password": canary}},
            format="json",
        )
        assert response.status_code == 200
        assert_no_secret(response, canary)
    for response in (
        alice_api.get(url),
        alice_api.get("/api/credentials/"),
        alice_api.get("/api/audit-events/"),
    ):
        assert_no_secret(response, canary)
    assert_not_logged(all_logs, canary)


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "n", "type": "basic", "data": {"username": "CANARY"}},
        {"name": "n", "type": "api_key", "data": {"token": "CANARY"}},
        {"name": "n", "type": "CANARY", "data": {"api_key": "CANARY"}},
        {"name": "CANARY" * 10, "type": "api_key", "data": {"api_key": "CANARY"}},
        {"name": "n", "type": "api_key", "data": {"api_key": "CANARY"}, "provider": "CANARY"},
        {
            "name": "n",
            "type": "api_key",
            "data": {"api_key": "CANARY"},
            "provider": "00000000-0000-4000-8000-000000000000",
        },
        {"name": "n", "type": "api_key", "data": {"api_key": "CANARY"}, "expires_at": "CANARY"},
        {"name": "n", "type": "api_key", "data": "CANARY"},
        {"name": "n", "type": "api_key", "data": ["CANARY"]},
        {"name": "n", "type": "custom", "data": {"": "CANARY"}},
    ],
)
def test_canary_in_invalid_input(all_logs, alice_api, canary, payload):
    def fill(value):
        if isinstance(value, str):
            return value.replace("CANARY", canary)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    response = alice_api.post("/api/credentials/", fill(payload), format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["fields"]
    assert_no_secret(response, canary)
    assert_not_logged(all_logs, canary)


def test_canary_in_invalid_update(all_logs, alice_api, credential, canary):
    url = f"/api/credentials/{credential.pk}/"
    for payload in (
        {"data": {"token": canary}},
        {"name": canary * 5},
        {"provider": canary, "data": {"api_key": canary}},
    ):
        response = alice_api.patch(url, payload, format="json")
        assert response.status_code == 400
        assert_no_secret(response, canary)
    assert_not_logged(all_logs, canary)


def test_a_500_carries_no_exception_text_and_logs_none(all_logs, alice_api, canary, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError(f"the database said no to {canary}") from ValueError(canary)

    monkeypatch.setattr(credentials, "create_credential", explode)
    response = alice_api.post(
        "/api/credentials/",
        {"name": "n", "type": "api_key", "data": {"api_key": canary}},
        format="json",
    )
    error = assert_error_shape(response, 500, "server_error")
    assert error["message"] == "Internal server error."
    assert_no_secret(response, canary)
    assert_not_logged(all_logs, canary)
    logged = [r for r in all_logs.records if r.name == "integrations.api"]
    assert logged and "RuntimeError" in logged[0].getMessage()
    assert "explode" in logged[0].getMessage()  # the stack is there for operators


def test_a_500_in_a_read(all_logs, alice_api, credential, monkeypatch):
    def explode(self):
        raise KeyError("boom")

    monkeypatch.setattr(api_views.CredentialViewSet, "get_queryset", explode)
    response = alice_api.get("/api/credentials/")
    assert_error_shape(response, 500, "server_error")
    assert "boom" not in response.content.decode()


def test_json_only_even_when_the_project_allows_the_browsable_api(settings, alice_api, canary):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_RENDERER_CLASSES": [
            "rest_framework.renderers.JSONRenderer",
            "rest_framework.renderers.BrowsableAPIRenderer",
        ],
    }
    response = alice_api.post(
        "/api/credentials/?format=api",
        {"name": "n", "type": "basic", "data": {"username": canary}},
        format="json",
    )
    assert response.status_code == 404  # no such format here
    response = alice_api.post(
        "/api/credentials/",
        {"name": "n", "type": "basic", "data": {"username": canary}},
        format="json",
        HTTP_ACCEPT="text/html",
    )
    assert response.status_code == 406
    assert_no_secret(response, canary)


def test_canary_client_secret_on_provider_writes(all_logs, staff_api, provider, canary):
    secret = f"{canary}-client-secret"
    for response in (
        staff_api.post(
            "/api/providers/", {"name": "A", "slug": "a", "client_secret": secret}, format="json"
        ),
        staff_api.post(
            "/api/providers/",
            {"name": "B", "slug": "bad slug", "client_secret": secret},
            format="json",
        ),
        staff_api.patch(f"/api/providers/{provider.pk}/", {"client_secret": secret}, format="json"),
        staff_api.patch(
            f"/api/providers/{provider.pk}/",
            {"client_secret": secret, "token_url": "ftp://x"},
            format="json",
        ),
        staff_api.get("/api/providers/"),
        staff_api.get("/api/audit-events/"),
    ):
        assert response.status_code in (200, 201, 400)
        assert_no_secret(response, canary, secret)
    assert_not_logged(all_logs, canary)


def test_a_body_over_the_upload_limit_is_413(settings, alice, alice_api, canary):
    from rest_framework.test import APIClient

    from integrations.models import Credential

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    padding = canary + "x" * 2000
    json_body = '{"name": "big", "type": "custom", "data": {"k": "%s"}}' % padding
    session = APIClient()
    session.force_login(alice)
    for api, body, content_type in (
        (alice_api, json_body, "application/json"),
        (session, json_body, "application/json"),
    ):
        response = api.generic("POST", "/api/credentials/", body, content_type=content_type)
        error = assert_error_shape(response, 413, "payload_too_large")
        assert error["message"] == "The request body is too large."
        assert_no_secret(response, canary)
    assert not Credential.objects.exists()
