"""Once a provider has answered a refresh, its answer survives any single failure
of ours; a request the provider may have acted on is never sent again at once.

The provider here is strict (``RevokeOnReuse``: it rotates refresh tokens and
revokes the whole grant when a rotated one comes back), so "the grant survives"
is checked where it would be lost. Real database restarts are in
tests/faults/test_refresh_faults.py (``make faults``); here the database write
fails through the driver's own error class, on every database.
"""

import json
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.db import OperationalError
from django.test.utils import override_settings
from django.utils import timezone

from integrations import refresh_outbox, token_reading, token_refresh, tokens
from integrations.models import AuditEvent, Integration
from tests.conftest import assert_not_logged
from tests.fake_provider import closed_port_url
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    alice,
    bob,
    connected,
    expire,
    fake,
    make_provider,
    provider,
)
from tests.reuse_detection import RevokeOnReuse
from tests.settings import INTEGRATIONS

pytestmark = pytest.mark.django_db(transaction=True)

ISSUED_ACCESS = "fake-access-0001-" + "a" * 24
ISSUED_REFRESH = "fake-refresh-0001-" + "r" * 24


@pytest.fixture
def strict(fake):
    return RevokeOnReuse(fake)


@pytest.fixture(autouse=True)
def empty_outbox():
    caches["default"].clear()
    yield
    caches["default"].clear()


def refresh_failures():
    return list(
        AuditEvent.objects.filter(action="refresh", outcome="failure")
        .order_by("created_at")
        .values_list("detail", flat=True)
    )


class FailingWrites:
    """The database refuses the refresh's write ``times`` times (as after a
    restart: ``OperationalError`` from the driver), then works again."""

    def __init__(self, monkeypatch, times):
        self.left = times
        self.calls = 0
        real = token_refresh._write_if_leased

        def write(*args, **kwargs):
            self.calls += 1
            if self.left:
                self.left -= 1
                raise OperationalError("server closed the connection unexpectedly")
            return real(*args, **kwargs)

        monkeypatch.setattr(token_refresh, "_write_if_leased", write)


# -- a request the provider may have acted on is not sent again ---------------------


@pytest.mark.parametrize(
    ("stall", "code"), [(0.0, "connection_lost"), (1.5, "timeout")], ids=["dropped", "timeout"]
)
def test_an_answer_lost_after_the_provider_rotated_is_not_asked_again(
    alice, fake, strict, backoff_sleeps, stall, code
):
    integration = connected(alice, make_provider(fake))
    expire(integration)
    fake.lose_answer(stall=stall)
    with override_settings(INTEGRATIONS={**INTEGRATIONS, "HTTP_TIMEOUT_SECONDS": 1}):
        with pytest.raises(tokens.RefreshFailed) as info:
            tokens.get_valid_token(integration, purpose="p")
    assert info.value.code == code
    # One request: the refresh token was not sent again, so the provider did
    # not see a reuse and the grant stands.
    assert len(fake.refresh_requests()) == 1 and backoff_sleeps == []
    assert strict.revoked == set()
    assert refresh_failures() == [f"{code}: outcome unknown"]
    loaded = Integration.objects.get(pk=integration.pk)
    assert (loaded.status, loaded.last_error) == ("error", code)
    assert loaded.refresh_lease is None


def test_after_an_unknown_outcome_a_strict_provider_decides_and_it_is_audited(alice, fake, strict):
    """The documented end of the one case we cannot save: the provider rotated
    and its answer never reached us. The next refresh sends the token we hold;
    a provider that detects reuse refuses it: needs_reauth, audited."""
    integration = connected(alice, make_provider(fake))
    expire(integration)
    fake.lose_answer()
    with pytest.raises(tokens.RefreshFailed):
        tokens.get_valid_token(integration, purpose="p")
    with pytest.raises(tokens.ReauthorizationRequired) as info:
        tokens.get_valid_token(integration, purpose="p")
    assert info.value.code == "invalid_grant"
    assert refresh_failures() == ["connection_lost: outcome unknown", "invalid_grant"]


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_5xx_the_provider_may_have_acted_on_is_not_retried(
    alice, provider, fake, backoff_sleeps, status
):
    integration = connected(alice, provider)
    expire(integration)
    fake.script("/token", status, {"error": "server_error"}, times=3)
    with pytest.raises(tokens.RefreshFailed) as info:
        tokens.refresh_integration(integration)
    assert info.value.code == f"http_{status}"
    assert len(fake.refresh_requests()) == 1


