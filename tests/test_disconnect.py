"""Disconnect: revoke at the provider (RFC 7009) when it can, audit, then erase."""

import pytest
from django.test import Client
from django.urls import reverse

from integrations import tokens
from integrations.models import AuditEvent, Integration
from tests.conftest import assert_not_logged
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
from tests.unreadable import UNREADABLE, spoil

pytestmark = pytest.mark.django_db


def assert_erased(integration):
    loaded = Integration.objects.get(pk=integration.pk)
    assert loaded.status == "revoked" and loaded.expires_at is None
    assert raw_column(Integration, "access_token", integration.pk) is None
    assert raw_column(Integration, "refresh_token", integration.pk) is None


def revoke_events(integration):
    return sorted(
        AuditEvent.objects.filter(action="revoke", target_id=str(integration.pk)).values_list(
            "outcome", "detail"
        )
    )


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
        ("failure", "not revoked at the provider: no_revocation_endpoint")
    ]
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


# -- unreadable stored tokens never block a disconnect --------------------------------


def disconnect_on_the_page(integration, user, admin_client):
    browser = Client()
    browser.force_login(user)
    response = browser.post(f"/integrations/{integration.pk}/disconnect/")
    assert response.status_code == 302
    return browser.get(response["Location"]).content.decode()


def disconnect_through_the_api(integration, user, admin_client):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    response = client.delete(f"/api/integrations/{integration.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def disconnect_in_the_admin(integration, user, admin_client):
    response = admin_client.post(
        reverse("admin:integrations_integration_changelist"),
        {"action": "disconnect_selected", "_selected_action": [str(integration.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "1 integration(s) disconnected." in page
    return page


@pytest.mark.parametrize(
    "surface",
    [
        disconnect_on_the_page,
        pytest.param(disconnect_through_the_api, marks=pytest.mark.api),
        disconnect_in_the_admin,
    ],
)
@pytest.mark.parametrize("how", sorted(UNREADABLE))
def test_unreadable_tokens_are_erased_and_the_skipped_revocation_audited(
    alice, provider, fake, admin_client, canary, all_logs, how, surface
):
    integration = connected(alice, provider, access=canary + "-access", refresh=canary + "-refresh")
    spoil(integration, "refresh_token", how, canary + "-refresh")
    spoil(integration, "access_token", how, canary + "-access")

    shown = surface(integration, alice, admin_client)

    assert_erased(integration)
    assert fake.requests_to("/revoke") == []  # nothing it could send
    code = UNREADABLE[how]
    assert revoke_events(integration) == [
        ("failure", f"access_token: not revoked: {code}"),
        ("failure", f"refresh_token: not revoked: {code}"),
    ]
    assert (
        AuditEvent.objects.filter(action="disconnect", target_id=str(integration.pk)).count() == 1
    )
    assert canary not in shown
    assert_not_logged(all_logs, canary)
    for event in AuditEvent.objects.all():
        assert canary not in f"{event.detail} {event.purpose} {event.target_label}"


def test_the_readable_token_is_still_revoked_when_the_other_is_not(alice, provider, fake):
    integration = connected(alice, provider)
    spoil(integration, "refresh_token", "tampered", "")
    result = tokens.disconnect(alice, integration)
    assert result.revoked == ["access_token"]
    assert result.failed == {"refresh_token": "token_unreadable"}
    assert not result.fully_revoked
    assert [c["form"]["token_type_hint"] for c in fake.requests_to("/revoke")] == ["access_token"]
    assert_erased(integration)


@pytest.mark.api
def test_the_api_reports_the_skipped_revocation(alice, provider, fake):
    from rest_framework.test import APIClient

    integration = connected(alice, provider)
    spoil(integration, "access_token", "unknown_key", "x")
    client = APIClient()
    client.force_authenticate(alice)
    body = client.delete(f"/api/integrations/{integration.pk}/").json()
    assert body["revocation"] == {
        "supported": True,
        "method": "rfc7009",
        "revoked": ["refresh_token"],
        "failed": {"access_token": "token_key_unknown"},
    }
    assert body["integration"]["status"] == "revoked"
