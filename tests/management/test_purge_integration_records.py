"""purge_integration_records: connect sessions expired past retention and
webhook deliveries that are over and past retention are deleted in bounded
batches; everything else stays (pending deliveries, recent rows)."""

import json
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations import webhooks
from integrations.models import ConnectSession, Provider, WebhookDelivery
from tests.oauth_helpers import alice  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture
def provider():
    return Provider.objects.create(slug="keyed", name="Keyed", auth_type=Provider.AuthType.API_KEY)


def session(user, provider, *, expired_days_ago, used=False):
    expires = NOW - timedelta(days=expired_days_ago)
    return ConnectSession.objects.create(
        token_digest=uuid.uuid4().hex + uuid.uuid4().hex,
        user=user,
        provider=provider,
        mode=ConnectSession.Mode.REDIRECT,
        return_url="https://app.example/back",
        origin="https://app.example",
        expires_at=expires,
        used_at=expires - timedelta(minutes=5) if used else None,
    )


@pytest.fixture
def endpoint(settings):
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "WEBHOOK_ALLOW_PRIVATE_URLS": True}
    endpoint, _secret = webhooks.create_endpoint(url="http://127.0.0.1:9/hooks")
    return endpoint


def delivery(endpoint, status, *, days_ago, replay_of=None):
    row = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=f"msg_{uuid.uuid4().hex}",
        event_type="integration.connected",
        occurred_at=NOW,
        payload={"type": "integration.connected"},
        status=status,
        replay_of=replay_of,
    )
    WebhookDelivery.objects.filter(pk=row.pk).update(updated_at=NOW - timedelta(days=days_ago))
    return row


def run(*args):
    out = StringIO()
    call_command("purge_integration_records", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def test_old_sessions_and_finished_deliveries_are_deleted_and_the_rest_kept(
    alice, provider, endpoint
):
    old_unused = session(alice, provider, expired_days_ago=31)
    old_used = session(alice, provider, expired_days_ago=45, used=True)
    recent = session(alice, provider, expired_days_ago=29, used=True)
    live = session(alice, provider, expired_days_ago=-1)
    S = WebhookDelivery.Status
    old_done = [delivery(endpoint, s, days_ago=31) for s in (S.SUCCEEDED, S.FAILED, S.ABANDONED)]
    old_pending = delivery(endpoint, S.PENDING, days_ago=90)
    recent_done = delivery(endpoint, S.SUCCEEDED, days_ago=2)
    replay = delivery(endpoint, S.PENDING, days_ago=1, replay_of=old_done[0])

    assert run() == {"connect_sessions": 2, "webhook_deliveries": 3}

    kept = set(ConnectSession.objects.values_list("pk", flat=True))
    assert kept == {recent.pk, live.pk}
    assert not ConnectSession.objects.filter(pk__in=[old_unused.pk, old_used.pk]).exists()
    kept = set(WebhookDelivery.objects.values_list("pk", flat=True))
    assert kept == {old_pending.pk, recent_done.pk, replay.pk}
    replay.refresh_from_db()
    assert replay.replay_of is None
    # Nothing more the second time.
    assert run() == {"connect_sessions": 0, "webhook_deliveries": 0}


def test_the_retention_periods_are_settings(alice, provider, endpoint, settings):
    session(alice, provider, expired_days_ago=8)
    delivery(endpoint, WebhookDelivery.Status.SUCCEEDED, days_ago=3)
    assert run() == {"connect_sessions": 0, "webhook_deliveries": 0}
    settings.INTEGRATIONS = {
        **settings.INTEGRATIONS,
        "CONNECT_SESSION_RETENTION_DAYS": 7,
        "WEBHOOK_DELIVERY_RETENTION_DAYS": 2,
    }
    assert run() == {"connect_sessions": 1, "webhook_deliveries": 1}


def test_deletes_in_bounded_batches(alice, provider, endpoint):
    for _ in range(7):
        session(alice, provider, expired_days_ago=40)
    with CaptureQueriesContext(connection) as queries:
        assert run("--batch-size", "3") == {"connect_sessions": 7, "webhook_deliveries": 0}
    deletes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("DELETE") and "connectsession" in q["sql"]
    ]
    assert len(deletes) == 3  # 3 + 3 + 1
    assert not ConnectSession.objects.exists()


@pytest.mark.parametrize("size", ["0", "-1", "100001"])
def test_a_bad_batch_size_is_refused(size):
    with pytest.raises(CommandError):
        call_command("purge_integration_records", "--batch-size", size)


def test_the_text_output_counts(alice, provider):
    session(alice, provider, expired_days_ago=31)
    out = StringIO()
    call_command("purge_integration_records", stdout=out)
    assert "deleted 1 connect session(s) and 0 webhook deliver(y/ies)" in out.getvalue()
