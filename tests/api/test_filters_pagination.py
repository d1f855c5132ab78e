"""Filters (django-filter), ordering and pagination on the list endpoints."""

import pytest

from integrations import credentials, tokens
from integrations.models import Integration, Provider

pytestmark = pytest.mark.django_db


def names(response, key="name"):
    assert response.status_code == 200, response.json()
    return [item[key] for item in response.json()["results"]]


@pytest.fixture
def many(alice, provider, mailer):
    chat = Provider.objects.create(
        slug="chat", name="Chat", category="communication", auth_type="bearer"
    )
    for index, (prov, status) in enumerate(
        [(provider, "active"), (provider, "error"), (chat, "active")]
    ):
        integration, _ = tokens.connect(
            alice,
            prov,
            {"access_token": f"token-{index}"},
            external_account_id=f"acct-{index}",
            label=f"L{index}",
        )
        Integration.objects.filter(pk=integration.pk).update(status=status)
    for name, kind, prov in [
        ("a-key", "api_key", mailer),
        ("b-basic", "basic", None),
        ("c-bearer", "bearer", chat),
        ("d-custom", "custom", mailer),
        ("e-key", "api_key", None),
    ]:
        data = (
            {"api_key": "k"}
            if kind == "api_key"
            else {"username": "u", "password": "p"}
            if kind == "basic"
            else {"token": "t"}
            if kind == "bearer"
            else {"x": 1}
        )
        credentials.create_credential(
            alice, name=name, credential_type=kind, data=data, provider=prov
        )
    return {"chat": chat}


class TestIntegrationFilters:
    URL = "/api/integrations/"

    def test_status_provider_category_auth_type(self, alice_api, many, provider):
        assert sorted(names(alice_api.get(self.URL, {"status": "active"}), "label")) == ["L0", "L2"]
        assert sorted(names(alice_api.get(self.URL, {"provider": "cloudy"}), "label")) == [
            "L0",
            "L1",
        ]
        by_id = alice_api.get(self.URL, {"provider": str(provider.pk)})
        assert sorted(names(by_id, "label")) == ["L0", "L1"]
        assert names(alice_api.get(self.URL, {"category": "communication"}), "label") == ["L2"]
        assert names(alice_api.get(self.URL, {"auth_type": "bearer"}), "label") == ["L2"]
        assert names(alice_api.get(self.URL, {"provider": "unknown"}), "label") == []

    def test_ordering(self, alice_api, many):
        assert names(alice_api.get(self.URL, {"ordering": "label"}), "label") == ["L0", "L1", "L2"]
        assert names(alice_api.get(self.URL, {"ordering": "-label"}), "label") == ["L2", "L1", "L0"]

    @pytest.mark.parametrize("param", ["status", "category", "auth_type", "ordering"])
    def test_invalid_choice_is_400_naming_the_parameter(self, alice_api, many, param, canary):
        response = alice_api.get(self.URL, {param: canary})
        assert response.status_code == 400
        assert param in response.json()["error"]["fields"]
        assert canary not in response.content.decode()

    @pytest.mark.parametrize(
        "query",
        [
            "status=",
            "category=",
            "ordering=",
            "ordering=,",
            "ordering=label,",
            "status=active&status=",
        ],
    )
    def test_empty_values_are_400(self, alice_api, many, query):
        response = alice_api.get(f"{self.URL}?{query}")
        assert response.status_code == 400
        assert query.split("=")[0] in response.json()["error"]["fields"]

    def test_an_empty_provider_is_no_filter(self, alice_api, many):
        assert len(names(alice_api.get(self.URL, {"provider": ""}), "label")) == 3

    def test_nul_in_a_parameter_is_400(self, alice_api, many):
        assert alice_api.get(self.URL, {"provider": "a\x00b"}).status_code == 400


class TestCredentialFilters:
    URL = "/api/credentials/"

    def test_type_provider_category(self, alice_api, many, mailer):
        assert names(alice_api.get(self.URL, {"type": "api_key"})) == ["a-key", "e-key"]
        assert names(alice_api.get(self.URL, {"provider": "mailer"})) == ["a-key", "d-custom"]
        assert names(alice_api.get(self.URL, {"provider": str(mailer.pk)})) == ["a-key", "d-custom"]
        assert names(alice_api.get(self.URL, {"category": "communication"})) == ["c-bearer"]
        assert names(alice_api.get(self.URL, {"auth_type": "api_key"})) == ["a-key", "d-custom"]
        assert alice_api.get(self.URL, {"type": "nope"}).status_code == 400

    def test_ordering(self, alice_api, many):
        assert names(alice_api.get(self.URL, {"ordering": "-name"}))[0] == "e-key"


class TestProviderFilters:
    URL = "/api/providers/"

    def test_category_auth_type_status(self, alice_api, staff_api, many, hidden_provider):
        assert names(alice_api.get(self.URL, {"category": "email"}), "slug") == ["mailer"]
        assert names(alice_api.get(self.URL, {"auth_type": "oauth2"}), "slug") == ["cloudy"]
        assert names(alice_api.get(self.URL, {"status": "inactive"}), "slug") == []
        assert names(staff_api.get(self.URL, {"status": "inactive"}), "slug") == ["hidden"]
        assert names(alice_api.get(self.URL, {"ordering": "-slug"}), "slug") == [
            "mailer",
            "cloudy",
            "chat",
        ]


class TestPagination:
    URL = "/api/credentials/"

    def test_pages(self, alice_api, many):
        first = alice_api.get(self.URL, {"page_size": 2})
        body = first.json()
        assert body["count"] == 5
        assert [c["name"] for c in body["results"]] == ["a-key", "b-basic"]
        assert body["previous"] is None and "page=2" in body["next"]
        third = alice_api.get(self.URL, {"page_size": 2, "page": 3}).json()
        assert [c["name"] for c in third["results"]] == ["e-key"]
        assert third["next"] is None

    def test_default_page_size(self, alice_api, many):
        assert len(alice_api.get(self.URL).json()["results"]) == 5

    @pytest.mark.parametrize(
        "params, status, field",
        [
            ({"page": 4, "page_size": 2}, 404, None),
            ({"page": 0}, 400, "page"),
            ({"page": "x"}, 400, "page"),
            ({"page_size": 0}, 400, "page_size"),
            ({"page_size": 201}, 400, "page_size"),
            ({"page_size": "ten"}, 400, "page_size"),
        ],
    )
    def test_bad_paging(self, alice_api, many, params, status, field):
        response = alice_api.get(self.URL, params)
        assert response.status_code == status
        if field:
            assert field in response.json()["error"]["fields"]
        else:
            assert response.json()["error"]["code"] == "not_found"
