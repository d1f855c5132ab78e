"""The OpenAPI 3 schema and Swagger UI: served, complete, no CDN, no secrets."""

import pytest
from django.contrib.staticfiles import finders

from .conftest import SECRET_KEYS

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(alice_api):
    response = alice_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def _walk(value, path=()):
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))


def test_paths_and_operations(schema):
    assert schema["openapi"].startswith("3.")
    operations = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert operations == {
        ("/api/providers/", "get"),
        ("/api/providers/", "post"),
        ("/api/providers/{id}/", "get"),
        ("/api/providers/{id}/", "put"),
        ("/api/providers/{id}/", "patch"),
        ("/api/providers/{id}/", "delete"),
        ("/api/integrations/", "get"),
        ("/api/integrations/{id}/", "get"),
        ("/api/integrations/{id}/", "put"),
        ("/api/integrations/{id}/", "patch"),
        ("/api/integrations/{id}/", "delete"),
        ("/api/integrations/{id}/refresh/", "post"),
        ("/api/credentials/", "get"),
        ("/api/credentials/", "post"),
        ("/api/credentials/{id}/", "get"),
        ("/api/credentials/{id}/", "put"),
        ("/api/credentials/{id}/", "patch"),
        ("/api/credentials/{id}/", "delete"),
        ("/api/audit-events/", "get"),
        ("/api/audit-events/{id}/", "get"),
        ("/api/connect-sessions/", "post"),
        ("/api/auth/logout/", "post"),
        ("/api/auth/logoutall/", "post"),
    }
    assert set(schema["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}


def test_every_error_status_is_documented_with_the_error_body(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert {"401", "403"} <= set(operation["responses"]), (path, method)
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error"


def test_secrets_are_write_only_and_in_no_response_schema(schema):
    components = schema["components"]["schemas"]
    for name, component in components.items():
        if name.endswith("Request"):
            continue
        properties = component.get("properties", {})
        assert not SECRET_KEYS & set(properties), name
    data = components["PatchedCredentialUpdateRequest"]["properties"]["data"]
    assert data["writeOnly"] is True
    for variant in components["CredentialCreateRequest"]["oneOf"]:
        target = components[variant["$ref"].rsplit("/", 1)[1]]
        assert target["properties"]["data"]["writeOnly"] is True
    secret = components["ProviderRequest"]["properties"]["client_secret"]
    assert secret["writeOnly"] is True


def test_create_body_says_which_keys_each_type_needs(schema):
    components = schema["components"]["schemas"]
    required = {}
    for variant in components["CredentialCreateRequest"]["oneOf"]:
        target = components[variant["$ref"].rsplit("/", 1)[1]]
        kind = components[target["properties"]["type"]["$ref"].rsplit("/", 1)[1]]["enum"][0]
        required[kind] = target["properties"]["data"].get("required", [])
    assert required == {
        "api_key": ["api_key"],
        "basic": ["username", "password"],
        "bearer": ["token"],
        "custom": [],
    }


def test_examples_hold_no_secret(schema):
    examples = [
        value for path, value in _walk(schema) if path and path[-1] in ("example", "examples")
    ]
    assert examples, "the schema documents at least one example"
    for example in examples:
        # Keys that hold values; an error's "fields" maps field *names* to messages.
        keys = {
            path[-1]
            for path, _ in _walk(example)
            if path and isinstance(path[-1], str) and path[:-1][-1:] != ("fields",)
        }
        assert not SECRET_KEYS & keys, example


def test_schema_is_the_same_for_everyone(alice_api, staff_api):
    accept = {"HTTP_ACCEPT": "application/vnd.oai.openapi+json"}
    bodies = [api.get("/api/schema/", **accept).content for api in (alice_api, staff_api)]
    assert bodies[0] == bodies[1]


@pytest.mark.parametrize(
    ("url", "accept"),
    [
        ("/api/schema/", "*/*"),
        ("/api/schema/", "application/vnd.oai.openapi+json"),
        ("/api/docs/", "*/*"),
        ("/api/docs/", "text/html"),
    ],
)
def test_schema_and_docs_are_401_for_anonymous_users(anon_api, url, accept):
    for method in ("get", "head", "options"):
        response = getattr(anon_api, method)(url, HTTP_ACCEPT=accept)
        assert response.status_code == 401, (method, url)
        assert response["WWW-Authenticate"] == "Token"
        assert response["Content-Type"] == "application/json"
        if method != "head":
            assert response.json()["error"]["code"] == "not_authenticated"


def test_schema_and_docs_answer_options_in_json(alice_api):
    for url in ("/api/schema/", "/api/docs/"):
        response = alice_api.options(url)
        assert response.status_code == 200, url
        assert response["Content-Type"] == "application/json"
        assert "GET" in response["Allow"]
        assert "name" in response.json()


def test_docs_refuse_writes_in_json(alice_api):
    response = alice_api.post("/api/docs/", {}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_swagger_ui_is_served_without_any_cdn(alice_api):
    response = alice_api.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "/api/schema/" in html
    for cdn in ("cdn.", "jsdelivr", "unpkg", "cdnjs", "googleapis"):
        assert cdn not in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        assert finders.find(f"drf_spectacular_sidecar/swagger-ui-dist/{asset}"), asset
