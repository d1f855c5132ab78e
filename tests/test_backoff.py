"""A refresh meets a failure that may pass: tried again with backoff, by the
lease holder only, so one expiry still makes one successful refresh."""

import pytest
from django.test.utils import override_settings

from integrations import tokens
from integrations.models import AuditEvent, Integration
from tests.conftest import assert_not_logged
from tests.fake_provider import closed_port_url
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    alice,
    connected,
    expire,
    fake,
    make_provider,
    provider,
)
from tests.settings import INTEGRATIONS

pytestmark = pytest.mark.django_db


def test_a_provider_failing_twice_then_answering_gives_one_refresh(
    alice, provider, fake, backoff_sleeps
):
    integration = connected(alice, provider)
    expire(integration)
    fake.script("/token", 503, "Service Unavailable")
    fake.script("/token", 400, {"error": "temporarily_unavailable"})

    token = tokens.get_valid_token(integration, purpose="sync")

    assert token.reveal() == "fake-access-0001-" + "a" * 24  # the one token issued
    assert len(fake.refresh_requests()) == 3  # two failures, then the answer
    assert len(backoff_sleeps) == 2 and all(wait >= 0 for wait in backoff_sleeps)
    loaded = Integration.objects.get(pk=integration.pk)
    assert (loaded.status, loaded.last_error) == ("active", "")
    refreshes = AuditEvent.objects.filter(action=AuditEvent.Action.REFRESH)
    assert [event.outcome for event in refreshes] == [AuditEvent.Outcome.SUCCESS]


def test_the_waits_grow_exponentially_with_jitter(alice, provider, fake, backoff_sleeps):
    integration = connected(alice, provider)
    expire(integration)
    fake.script("/token", 503, "Service Unavailable", times=4)
    with override_settings(
        INTEGRATIONS={
            **INTEGRATIONS,
            "REFRESH_RETRY_ATTEMPTS": 5,
            "REFRESH_RETRY_BACKOFF_SECONDS": 1,
        }
    ):
        tokens.refresh_integration(integration)
    assert len(fake.refresh_requests()) == 5
    # Full jitter: each wait is random, at most 1 s * 2**try (tenacity's bound).
    assert [wait <= 2**n for n, wait in enumerate(backoff_sleeps, start=1)] == [True] * 4
    assert len(set(backoff_sleeps)) > 1


def test_a_provider_that_stays_down_is_tried_the_set_number_of_times(alice, fake, backoff_sleeps):
    integration = connected(alice, make_provider(fake, token_url=closed_port_url() + "/token"))
    expire(integration)
    with pytest.raises(tokens.RefreshFailed) as info:
        tokens.refresh_integration(integration)
    assert info.value.code == "network_error"
    assert len(backoff_sleeps) == 2  # three tries
    failures = AuditEvent.objects.filter(
        action=AuditEvent.Action.REFRESH, outcome=AuditEvent.Outcome.FAILURE
    )
    assert failures.count() == 1  # one failed refresh, not one per try


@pytest.mark.parametrize("error", ["invalid_grant", "invalid_request"])
def test_a_refusal_is_not_retried(alice, provider, fake, backoff_sleeps, error):
    integration = connected(alice, provider)
    expire(integration)
    fake.script("/token", 400, {"error": error})
    with pytest.raises(tokens.TokenUnavailable):
        tokens.refresh_integration(integration)
    assert len(fake.refresh_requests()) == 1 and backoff_sleeps == []


def test_one_attempt_turns_retries_off(alice, provider, fake, backoff_sleeps):
    integration = connected(alice, provider)
    expire(integration)
    fake.script("/token", 503, "down")
    with override_settings(INTEGRATIONS={**INTEGRATIONS, "REFRESH_RETRY_ATTEMPTS": 1}):
        with pytest.raises(tokens.RefreshFailed):
            tokens.refresh_integration(integration)
    assert len(fake.refresh_requests()) == 1 and backoff_sleeps == []


def test_no_try_starts_that_could_outlast_the_lease(alice, fake, backoff_sleeps):
    # A lease of 3 * timeout + 5 s leaves timeout + 4 s (here 5 s) in which
    # every try must start, however many tries are allowed and waits are long.
    integration = connected(alice, make_provider(fake, token_url=closed_port_url() + "/token"))
    expire(integration)
    with override_settings(
        INTEGRATIONS={
            **INTEGRATIONS,
            "REFRESH_RETRY_ATTEMPTS": 50,
            "REFRESH_RETRY_BACKOFF_SECONDS": 1,
            "HTTP_TIMEOUT_SECONDS": 1,
        }
    ):
        with pytest.raises(tokens.RefreshFailed):
            tokens.refresh_integration(integration)
    assert backoff_sleeps and sum(backoff_sleeps) < 5


def test_retries_log_codes_never_secrets(alice, provider, fake, canary, all_logs):
    integration = connected(alice, provider, refresh=f"{canary}-refresh")
    expire(integration)
    fake.script("/token", 503, f"down {canary}")
    tokens.refresh_integration(integration)
    assert "http_503" in all_logs.text
    assert_not_logged(all_logs, canary)
