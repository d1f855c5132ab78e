"""Scoped throttles on the credential and refresh endpoints (429 after the limit)."""

import pytest
from django.conf import settings

from integrations import oauth
from integrations.api.throttles import DEFAULT_RATES

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    def set_rates(**rates):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                "integrations_credentials": rates.get("credentials", "3/min"),
                "integrations_refresh": rates.get("refresh", "2/min"),
            },
        }

    return set_rates


def test_credentials_429_after_the_limit_per_user(rates, alice_api, bob_api):
    rates(credentials="3/min")
    for _ in range(3):
        assert alice_api.get("/api/credentials/").status_code == 200
    response = alice_api.post(
        "/api/credentials/", {"name": "n", "type": "bearer", "data": {"token": "t"}}, format="json"
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    assert bob_api.get("/api/credentials/").status_code == 200  # counted per user
    assert alice_api.get("/api/providers/").status_code == 200  # other endpoints are not limited


def test_refresh_429_after_the_limit(rates, alice_api, integration, monkeypatch):
    rates(refresh="2/min")
    monkeypatch.setattr(
        oauth,
        "refresh_token_request",
        lambda provider, token, **_: {"access_token": "new-access-token"},
    )
    url = f"/api/integrations/{integration.pk}/refresh/"
    assert [alice_api.post(url).status_code for _ in range(3)] == [200, 200, 429]
    assert alice_api.get(f"/api/integrations/{integration.pk}/").status_code == 200


def test_a_rate_of_none_switches_it_off(rates, settings, alice_api):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"integrations_credentials": None},
    }
    assert all(alice_api.get("/api/credentials/").status_code == 200 for _ in range(5))


def test_defaults_without_project_settings(settings, alice_api):
    settings.REST_FRAMEWORK = {
        k: v for k, v in settings.REST_FRAMEWORK.items() if k != "DEFAULT_THROTTLE_RATES"
    }
    assert DEFAULT_RATES["integrations_credentials"]
    assert alice_api.get("/api/credentials/").status_code == 200


def test_the_project_reads_rates_from_the_environment():
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert set(rates) == {
        "integrations_credentials",
        "integrations_refresh",
        "integrations_integration_refresh",
        "integrations_connect_sessions",
        "integrations_connect_refusals",
    }
