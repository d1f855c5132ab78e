"""get_valid_token and refresh against a provider over real HTTP (a loopback fake)."""

import base64
import uuid
from datetime import timedelta

import pytest
import requests
from django.test.utils import override_settings
from django.utils import timezone

from integrations import oauth, signals, tokens
from integrations.crypto import is_sealed
from integrations.models import AuditEvent, Integration
from tests.dbutil import raw_column
from tests.fake_provider import closed_port_url
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    CLIENT_SECRET,
    EVERY_TRY,
    alice,
    bob,
    connected,
    expire,
    fake,
    make_provider,
    provider,
    race_for_token,
)
from tests.processes import run_in_processes
from tests.reuse_detection import RevokeOnReuse
from tests.settings import TEST_KEY_V1, TEST_KEY_V2
from tests.unreadable import UNREADABLE, spoil

pytestmark = pytest.mark.django_db


@pytest.fixture
def received():
    """Signals sent, as (name, kwargs) pairs."""
    seen = []
    handlers = {}
    for name in ("integration_refreshed", "integration_needs_reauth", "integration_recovered"):

        def handler(sender, name=name, **kwargs):
            kwargs.pop("signal", None)
            seen.append((name, kwargs))

        handlers[name] = handler
        getattr(signals, name).connect(handler)
    yield seen
    for name, handler in handlers.items():
        getattr(signals, name).disconnect(handler)


def raw_tokens(integration):
    return (
        raw_column(Integration, "access_token", integration.pk),
        raw_column(Integration, "refresh_token", integration.pk),
    )


def test_valid_token_is_returned_without_asking_the_provider(alice, provider, fake):
    integration = connected(alice, provider)
    secret = tokens.get_valid_token(integration, purpose="sync", actor=alice)
    assert secret.reveal() == "stored-access-token-0001"
    assert fake.requests == []
    use = AuditEvent.objects.get(action="use", target_id=str(integration.pk))
    assert (use.purpose, use.actor) == ("sync", alice)


def test_token_within_the_margin_is_refreshed_and_rotated(
    alice, provider, fake, received, django_capture_on_commit_callbacks
):
    integration = connected(alice, provider, expires_in=30)  # default margin is 60 s
    with django_capture_on_commit_callbacks(execute=True):
        secret = tokens.get_valid_token(integration, purpose="sync", actor=alice)

    assert secret.reveal() == "fake-access-0001-" + "a" * 24
    [request] = fake.refresh_requests()
    assert request["form"]["refresh_token"] == "stored-refresh-token-0001"
    expected_auth = base64.b64encode(f"{fake.client_id}:{CLIENT_SECRET}".encode()).decode()
    assert request["headers"]["Authorization"] == f"Basic {expected_auth}"

    loaded = Integration.objects.get(pk=integration.pk)
    assert loaded.refresh_token == "fake-refresh-0001-" + "r" * 24  # the rotated one
    assert loaded.status == "active" and loaded.last_refreshed_at is not None
    assert loaded.expires_at > timezone.now() + timedelta(seconds=3500)
    assert all(is_sealed(value) and "fake-" not in value for value in raw_tokens(loaded))
    assert integration.access_token == loaded.access_token  # the caller's instance is current
    refresh = AuditEvent.objects.get(action="refresh")
    assert (refresh.outcome, refresh.actor) == ("success", alice)
    assert [name for name, _ in received] == ["integration_refreshed"]
    assert received[0][1]["integration"].pk == integration.pk

    # Now valid: the next call does not refresh again.
    tokens.get_valid_token(integration, purpose="sync", actor=alice)
    assert len(fake.refresh_requests()) == 1


def test_the_margin_is_a_setting(alice, provider, fake):
    integration = connected(alice, provider, expires_in=30)
    with override_settings(
        INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V2, TEST_KEY_V1], "REFRESH_MARGIN_SECONDS": 10}
    ):
        assert (
            tokens.get_valid_token(integration, purpose="p").reveal() == "stored-access-token-0001"
        )
    assert fake.requests == []


def test_a_stale_instance_is_read_again_before_deciding(alice, provider, fake):
    integration = connected(alice, provider, expires_in=3600)
    stale = Integration.objects.get(pk=integration.pk)
    tokens.store_token_response(
        integration, {"access_token": "newer-access-token-0002", "expires_in": 3600}
    )
    assert tokens.get_valid_token(stale, purpose="p").reveal() == "newer-access-token-0002"
    assert fake.requests == []