@pytest.mark.parametrize(
    "body",
    [{"error": "rate_limited", "error_description": "slow down"}, "Too Many Requests"],
    ids=["json", "text"],
)
def test_a_429_is_retried_whatever_its_body(alice, provider, fake, backoff_sleeps, body):
    integration = connected(alice, provider)
    expire(integration)
    fake.script("/token", 429, body)
    assert tokens.refresh_integration(integration) == tokens.Outcome.REFRESHED
    assert len(fake.refresh_requests()) == 2 and len(backoff_sleeps) == 1


def test_a_503_with_an_oauth_error_body_is_retried(alice, provider, fake, backoff_sleeps):
    integration = connected(alice, provider)
    expire(integration)
    fake.script("/token", 503, {"error": "temporarily_unavailable"})
    assert tokens.refresh_integration(integration) == tokens.Outcome.REFRESHED
    assert len(fake.refresh_requests()) == 2


def test_retry_after_is_waited_for(alice, provider, fake, backoff_sleeps):
    integration = connected(alice, provider)
    expire(integration)
    fake.script("/token", 429, {"error": "rate_limited"}, {"Retry-After": "3"})
    with override_settings(INTEGRATIONS={**INTEGRATIONS, "REFRESH_RETRY_BACKOFF_SECONDS": 0.01}):
        tokens.refresh_integration(integration)
    assert backoff_sleeps == [3.0]


def test_a_retry_after_beyond_the_lease_is_not_waited_for(alice, provider, fake, backoff_sleeps):
    integration = connected(alice, provider)
    expire(integration)
    fake.script("/token", 429, {"error": "rate_limited"}, {"Retry-After": "3600"})
    with pytest.raises(tokens.RefreshFailed) as info:
        tokens.refresh_integration(integration)
    assert info.value.code == "http_429"
    assert len(fake.refresh_requests()) == 1 and backoff_sleeps == []


def test_a_refused_connection_is_retried(alice, fake, backoff_sleeps):
    integration = connected(alice, make_provider(fake, token_url=closed_port_url() + "/token"))
    expire(integration)
    with pytest.raises(tokens.RefreshFailed) as info:
        tokens.refresh_integration(integration)
    assert info.value.code == "network_error"
    assert len(backoff_sleeps) == 2  # never sent: safe to try again
    assert refresh_failures() == ["network_error"]


# -- a bad answer still gives up its new refresh token --------------------------------


def test_an_oversized_access_token_keeps_the_rotated_refresh_token(alice, fake, strict):
    integration = connected(alice, make_provider(fake))
    expire(integration)
    issue = fake.issue

    def oversized(form):
        status, token = issue(form)
        return status, {**token, "access_token": "x" * 70_000}

    fake.issue = oversized
    with pytest.raises(tokens.RefreshFailed) as info:
        tokens.get_valid_token(integration, purpose="p")
    assert info.value.code == "invalid_token_response"
    loaded = Integration.objects.get(pk=integration.pk)
    assert loaded.refresh_token == ISSUED_REFRESH  # the rotated one, kept
    assert loaded.access_token == "stored-access-token-0001"  # the bad one is not stored
    assert (loaded.status, loaded.last_error) == ("error", "invalid_token_response")
    assert refresh_failures() == ["invalid_token_response: new refresh token kept"]

    fake.issue = issue  # the provider mends its ways: the grant is still alive
    assert tokens.get_valid_token(integration, purpose="p").reveal().startswith("fake-access-0002")
    assert strict.revoked == set()
    assert fake.refresh_requests()[1]["form"]["refresh_token"] == ISSUED_REFRESH


def test_an_answer_without_a_sound_refresh_token_keeps_the_stored_one(alice, fake, strict):
    integration = connected(alice, make_provider(fake))
    expire(integration)
    fake.issue = lambda form: (200, {"access_token": "a\x00b", "refresh_token": "r\x00"})
    with pytest.raises(tokens.RefreshFailed):
        tokens.get_valid_token(integration, purpose="p")
    loaded = Integration.objects.get(pk=integration.pk)
    assert loaded.refresh_token == "stored-refresh-token-0001"
    assert refresh_failures() == ["invalid_token_response"]


# -- the database fails between the provider's answer and our commit ---------------------


