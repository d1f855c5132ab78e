"""Disconnect: revoke at the provider (RFC 7009) when it can, audit, then erase."""

import pytest
from django.test import Client

from integrations import tokens
from integrations.models import AuditEvent, Integration
from tests.dbutil import raw_column
from tests.fake_provider import closed_port_url
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    alice,
    bob,
    connected,
    fake,
    make_provider,
    provider,
)

pytestmark = pytest.mark.django_db


def assert_erased(integration):
    loaded = Integration.objects.get(pk=integration.pk)
    assert loaded.status == "revoked" and loaded.expires_at is None
    assert raw_column(Integration, "access_token", integration.pk) is None
    assert raw_column(Integration, "refresh_token", integration.pk) is None


def revoke_events(integration):
    return sorted(AuditEvent.objects.filter(action="revoke", target_id=str(integration.pk))
                  .values_list("outcome", "detail"))


def test_disconnect_revokes_both_tokens_then_erases(alice, provider, fake):
    integration = connected(alice, provider)
    result = tokens.disconnect(alice, integration, ip_address="::1")
    assert result.fully_revoked and result.revoked == ["refresh_token", "access_token"]
    calls = fake.requests_to("/revoke")
    assert [(c["form"]["token"], c["form"]["token_type_hint"]) for c in calls] == [
        ("stored-refresh-token-0001", "refresh_token"),
        ("stored-access-token-0001", "access_token"),
    ]
    assert all(c["headers"]["Authorization"].startswith("Basic ") for c in calls)
    assert_erased(integration)
    assert integration.status == "revoked"  # the caller's instance too
    assert revoke_events(integration) == [
        ("success", "access_token revoked at the provider"),
        ("success", "refresh_token revoked at the provider"),
    ]
    disconnect = AuditEvent.objects.get(action="disconnect")
    assert (disconnect.actor, disconnect.ip_address) == (alice, "::1")


def test_a_failed_revocation_is_recorded_and_tokens_are_erased_anyway(alice, provider, fake):
    integration = connected(alice, provider)
    fake.script("/revoke", 503, "busy")
    fake.script("/revoke", 400, {"error": "unsupported_token_type"})
    result = tokens.disconnect(alice, integration)
    assert not result.fully_revoked
    assert result.failed == {"refresh_token": "http_503", "access_token": "unsupported_token_type"}
    assert revoke_events(integration) == [
        ("failure", "access_token: unsupported_token_type"),
        ("failure", "refresh_token: http_503"),
    ]
    assert_erased(integration)


def test_provider_down_during_disconnect(alice, fake):
    provider = make_provider(fake, revocation_url=closed_port_url() + "/revoke")
    integration = connected(alice, provider)
    result = tokens.disconnect(alice, integration)
    assert result.failed == {"refresh_token": "network_error", "access_token": "network_error"}
    assert_erased(integration)


def test_a_provider_without_revocation_endpoint_only_erases(alice, fake):
    provider = make_provider(fake, revocation_url="")
    integration = connected(alice, provider)
    result = tokens.disconnect(alice, integration)
    assert not result.revocation_supported and fake.requests == []
    assert revoke_events(integration) == [
        ("failure", "not revoked at the provider: no_revocation_endpoint")]
    assert_erased(integration)


def test_another_users_integration_cannot_be_disconnected(alice, bob, provider, fake):
    integration = connected(alice, provider)
    with pytest.raises(Integration.DoesNotExist):
        tokens.disconnect(bob, integration)
    assert fake.requests == []
    assert Integration.objects.get(pk=integration.pk).status == "active"


def test_disconnecting_twice_is_harmless(alice, provider, fake):
    integration = connected(alice, provider)
    tokens.disconnect(alice, integration)
    tokens.disconnect(alice, integration)
    assert len(fake.requests_to("/revoke")) == 2
    assert_erased(integration)
    with pytest.raises(tokens.ReauthorizationRequired):
        tokens.get_valid_token(integration, purpose="after disconnect")


def test_disconnect_view_confirms_then_posts(alice, bob, provider, fake):
    integration = connected(alice, provider)
    browser = Client()
    browser.force_login(alice)
    url = f"/integrations/{integration.pk}/disconnect/"
    page = browser.get(url)
    assert page.status_code == 200 and b"Disconnect Fake?" in page.content
    assert Integration.objects.get(pk=integration.pk).status == "active"
    response = browser.post(url)
    assert response.status_code == 302
    assert b"its access was revoked" in browser.get(response["Location"]).content
    assert_erased(integration)

    other = Client()
    other.force_login(bob)
    assert other.post(url).status_code == 404
    assert other.get(f"/integrations/result/{integration.pk}/").status_code == 404