def test_refresh_without_a_new_refresh_token_keeps_the_old_one(alice, provider, fake):
    integration = connected(alice, provider)
    expire(integration)
    fake.script("/token", 200, {"access_token": "only-access-token-0003", "expires_in": 600})
    assert tokens.get_valid_token(integration, purpose="p").reveal() == "only-access-token-0003"
    assert Integration.objects.get(pk=integration.pk).refresh_token == "stored-refresh-token-0001"


@pytest.mark.parametrize("error", ["invalid_grant", "invalid_client", "unauthorized_client"])
def test_a_refused_grant_needs_reauth_and_keeps_the_old_tokens(
    alice, provider, fake, received, error, django_capture_on_commit_callbacks
):
    integration = connected(alice, provider)
    expire(integration)
    before = raw_tokens(integration)
    fake.script("/token", 400 if error != "invalid_client" else 401, {"error": error})
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(tokens.ReauthorizationRequired) as info:
            tokens.get_valid_token(integration, purpose="p", actor=alice)
    assert info.value.code == error
    loaded = Integration.objects.get(pk=integration.pk)
    assert (loaded.status, loaded.last_error) == ("needs_reauth", error)
    assert raw_tokens(loaded) == before
    assert loaded.refresh_token == "stored-refresh-token-0001"
    failure = AuditEvent.objects.get(action="refresh")
    assert (failure.outcome, failure.detail) == ("failure", error)
    assert received == [
        (
            "integration_needs_reauth",
            {"integration": received[0][1]["integration"], "reason": error},
        )
    ]

    # Stays refused without asking the provider again, until the user reconnects.
    with pytest.raises(tokens.ReauthorizationRequired):
        tokens.get_valid_token(integration, purpose="p")
    assert len(fake.refresh_requests()) == 1


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (503, "Service Unavailable", "http_503"),
        (500, {"error": "server_error"}, "http_500"),
        (400, {"error": "temporarily_unavailable"}, "temporarily_unavailable"),
        (200, "<html>not json</html>", "invalid_response"),
        (200, {"token_type": "Bearer"}, "invalid_token_response"),
    ],
)
def test_provider_errors_mark_error_and_keep_tokens(alice, provider, fake, status, body, code):
    integration = connected(alice, provider)
    expire(integration)
    before = raw_tokens(integration)
    fake.script("/token", status, body, times=EVERY_TRY)
    with pytest.raises(tokens.RefreshFailed) as info:
        tokens.get_valid_token(integration, purpose="p")
    assert info.value.code == code
    loaded = Integration.objects.get(pk=integration.pk)
    assert (loaded.status, loaded.last_error) == ("error", code)
    assert raw_tokens(loaded) == before


def test_provider_down_marks_error_and_keeps_tokens(alice, fake):
    provider = make_provider(fake, token_url=closed_port_url() + "/token")
    integration = connected(alice, provider)
    expire(integration)
    before = raw_tokens(integration)
    with pytest.raises(tokens.RefreshFailed) as info:
        tokens.get_valid_token(integration, purpose="p")
    assert info.value.code == "network_error"
    loaded = Integration.objects.get(pk=integration.pk)
    assert (loaded.status, loaded.last_error) == ("error", "network_error")
    assert raw_tokens(loaded) == before


def test_provider_down_within_the_margin_still_returns_the_current_token(alice, fake):
    provider = make_provider(fake, token_url=closed_port_url() + "/token")
    integration = connected(alice, provider, expires_in=30)
    assert tokens.get_valid_token(integration, purpose="p").reveal() == "stored-access-token-0001"
    assert Integration.objects.get(pk=integration.pk).status == "error"


def test_a_successful_refresh_after_an_error_recovers(
    alice, provider, fake, received, django_capture_on_commit_callbacks
):
    integration = connected(alice, provider)
    expire(integration)
    fake.script("/token", 503, "Service Unavailable", times=EVERY_TRY)
    with pytest.raises(tokens.RefreshFailed):
        tokens.get_valid_token(integration, purpose="p")
    with django_capture_on_commit_callbacks(execute=True):
        tokens.get_valid_token(integration, purpose="p")
    loaded = Integration.objects.get(pk=integration.pk)
    assert (loaded.status, loaded.last_error) == ("active", "")
    assert [name for name, _ in received] == ["integration_refreshed", "integration_recovered"]
    assert received[1][1]["previous_status"] == "error"