def test_a_write_that_fails_is_written_again_on_a_new_connection(alice, fake, strict, monkeypatch):
    integration = connected(alice, make_provider(fake))
    expire(integration)
    writes = FailingWrites(monkeypatch, times=2)
    assert tokens.get_valid_token(integration, purpose="p").reveal() == ISSUED_ACCESS
    assert writes.calls == 3 and len(fake.refresh_requests()) == 1
    loaded = Integration.objects.get(pk=integration.pk)
    assert (loaded.refresh_token, loaded.status, loaded.refresh_lease) == (
        ISSUED_REFRESH,
        "active",
        None,
    )
    assert AuditEvent.objects.filter(action="refresh", outcome="success").count() == 1
    assert caches["default"].get(f"integrations:refresh-outbox:{integration.pk}") is None


def test_an_answer_the_database_never_took_is_stored_by_the_next_refresh(
    alice, fake, strict, monkeypatch
):
    """The write fails for longer than REFRESH_STORE_RETRY_SECONDS: the caller
    gets a typed failure, the lease is kept until it runs out (no other worker
    sends the retired refresh token), and the next lease holder stores the
    answer from the outbox without asking the provider."""
    integration = connected(alice, make_provider(fake))
    expire(integration)
    settings = {**INTEGRATIONS, "REFRESH_STORE_RETRY_SECONDS": 0.3}
    writes = FailingWrites(monkeypatch, times=10**6)
    with override_settings(INTEGRATIONS=settings):
        with pytest.raises(tokens.DatabaseUnavailable) as info:
            tokens.get_valid_token(integration, purpose="p")
    assert info.value.code == "database_unavailable"
    assert writes.calls > 1
    held = Integration.objects.get(pk=integration.pk)
    assert held.refresh_lease is not None  # not released: an answer is unstored
    assert held.refresh_token == "stored-refresh-token-0001"  # retired at the provider

    writes.left = 0  # the database is back; the lease runs out
    Integration.objects.filter(pk=integration.pk).update(
        refresh_lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert tokens.get_valid_token(integration, purpose="p").reveal() == ISSUED_ACCESS
    assert len(fake.refresh_requests()) == 1  # the outbox's answer, not a second refresh
    assert strict.revoked == set()
    loaded = Integration.objects.get(pk=integration.pk)
    assert (loaded.refresh_token, loaded.status, loaded.refresh_lease) == (
        ISSUED_REFRESH,
        "active",
        None,
    )
    assert caches["default"].get(f"integrations:refresh-outbox:{integration.pk}") is None


def test_waiters_do_not_send_the_retired_token_while_an_answer_is_unstored(
    alice, fake, strict, monkeypatch
):
    integration = connected(alice, make_provider(fake))
    expire(integration)
    FailingWrites(monkeypatch, times=10**6)
    settings = {**INTEGRATIONS, "REFRESH_STORE_RETRY_SECONDS": 0.2, "HTTP_TIMEOUT_SECONDS": 0.1}
    with override_settings(INTEGRATIONS=settings):
        with pytest.raises(tokens.DatabaseUnavailable):
            tokens.get_valid_token(integration, purpose="p")
        # Another caller: it waits while the lease runs, then takes it over and
        # tries to store the kept answer (the database still fails): it never
        # sends the retired refresh token.
        with pytest.raises(tokens.DatabaseUnavailable):
            tokens.get_valid_token(Integration.objects.get(pk=integration.pk), purpose="p")
    assert len(fake.refresh_requests()) == 1 and strict.revoked == set()


def test_the_outbox_holds_the_answer_sealed(alice, fake, strict, monkeypatch, canary, all_logs):
    integration = connected(alice, make_provider(fake))
    expire(integration)
    fake.issue = lambda form: (
        200,
        {"access_token": f"{canary}-a", "refresh_token": f"{canary}-r", "expires_in": 60},
    )
    FailingWrites(monkeypatch, times=10**6)
    with override_settings(INTEGRATIONS={**INTEGRATIONS, "REFRESH_STORE_RETRY_SECONDS": 0}):
        with pytest.raises(tokens.DatabaseUnavailable) as info:
            tokens.get_valid_token(integration, purpose="p")
    entry = caches["default"].get(f"integrations:refresh-outbox:{integration.pk}")
    assert canary not in json.dumps(entry)
    assert entry["answer"].startswith("$si1$")
    assert canary not in str(info.value) and canary not in repr(info.value)
    assert "refresh outbox" in all_logs.text
    assert_not_logged(all_logs, canary)


def test_an_outbox_answer_for_an_older_state_is_dropped(alice, bob, fake, provider, monkeypatch):
    """Reconnected after the answer was kept: the row's state is newer, and the
    kept answer (for the tokens it replaced) must not overwrite it."""
    integration = connected(alice, provider)
    expire(integration)
    FailingWrites(monkeypatch, times=10**6)
    with override_settings(INTEGRATIONS={**INTEGRATIONS, "REFRESH_STORE_RETRY_SECONDS": 0}):
        with pytest.raises(tokens.DatabaseUnavailable):
            tokens.get_valid_token(integration, purpose="p")
    monkeypatch.undo()
    connected(alice, provider, access="reconnected-access", refresh="reconnected-refresh")
    expire(integration)
    assert tokens.get_valid_token(integration, purpose="p").reveal().startswith("fake-access-0002")
    assert fake.refresh_requests()[-1]["form"]["refresh_token"] == "reconnected-refresh"
    assert caches["default"].get(f"integrations:refresh-outbox:{integration.pk}") is None


def test_an_outbox_entry_of_another_row_does_not_open(alice, provider, fake):
    """Sealed for one integration: copied under another's key it fails to open
    and is dropped, never applied."""
    first = connected(alice, provider)
    second = connected(alice, provider, external_account_id="acct-2")
    assert refresh_outbox.put(first, {"access_token": "x", "refresh_token": "y"})
    cache = caches["default"]
    entry = cache.get(f"integrations:refresh-outbox:{first.pk}")
    state = refresh_outbox._state(second)
    cache.set(
        f"integrations:refresh-outbox:{second.pk}",
        {**entry, "seen": state[0], "replaces": state[1]},
    )
    assert refresh_outbox.pending(second) is None
    assert cache.get(f"integrations:refresh-outbox:{second.pk}") is None


def test_a_cache_that_fails_costs_the_outbox_copy_not_the_refresh(
    alice, fake, strict, monkeypatch, all_logs
):
    integration = connected(alice, make_provider(fake))
    expire(integration)

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise ConnectionError("cache down")

            return fail

    monkeypatch.setattr(refresh_outbox, "_cache", lambda: Down())
    assert tokens.get_valid_token(integration, purpose="p").reveal() == ISSUED_ACCESS
    assert "not kept in the outbox (ConnectionError)" in all_logs.text


# -- callers get typed failures, never a driver's error ------------------------------


def test_a_database_that_cannot_be_reached_is_a_typed_failure(alice, provider, monkeypatch):
    integration = connected(alice, provider)

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(token_reading, "_read_again_and_audit", down)
    with pytest.raises(tokens.DatabaseUnavailable) as info:
        tokens.get_valid_token(integration, purpose="p")
    assert isinstance(info.value, tokens.TokenUnavailable)
    assert info.value.code == "database_unavailable"


def test_the_scheduled_refresh_stops_on_a_database_failure(alice, provider, fake, monkeypatch):
    for n in range(3):
        expire(connected(alice, provider, external_account_id=f"acct-{n}"))
    calls = []

    def down(*args, **kwargs):
        calls.append(1)
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(token_refresh, "_claim", down)
    report = tokens.refresh_expiring(within=600)
    assert report.counts == {"database_unavailable": 1}
    assert len(calls) == 1  # not once per row: the run stopped


def test_disconnect_revokes_the_tokens_of_an_unstored_answer(alice, fake, provider, monkeypatch):
    """The kept answer holds the live tokens (the stored refresh token is retired):
    disconnecting revokes those, and the kept answer is gone with the grant."""
    integration = connected(alice, provider)
    expire(integration)
    writes = FailingWrites(monkeypatch, times=10**6)
    with override_settings(INTEGRATIONS={**INTEGRATIONS, "REFRESH_STORE_RETRY_SECONDS": 0}):
        with pytest.raises(tokens.DatabaseUnavailable):
            tokens.get_valid_token(integration, purpose="p")
    writes.left = 0
    tokens.disconnect(alice, integration.pk)
    revoked = [request["form"]["token"] for request in fake.requests_to("/revoke")]
    assert revoked == [ISSUED_REFRESH, ISSUED_ACCESS]
    assert caches["default"].get(f"integrations:refresh-outbox:{integration.pk}") is None
