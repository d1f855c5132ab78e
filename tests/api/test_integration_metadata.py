"""/api/integrations/: the host app's ``metadata`` and ``tags`` -- read, replace,
limits, scoping, audit, ``?tag=`` -- apart from the app's own metadata."""

import json

import pytest

from integrations import tokens
from integrations.models import AuditEvent, Integration

from .conftest import ACCESS, REFRESH, assert_no_secret

pytestmark = pytest.mark.django_db

LIST = "/api/integrations/"

# The app's own data on the integration (identity claims from the OAuth flow).
APP_METADATA = {"identity": {"sub": "alice-sub", "email": "alice@cloudy.example"}}


def detail(integration):
    return f"/api/integrations/{integration.pk}/"


@pytest.fixture
def integration(alice, provider):
    integration, _ = tokens.connect(
        alice,
        provider,
        {"access_token": ACCESS, "refresh_token": REFRESH, "expires_in": 3600},
        external_account_id="alice@cloudy",
        metadata=APP_METADATA,
    )
    return integration


def connect(user, provider, account, tags=()):
    integration, _ = tokens.connect(
        user, provider, {"access_token": ACCESS}, external_account_id=account
    )
    if tags:
        tokens.set_host_metadata(integration, tags=tags)
    return integration


def patch(api, integration, payload):
    return api.patch(detail(integration), payload, format="json")


def fields(response):
    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert body["code"] == "invalid"
    return body["fields"]


def test_a_new_integration_shows_empty_metadata_and_tags(alice_api, integration):
    body = alice_api.get(detail(integration)).json()
    assert body["metadata"] == {}
    assert body["tags"] == []
    # The app's own metadata is not part of the representation.
    assert "alice-sub" not in json.dumps(body)


def test_write_read_and_replace(alice_api, integration):
    first = {"store_id": 42, "workspace": {"id": "w-1", "plan": "pro"}, "flags": [1, 2]}
    response = patch(alice_api, integration, {"metadata": first, "tags": ["store-42", "eu"]})
    assert response.status_code == 200, response.content
    assert response.json()["metadata"] == first
    assert response.json()["tags"] == ["store-42", "eu"]
    assert_no_secret(response)
    got = alice_api.get(detail(integration)).json()
    assert (got["metadata"], got["tags"]) == (first, ["store-42", "eu"])
    listed = alice_api.get(LIST).json()["results"][0]
    assert (listed["metadata"], listed["tags"]) == (first, ["store-42", "eu"])

    # metadata replaces the whole object; tags not sent are kept.
    response = patch(alice_api, integration, {"metadata": {"store_id": 43}})
    assert response.status_code == 200
    assert response.json()["metadata"] == {"store_id": 43}
    assert response.json()["tags"] == ["store-42", "eu"]
    # tags replace the list (duplicates dropped, order kept); metadata kept.
    response = patch(alice_api, integration, {"tags": ["b", "a", "b"]})
    assert response.json()["tags"] == ["b", "a"]
    assert response.json()["metadata"] == {"store_id": 43}
    # {} and [] clear them.
    response = patch(alice_api, integration, {"metadata": {}, "tags": []})
    assert (response.json()["metadata"], response.json()["tags"]) == ({}, [])
    integration.refresh_from_db()
    assert (integration.host_metadata, integration.tags) == ({}, [])


def test_label_and_metadata_in_one_patch(alice_api, integration):
    response = patch(alice_api, integration, {"label": "Shop", "tags": ["shop"]})
    assert response.status_code == 200
    assert (response.json()["label"], response.json()["tags"]) == ("Shop", ["shop"])


def test_a_host_write_leaves_the_apps_metadata_alone(alice_api, integration):
    """Keys the app uses, sent by the host, land in the host's object only."""
    response = patch(
        alice_api,
        integration,
        {"metadata": {"identity": {"sub": "forged"}, "url_values": {"subdomain": "evil"}}},
    )
    assert response.status_code == 200
    integration.refresh_from_db()
    assert integration.metadata == APP_METADATA
    assert integration.host_metadata == {
        "identity": {"sub": "forged"},
        "url_values": {"subdomain": "evil"},
    }
    # A host write does not reset the app's data either.
    patch(alice_api, integration, {"metadata": {}})
    integration.refresh_from_db()
    assert integration.metadata == APP_METADATA
    assert integration.access_token == ACCESS


