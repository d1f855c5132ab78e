"""No endpoint can drive unbounded token refreshes (issue 23, item 7).

Seen: with a provider answering 401, 25 "Test connection" POSTs in 4 s forced 25
refreshes (the refresh API allows 10/min). Test connection now counts against
the user's refresh limit (the refresh endpoint's counter), and every forced
refresh -- a 401 through ``tokens.session``, the refresh endpoint -- is limited
per integration by the token service itself.
"""

import pytest
from django.core.cache import cache

from integrations import connection_check, tokens
from integrations.models import AuditEvent, Integration
from integrations.ratelimit import DEFAULT_RATES, INTEGRATION_REFRESH_SCOPE, REFRESH_SCOPE
from tests.oauth_helpers import alice, connected, fake, make_provider, provider  # noqa: F401

pytestmark = pytest.mark.django_db

LIMIT = 10  # the default rates of both scopes
ACCESS = "stored-access-token-canary-0001"


@pytest.fixture(autouse=True)
def _counts_from_zero(one_ratelimit_window):
    """Every count starts at zero, in one window (see one_ratelimit_window)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def rejecting(fake):
    """The provider answers 401 to every userinfo call, whatever the token."""
    fake.handlers["/userinfo"] = lambda form, headers: (401, {"error": "invalid_token"})
    return fake


def test_the_default_rates():
    assert DEFAULT_RATES[REFRESH_SCOPE] == DEFAULT_RATES[INTEGRATION_REFRESH_SCOPE] == "10/min"


def test_test_connection_posts_share_the_users_refresh_limit(alice, provider, rejecting, client):
    """The finding: 25 POSTs, 25 refreshes. Now 10 go through, the rest are 429."""
    integration = connected(alice, provider, access=ACCESS)
    client.force_login(alice)
    statuses = [client.post(f"/integrations/{integration.pk}/test/").status_code for _ in range(25)]
    assert statuses == [302] * LIMIT + [429] * 15
    assert len(rejecting.refresh_requests()) == LIMIT
    refused = client.post(f"/integrations/{integration.pk}/test/")
    assert int(refused["Retry-After"]) >= 1
    assert ACCESS not in refused.content.decode()


def test_a_401_forced_refresh_is_limited_per_integration(alice, provider, rejecting):
    """Straight through the service (a project's own code, a task): no page limit
    in front, the token service stops the refreshes itself."""
    integration = connected(alice, provider)
    codes = [connection_check.check_connection(alice, integration).code for _ in range(25)]
    assert codes == ["http_401"] * LIMIT + ["refresh_rate_limited"] * 15
    assert len(rejecting.refresh_requests()) == LIMIT
    integration.refresh_from_db()
    # Refused before asking the provider: the row is not marked failed, tokens kept.
    assert integration.status == Integration.Status.ACTIVE
    assert integration.access_token
    assert AuditEvent.objects.filter(action="refresh", outcome="failure").count() == 0


def test_the_session_raises_a_typed_error_once_over_the_limit(alice, provider, rejecting):
    integration = connected(alice, provider)
    userinfo = rejecting.userinfo_url
    for _ in range(LIMIT):
        assert tokens.session(integration, purpose="p").get(userinfo, timeout=5).status_code == 401
    with pytest.raises(tokens.RefreshRateLimited) as raised:
        tokens.session(integration, purpose="p").get(userinfo, timeout=5)
    assert raised.value.code == "refresh_rate_limited"
    assert raised.value.retry_after >= 1


def test_the_limit_is_per_integration_not_per_user(alice, fake, rejecting):
    first = connected(alice, make_provider(fake, slug="one"), external_account_id="a")
    second = connected(alice, make_provider(fake, slug="two"), external_account_id="b")
    for _ in range(LIMIT):
        connection_check.check_connection(alice, first)
    assert connection_check.check_connection(alice, first).code == "refresh_rate_limited"
    assert connection_check.check_connection(alice, second).code == "http_401"


@pytest.mark.api
def test_the_refresh_endpoint_shares_the_integration_limit(alice, provider, rejecting):
    """Forced refreshes from a 401 and from the endpoint count together: the
    endpoint answers 429 with Retry-After once the integration has had its share."""
    from rest_framework.test import APIClient

    from integrations.api.api_tokens import create_api_token

    integration = connected(alice, provider)
    for _ in range(LIMIT - 1):
        connection_check.check_connection(alice, integration)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {create_api_token(alice)[0]}")
    url = f"/api/integrations/{integration.pk}/refresh/"
    assert api.post(url).status_code == 200
    response = api.post(url)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) >= 1
    assert len(rejecting.refresh_requests()) == LIMIT


def test_an_expired_token_is_still_refreshed_when_forced_ones_are_used_up(
    alice, provider, rejecting
):
    """The limit is on forced refreshes only: a token that expired is refreshed
    by get_valid_token as always."""
    from tests.oauth_helpers import expire

    integration = connected(alice, provider)
    for _ in range(LIMIT + 1):
        connection_check.check_connection(alice, integration)
    expire(integration)
    assert tokens.get_valid_token(integration, purpose="p").reveal()
    assert len(rejecting.refresh_requests()) == LIMIT + 1