def test_reconnecting_after_needs_reauth_recovers(
    alice, provider, fake, received, django_capture_on_commit_callbacks
):
    integration = connected(alice, provider)
    expire(integration)
    fake.script("/token", 400, {"error": "invalid_grant"})
    with pytest.raises(tokens.ReauthorizationRequired):
        tokens.get_valid_token(integration, purpose="p")
    with django_capture_on_commit_callbacks(execute=True):
        connected(alice, provider, access="reconnected-access-0009")
    assert Integration.objects.get(pk=integration.pk).status == "active"
    assert (
        "integration_recovered",
        {"integration": received[-1][1]["integration"], "previous_status": "needs_reauth"},
    ) == received[-1]


def test_invalid_grant_after_a_lost_race_uses_the_winners_token(alice, provider, monkeypatch):
    """Without row locks (SQLite) another worker may rotate the refresh token first:
    the provider then refuses ours, and the row read again has the winner's tokens."""
    integration = connected(alice, provider)
    expire(integration)

    def other_worker_won(provider, refresh_token, **_):
        winner = Integration.objects.get(pk=integration.pk)
        tokens.store_token_response(
            winner,
            {
                "access_token": "winner-access-token-01",
                "refresh_token": "winner-refresh-token-01",
                "expires_in": 3600,
            },
        )
        raise oauth.ProviderRequestFailed("invalid_grant")

    monkeypatch.setattr(oauth, "refresh_token_request", other_worker_won)
    assert tokens.get_valid_token(integration, purpose="p").reveal() == "winner-access-token-01"
    loaded = Integration.objects.get(pk=integration.pk)
    assert loaded.status == "active"
    assert loaded.refresh_token == "winner-refresh-token-01"


def test_expired_without_a_refresh_token_needs_reconnecting(alice, provider, fake):
    integration = connected(alice, provider, refresh=None)
    expire(integration)
    with pytest.raises(tokens.ReauthorizationRequired) as info:
        tokens.get_valid_token(integration, purpose="p")
    assert info.value.code == "no_refresh_token"
    assert Integration.objects.get(pk=integration.pk).status == "expired"
    assert fake.requests == []


def test_no_expiry_means_valid(alice, provider, fake):
    integration, _ = tokens.connect(alice, provider, {"access_token": "forever-token-0001"})
    assert tokens.get_valid_token(integration, purpose="p").reveal() == "forever-token-0001"
    assert fake.requests == []


def test_another_users_integration_is_denied_before_any_refresh(alice, bob, provider, fake):
    integration = connected(alice, provider)
    expire(integration)
    with pytest.raises(Integration.DoesNotExist):
        tokens.get_valid_token(integration, purpose="steal", actor=bob)
    assert fake.requests == []
    assert AuditEvent.objects.get(action="reveal_denied").actor == bob


def test_a_purpose_is_required(alice, provider):
    integration = connected(alice, provider)
    with pytest.raises(ValueError, match="purpose"):
        tokens.get_valid_token(integration, purpose="")


def test_refresh_uses_endpoints_from_discovery(alice, fake):
    provider = make_provider(fake, token_url="", discovery_url=fake.discovery_url)
    integration = connected(alice, provider)
    expire(integration)
    tokens.get_valid_token(integration, purpose="p")
    assert len(fake.refresh_requests()) == 1
    assert len(fake.requests_to("/.well-known/openid-configuration")) == 1


def test_an_insecure_token_endpoint_is_refused(alice, fake):
    provider = make_provider(fake, token_url="http://provider.example/token")
    integration = connected(alice, provider)
    expire(integration)
    with pytest.raises(tokens.RefreshFailed) as info:
        tokens.get_valid_token(integration, purpose="p")
    assert info.value.code == "token_url_not_https"


def test_refresh_integration_force_and_outcomes(alice, provider, fake):
    integration = connected(alice, provider)
    assert tokens.refresh_integration(integration) == tokens.Outcome.FRESH
    assert tokens.refresh_integration(integration, force=True) == tokens.Outcome.REFRESHED
    assert integration.access_token.startswith("fake-access-0001")
    with pytest.raises(Integration.DoesNotExist):
        tokens.refresh_integration("00000000-0000-0000-0000-000000000000")


