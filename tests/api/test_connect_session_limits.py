"""Abuse limits of connect sessions: creating them is throttled per user;
refused one-time URLs are counted per client address, audited up to the rate,
then answered with a 429 and ``Retry-After`` that write nothing."""

import pytest
from django.core.cache import cache
from django.test import Client

from integrations import ratelimit
from integrations.models import AuditEvent, ConnectSession
from integrations.outages import CacheUnavailable
from tests.oauth_helpers import fake, make_provider  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

APP = "https://app.example"


@pytest.fixture(autouse=True)
def _one_window(one_ratelimit_window):
    """Counts of 30 requests must not straddle two minutes' windows."""


@pytest.fixture(autouse=True)
def allowed_origins(settings):
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "CONNECT_ALLOWED_ORIGINS": [APP]}


@pytest.fixture
def rates(settings):
    def set_rates(**values):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}),
                **values,
            },
        }

    cache.clear()
    yield set_rates
    cache.clear()


def create(api):
    return api.post(
        "/api/connect-sessions/",
        {"provider": "fake", "return_url": f"{APP}/back"},
        format="json",
    )


def refusals():
    return AuditEvent.objects.filter(action="connect_refused").count()


def test_creating_sessions_is_throttled_per_user(alice_api, bob_api, fake, rates):
    make_provider(fake)
    rates(**{ratelimit.CONNECT_SESSIONS_SCOPE: "3/min"})
    assert [create(alice_api).status_code for _ in range(3)] == [201, 201, 201]
    over = create(alice_api)
    assert over.status_code == 429
    assert 1 <= int(over["Retry-After"]) <= 60
    assert ConnectSession.objects.count() == 3
    # Another user has a counter of their own.
    assert create(bob_api).status_code == 201


def test_the_default_rate_applies_when_the_project_sets_none(alice_api, fake, settings):
    make_provider(fake)
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {}}
    codes = [create(alice_api).status_code for _ in range(31)]
    assert codes.count(201) == 30 and codes[-1] == 429


def test_a_flood_of_unknown_urls_writes_a_bounded_number_of_audit_rows(rates):
    rates(**{ratelimit.CONNECT_REFUSALS_SCOPE: "5/min"})
    browser = Client()
    codes = [
        browser.get(f"/integrations/connect-session/guess-{n}/").status_code for n in range(12)
    ]
    assert codes == [302] * 5 + [429] * 7
    assert refusals() == 5
    limited = browser.get("/integrations/connect-session/guess-x/")
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    # Another client address still gets its own refusals audited.
    other = Client(REMOTE_ADDR="203.0.113.9")
    assert other.get("/integrations/connect-session/guess-y/").status_code == 302
    assert refusals() == 6


def test_used_urls_count_too_and_a_valid_url_still_opens(alice_api, fake, rates):
    make_provider(fake)
    rates(**{ratelimit.CONNECT_REFUSALS_SCOPE: "2/min"})
    url = create(alice_api).json()["url"].split("testserver", 1)[1]
    browser = Client()
    assert browser.get(url).status_code == 302  # opened: not a refusal
    assert [browser.get(url).status_code for _ in range(4)] == [302, 302, 429, 429]
    assert refusals() == 2
    # Refusals never block a valid URL of the same client.
    fresh = create(alice_api).json()["url"].split("testserver", 1)[1]
    response = browser.get(fresh)
    assert response.status_code == 302 and response["Location"].startswith(fake.url)


def test_refusals_after_the_url_are_limited_too(rates):
    """The follow-up form of a session this browser did not claim (a guessed id)."""
    rates(**{ratelimit.CONNECT_REFUSALS_SCOPE: "2/min"})
    browser = Client()
    path = "/integrations/connect-session/00000000-0000-0000-0000-000000000001/form/"
    assert [browser.get(path).status_code for _ in range(4)] == [404, 404, 429, 429]
    assert refusals() == 2


def test_the_limit_fails_closed_when_the_cache_is_down(monkeypatch):
    def down(*args, **kwargs):
        raise CacheUnavailable("default")

    monkeypatch.setattr(ratelimit, "get_usage", down)
    response = Client().get("/integrations/connect-session/guess/")
    assert response.status_code == 503
    assert "Retry-After" in response
    assert refusals() == 0