@pytest.mark.parametrize(
    "metadata, message",
    [
        ([1, 2], "Must be a JSON object."),
        ("store-42", "Must be a JSON object."),
        (None, "This field may not be null."),
        ({f"k{i}": i for i in range(51)}, "At most 50 keys."),
        ({"": 1}, "Keys must be 1 to 64 characters long."),
        ({"k" * 65: 1}, "Keys must be 1 to 64 characters long."),
        ({"a": {"b": {"c": {"d": {"e": {}}}}}}, "JSON nested more than 5 levels deep."),
        ({"a": [[[[[1]]]]]}, "JSON nested more than 5 levels deep."),
        ({"blob": "x" * 16_400}, "At most 16384 bytes as JSON."),
        ({"blob": "é" * 8_200}, "At most 16384 bytes as JSON."),  # bytes, not characters
        ({"nul": "a\x00b"}, "JSON strings cannot contain NUL characters (\\u0000)."),
    ],
)
def test_metadata_limits_are_400_naming_the_field(alice_api, integration, metadata, message):
    response = patch(alice_api, integration, {"metadata": metadata, "tags": ["kept-out"]})
    assert fields(response) == {"metadata": [message]}
    integration.refresh_from_db()
    assert (integration.host_metadata, integration.tags) == ({}, [])


def test_metadata_at_the_limits_is_accepted(alice_api, integration):
    at_limit = {"a": {"b": {"c": {"d": [1]}}}, **{f"k{i}": i for i in range(49)}}
    assert patch(alice_api, integration, {"metadata": at_limit}).status_code == 200
    big = {"blob": "x" * (16_384 - len('{"blob":""}'))}
    assert patch(alice_api, integration, {"metadata": big}).status_code == 200
    integration.refresh_from_db()
    assert integration.host_metadata == big


def test_the_error_does_not_quote_the_value(alice_api, integration):
    canary = "canary-value-7f3e9a"
    response = patch(alice_api, integration, {"metadata": {"k": canary, "x" * 65: canary}})
    assert response.status_code == 400
    assert canary not in response.content.decode()
    response = patch(alice_api, integration, {"tags": ["ok", f"Bad-{canary}"]})
    assert response.status_code == 400
    assert canary not in response.content.decode()


TAG_ERROR = (
    "A tag is 1 to 64 characters: lowercase letters, digits and _ . : -, "
    "starting with a letter or a digit."
)


@pytest.mark.parametrize(
    "tags, message",
    [
        ("store-42", "Must be a list of tags."),
        ({"store": 42}, "Must be a list of tags."),
        (["ok", "Store-42"], f"Item 1: {TAG_ERROR}"),
        (["-leading-dash"], f"Item 0: {TAG_ERROR}"),
        ([""], f"Item 0: {TAG_ERROR}"),
        (["a" * 65], f"Item 0: {TAG_ERROR}"),
        (["with space"], f"Item 0: {TAG_ERROR}"),
        (["comma,tag"], f"Item 0: {TAG_ERROR}"),
        ([42], f"Item 0: {TAG_ERROR}"),
        ([f"t{i}" for i in range(21)], "At most 20 tags."),
    ],
)
def test_tag_format_and_count_are_400_naming_the_field(alice_api, integration, tags, message):
    response = patch(alice_api, integration, {"tags": tags, "metadata": {"kept": "out"}})
    assert fields(response) == {"tags": [message]}
    integration.refresh_from_db()
    assert (integration.host_metadata, integration.tags) == ({}, [])


def test_tags_at_the_limits_are_accepted(alice_api, integration):
    tags = ["a" * 64, "0", "org:acme.eu_west-1", *[f"t{i}" for i in range(17)]]
    response = patch(alice_api, integration, {"tags": tags})
    assert response.status_code == 200
    assert response.json()["tags"] == tags


def test_another_users_integration_is_404_and_unchanged(bob_api, integration):
    response = patch(bob_api, integration, {"metadata": {"x": 1}, "tags": ["bob"]})
    assert response.status_code == 404
    assert bob_api.get(detail(integration)).status_code == 404
    integration.refresh_from_db()
    assert (integration.host_metadata, integration.tags) == ({}, [])
    assert not AuditEvent.objects.filter(action="update", target_id=str(integration.pk)).exists()


def test_unauthenticated_is_401_and_unchanged(anon_api, integration):
    response = patch(anon_api, integration, {"metadata": {"x": 1}, "tags": ["anon"]})
    assert response.status_code == 401
    assert anon_api.get(f"{LIST}?tag=anon").status_code == 401
    integration.refresh_from_db()
    assert (integration.host_metadata, integration.tags) == ({}, [])