def test_secrets_stay_out_of_errors_logs_and_audit(alice, fake, canary, all_logs):
    provider = make_provider(fake)
    integration = connected(alice, provider, access=canary + "-access", refresh=canary + "-refresh")
    expire(integration)
    fake.script("/token", 400, {"error": "invalid_grant", "error_description": f"bad {canary}"})
    with pytest.raises(tokens.ReauthorizationRequired) as info:
        tokens.get_valid_token(integration, purpose="p")
    assert canary not in str(info.value) and canary not in repr(info.value)
    assert canary not in all_logs.text
    for event in AuditEvent.objects.all():
        assert canary not in f"{event.detail} {event.purpose} {event.target_label}"


@pytest.mark.django_db(transaction=True)
def test_threads_racing_for_an_expired_token_refresh_it_once(alice, fake):
    """On every database (SQLite included): threads of one process, each on its
    own connection, against a provider that revokes the grant on reuse."""
    fake.delay = 0.2
    strict = RevokeOnReuse(fake)
    integration = connected(alice, make_provider(fake))
    expire(integration)
    outcomes = race_for_token(integration, 12)
    assert len(fake.refresh_requests()) == 1
    loaded = Integration.objects.get(pk=integration.pk)
    assert outcomes == [loaded.access_token] * 12
    assert (loaded.status, loaded.last_error) == ("active", "")
    assert strict.grant_active(loaded.access_token) and strict.grant_active(loaded.refresh_token)
    assert AuditEvent.objects.filter(action="refresh", outcome="success").count() == 1
    assert loaded.refresh_lease is None  # released


@pytest.mark.django_db(transaction=True)
def test_processes_racing_for_an_expired_token_refresh_it_once(alice, fake, tmp_path):
    """Separate OS processes on the same database file (SQLite) or database."""
    fake.delay = 0.5
    strict = RevokeOnReuse(fake)
    integration = connected(alice, make_provider(fake))
    expire(integration)
    outcomes = run_in_processes(4, integration.pk, tmp_path)
    assert len(fake.refresh_requests()) == 1
    loaded = Integration.objects.get(pk=integration.pk)
    assert outcomes == [loaded.access_token] * 4
    assert loaded.status == "active" and strict.grant_active(loaded.refresh_token)


def test_a_strict_provider_revokes_the_grant_when_a_refresh_token_is_reused(alice, fake):
    """The fake behaves like oidc-provider and Auth0 (what the races above rely on)."""
    strict = RevokeOnReuse(fake)
    integration = connected(alice, make_provider(fake))
    expire(integration)
    first = tokens.get_valid_token(integration, purpose="p").reveal()
    replay = requests.post(
        fake.token_url,
        data={"grant_type": "refresh_token", "refresh_token": "stored-refresh-token-0001"},
        timeout=10,
    )
    assert replay.json()["error"] == "invalid_grant"
    assert not strict.grant_active(first)
    expire(integration)
    with pytest.raises(tokens.ReauthorizationRequired) as info:
        tokens.get_valid_token(integration, purpose="p")
    assert info.value.code == "invalid_grant"


