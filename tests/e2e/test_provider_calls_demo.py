"""Calling the demo provider's userinfo (django-oauth-toolkit over real HTTP)
with tokens.session and tokens.httpx_auth: the token is refreshed before it
expires and once after the provider revoked it, exactly once however many
calls ask at the same moment."""

import asyncio
import hashlib
import threading
from datetime import timedelta

import httpx
import pytest
import requests
from asgiref.sync import sync_to_async
from django.db import close_old_connections, connection, connections
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from integrations import tokens
from integrations.models import AuditEvent, Integration
from tests.e2e.test_demo_provider import (  # noqa: F401 (fixtures)
    TokenRequests,
    alice,
    browser,
    demo,
)
from tests.oauth_helpers import expire

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("demo")]

PURPOSE = "show who the provider says the user is"


def issued(token):
    """The demo server's row of an access token it issued: found by its checksum,
    as the server itself finds it (hashed storage keeps no plaintext)."""
    checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
    return get_access_token_model().objects.filter(token_checksum=checksum)


@pytest.fixture
def integration(browser):
    browser.connect()
    return Integration.objects.get()


@pytest.fixture
def userinfo(live_server):
    return f"{live_server.url}/o/userinfo/"


def test_a_call_with_a_valid_token(integration, userinfo, alice):
    with TokenRequests() as token_requests:
        response = tokens.session(integration, purpose=PURPOSE, actor=alice).get(
            userinfo, timeout=30
        )
    assert response.status_code == 200
    assert response.json()["email"] == "alice@demo.test"
    assert token_requests.count == 0
    assert AuditEvent.objects.filter(action="use", purpose=PURPOSE).count() == 1


def test_a_call_after_expiry_refreshes_once(integration, userinfo):
    first = integration.access_token
    expire(integration)
    session = tokens.session(integration, purpose=PURPOSE)
    with TokenRequests() as token_requests:
        assert session.get(userinfo, timeout=30).status_code == 200
        assert session.get(userinfo, timeout=30).status_code == 200
    assert token_requests.count == 1
    integration.refresh_from_db()
    assert integration.access_token != first


def test_a_token_the_provider_stopped_accepting_is_refreshed_once_and_the_call_retried(
    integration, userinfo
):
    """The provider ends the access token's life before our clock says (its
    401 is all we learn); the grant itself lives on."""
    rejected = integration.access_token
    issued(rejected).update(expires=timezone.now() - timedelta(seconds=1))
    assert (
        requests.get(
            userinfo, headers={"Authorization": f"Bearer {rejected}"}, timeout=30
        ).status_code
        == 401
    )
    with TokenRequests() as token_requests:
        response = tokens.session(integration, purpose=PURPOSE).get(userinfo, timeout=30)
    assert response.status_code == 200 and response.json()["email"] == "alice@demo.test"
    assert token_requests.count == 1
    integration.refresh_from_db()
    assert integration.access_token != rejected and integration.status == "active"
    assert AuditEvent.objects.filter(action="use", purpose=PURPOSE).count() == 2


def test_a_token_revoked_at_the_provider_with_its_grant_needs_reauthorization(
    integration, userinfo
):
    """django-oauth-toolkit revokes an access token by deleting it, which orphans
    its refresh token: the one refresh is refused, and the user must reconnect."""
    issued(integration.access_token).get().revoke()
    with TokenRequests() as token_requests, pytest.raises(tokens.ReauthorizationRequired) as info:
        tokens.session(integration, purpose=PURPOSE).get(userinfo, timeout=30)
    assert info.value.code == "invalid_grant"
    assert token_requests.count == 1
    integration.refresh_from_db()
    assert integration.status == "needs_reauth"


def test_20_concurrent_session_calls_on_one_expired_token_refresh_once(integration, userinfo):
    callers = 20
    expire(integration)
    session = tokens.session(integration, purpose=PURPOSE)
    barrier = threading.Barrier(callers)
    statuses, errors = [], []

    def call():
        try:
            barrier.wait(timeout=30)
            statuses.append(session.get(userinfo, timeout=60).status_code)
        except Exception as exc:  # noqa: BLE001
            errors.append(type(exc).__name__)
        finally:
            close_old_connections()
            connection.close()

    with TokenRequests() as token_requests:
        threads = [threading.Thread(target=call) for _ in range(callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert errors == []
    assert statuses == [200] * callers
    assert token_requests.count == 1
    assert AuditEvent.objects.filter(action="refresh", outcome="success").count() == 1


def test_the_async_client_inside_an_event_loop(integration, userinfo):
    expire(integration)

    async def main():
        auth = tokens.httpx_auth(integration, purpose=PURPOSE)
        try:
            async with httpx.AsyncClient(auth=auth, timeout=30) as client:
                return [(await client.get(userinfo)).json()["email"] for _ in range(2)]
        finally:
            await sync_to_async(connections.close_all, thread_sensitive=True)()

    with TokenRequests() as token_requests:
        assert asyncio.run(main()) == ["alice@demo.test"] * 2
    assert token_requests.count == 1