def test_a_change_is_audited_without_the_values(alice, alice_api, integration):
    canary = "canary-store-9d1c"
    response = patch(
        alice_api, integration, {"metadata": {"store": canary}, "tags": ["store-9d1c"]}
    )
    assert response.status_code == 200
    events = AuditEvent.objects.filter(action="update", target_id=str(integration.pk))
    assert events.count() == 1
    event = events.get()
    assert event.actor == alice
    assert event.detail == "changed: metadata, tags"
    assert event.ip_address == "127.0.0.1"
    for value in (event.detail, event.purpose, event.target_label):
        assert canary not in value and "store-9d1c" not in value
    # The same values again change nothing and record nothing.
    patch(alice_api, integration, {"metadata": {"store": canary}, "tags": ["store-9d1c"]})
    assert events.count() == 1
    patch(alice_api, integration, {"tags": []})
    assert events.count() == 2
    assert events.order_by("-created_at").first().detail == "changed: tags"


@pytest.fixture
def tagged(alice, bob, provider, integration):
    tokens.set_host_metadata(integration, tags=["store-42", "eu"])
    return {
        "both": integration,
        "store": connect(alice, provider, "a2", ["store-42"]),
        "eu": connect(alice, provider, "a3", ["eu", "store-420"]),
        "none": connect(alice, provider, "a4"),
        "bobs": connect(bob, provider, "b1", ["store-42", "eu"]),
    }


def listed(api, query):
    response = api.get(f"{LIST}?{query}")
    assert response.status_code == 200, response.content
    return {item["id"] for item in response.json()["results"]}


def ids(tagged, *names):
    return {str(tagged[name].pk) for name in names}


def test_filter_by_one_tag(alice_api, tagged):
    assert listed(alice_api, "tag=store-42") == ids(tagged, "both", "store")
    assert listed(alice_api, "tag=eu") == ids(tagged, "both", "eu")
    # Exact tags: no prefix or substring match.
    assert listed(alice_api, "tag=store-420") == ids(tagged, "eu")
    assert listed(alice_api, "tag=store") == set()
    assert listed(alice_api, "tag=store-4") == set()


def test_filter_by_two_tags_means_both(alice_api, bob_api, tagged):
    assert listed(alice_api, "tag=store-42&tag=eu") == ids(tagged, "both")
    assert listed(alice_api, "tag=store-42,eu") == ids(tagged, "both")
    assert listed(alice_api, "tag=eu&tag=nowhere") == set()
    # Combined with the other filters, and only ever the user's own.
    assert listed(alice_api, "tag=eu&status=active") == ids(tagged, "both", "eu")
    assert listed(bob_api, "tag=store-42&tag=eu") == ids(tagged, "bobs")


def test_tag_filter_does_not_match_metadata_values(alice, alice_api, tagged):
    tokens.set_host_metadata(tagged["none"], metadata={"tags": ["store-42"], "x": "store-42"})
    assert listed(alice_api, "tag=store-42") == ids(tagged, "both", "store")


@pytest.mark.parametrize(
    "query",
    ["tag=", "tag=Store-42", "tag=a%20b", "tag=" + "a" * 65, "&".join(["tag=t"] * 21)],
)
def test_a_malformed_tag_filter_is_400(alice_api, tagged, query):
    response = alice_api.get(f"{LIST}?{query}")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["tag"]


def test_a_filtered_list_is_paginated_in_order(alice, alice_api, provider):
    made = [connect(alice, provider, f"p{i}", ["bulk"]) for i in range(3)]
    connect(alice, provider, "other", ["not-bulk"])
    response = alice_api.get(f"{LIST}?tag=bulk&ordering=created_at")
    assert response.json()["count"] == 3
    assert [item["id"] for item in response.json()["results"]] == [str(i.pk) for i in made]


def test_the_schema_documents_metadata_tags_and_the_filter(alice_api):
    schema = alice_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    for name in ("Integration", "PatchedIntegrationUpdateRequest", "IntegrationUpdateRequest"):
        properties = components[name]["properties"]
        assert properties["metadata"]["type"] == "object"
        assert properties["tags"]["type"] == "array"
        assert properties["tags"]["maxItems"] == 20
    assert components["Integration"]["properties"]["metadata"]["readOnly"] is True
    assert "readOnly" not in components["PatchedIntegrationUpdateRequest"]["properties"]["tags"]
    parameters = schema["paths"]["/api/integrations/"]["get"]["parameters"]
    (tag,) = [p for p in parameters if p["name"] == "tag"]
    assert tag["schema"]["type"] == "array"
    assert tag["schema"]["items"]["pattern"] == "^[a-z0-9][a-z0-9_.:-]{0,63}$"


def test_a_secret_looking_value_is_stored_as_given(alice_api, integration):
    """Metadata is not sealed and not scanned: the docs say never to put a secret
    there. What is stored is shown back as it is."""
    response = patch(alice_api, integration, {"metadata": {"note": "sk_live_looks_like_a_key"}})
    assert response.status_code == 200
    assert Integration.objects.get(pk=integration.pk).host_metadata == {
        "note": "sk_live_looks_like_a_key"
    }