def test_a_stale_lease_of_a_dead_worker_is_taken_over(alice, provider, fake):
    """A worker killed mid-refresh leaves its lease: once expired, the next caller
    refreshes (one request), and a lease still running is waited for until then."""
    integration = connected(alice, provider)
    expire(integration)
    dead = uuid.uuid4()
    Integration.objects.filter(pk=integration.pk).update(
        refresh_lease=dead, refresh_lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert tokens.get_valid_token(integration, purpose="p").reveal().startswith("fake-access-0001")
    assert len(fake.refresh_requests()) == 1
    assert Integration.objects.get(pk=integration.pk).refresh_lease is None

    expire(integration)
    Integration.objects.filter(pk=integration.pk).update(
        refresh_lease=dead, refresh_lease_expires_at=timezone.now() + timedelta(seconds=0.5)
    )
    assert tokens.get_valid_token(integration, purpose="p").reveal().startswith("fake-access-0002")
    assert len(fake.refresh_requests()) == 2


def test_a_refresh_that_lost_its_lease_stores_nothing(alice, provider, fake, monkeypatch):
    """Disconnected while the provider answered: the new tokens are not stored and
    the integration stays disconnected."""
    integration = connected(alice, provider)
    expire(integration)
    answer = oauth.refresh_token_request

    def disconnected_meanwhile(provider, refresh_token, **kwargs):
        tokens.disconnect(alice, integration.pk)
        return answer(provider, refresh_token, **kwargs)

    monkeypatch.setattr(oauth, "refresh_token_request", disconnected_meanwhile)
    with pytest.raises(tokens.ReauthorizationRequired) as info:
        tokens.get_valid_token(integration, purpose="p")
    assert info.value.code == "revoked"
    loaded = Integration.objects.get(pk=integration.pk)
    assert loaded.status == "revoked" and loaded.access_token_sealed is None
    assert loaded.refresh_token_sealed is None


@pytest.mark.django_db(transaction=True)
def test_a_provider_outage_gets_one_request_not_one_per_waiting_worker(alice, fake):
    fake.delay = 0.5
    fake.handlers["/token"] = lambda form, headers: (503, "down")
    integration = connected(alice, make_provider(fake))
    expire(integration)
    outcomes = race_for_token(integration, 12)
    # The lease holder's tries (backoff), not one request per waiting worker.
    assert len(fake.refresh_requests()) == EVERY_TRY
    assert outcomes == ["RefreshFailed:http_503"] * 12
    assert Integration.objects.get(pk=integration.pk).status == "error"


@pytest.mark.django_db(transaction=True)
def test_a_refused_grant_is_shared_by_the_waiting_workers(alice, fake):
    fake.delay = 0.5
    fake.handlers["/token"] = lambda form, headers: (400, {"error": "invalid_grant"})
    integration = connected(alice, make_provider(fake))
    expire(integration)
    outcomes = race_for_token(integration, 8)
    assert len(fake.refresh_requests()) == 1
    assert outcomes == ["ReauthorizationRequired:invalid_grant"] * 8


# -- unreadable stored tokens: a typed outcome, never a crash ---------------------------


@pytest.mark.parametrize("how", sorted(UNREADABLE))
def test_an_unreadable_refresh_token_needs_reauth_and_is_kept(
    alice, provider, fake, received, canary, all_logs, how, django_capture_on_commit_callbacks
):
    integration = connected(alice, provider, refresh=canary + "-refresh")
    spoil(integration, "refresh_token", how, canary + "-refresh")
    expire(integration)
    before = raw_tokens(integration)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(tokens.TokenUnreadable) as info:
            tokens.get_valid_token(integration, purpose="p", actor=alice)
    assert isinstance(info.value, tokens.ReauthorizationRequired)
    assert (info.value.code, info.value.status) == (UNREADABLE[how], "needs_reauth")
    assert fake.requests == []
    loaded = Integration.objects.get(pk=integration.pk)
    assert (loaded.status, loaded.last_error) == ("needs_reauth", UNREADABLE[how])
    assert raw_tokens(loaded) == before  # nothing a user stored is lost
    assert loaded.refresh_lease is None
    failure = AuditEvent.objects.get(action="refresh")
    assert (failure.outcome, failure.detail) == ("failure", UNREADABLE[how])
    assert [name for name, _ in received] == ["integration_needs_reauth"]
    assert canary not in str(info.value) and canary not in all_logs.text


@pytest.mark.api
@pytest.mark.parametrize("how", sorted(UNREADABLE))
def test_the_api_refresh_of_an_unreadable_token_is_409(alice, provider, fake, canary, how):
    from rest_framework.test import APIClient

    integration = connected(alice, provider)
    spoil(integration, "refresh_token", how, canary)
    client = APIClient()
    client.force_authenticate(alice)
    response = client.post(f"/api/integrations/{integration.pk}/refresh/")
    assert response.status_code == 409
    assert UNREADABLE[how] in response.content.decode()
    assert canary not in response.content.decode()
    assert Integration.objects.get(pk=integration.pk).status == "needs_reauth"


@pytest.mark.parametrize("how", sorted(UNREADABLE))
def test_an_unreadable_access_token_is_replaced_by_a_refresh(alice, provider, fake, canary, how):
    integration = connected(alice, provider, access=canary)
    spoil(integration, "access_token", how, canary)  # not expired: still refreshed
    assert tokens.get_valid_token(integration, purpose="p").reveal().startswith("fake-access-0001")
    assert len(fake.refresh_requests()) == 1
    assert Integration.objects.get(pk=integration.pk).status == "active"


def test_an_unreadable_access_token_with_the_provider_down_is_a_typed_failure(alice, fake):
    provider = make_provider(fake, token_url=closed_port_url() + "/token")
    integration = connected(alice, provider)
    spoil(integration, "access_token", "tampered", "")
    with pytest.raises(tokens.RefreshFailed) as info:
        tokens.get_valid_token(integration, purpose="p")
    assert info.value.code == "network_error"
