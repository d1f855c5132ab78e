"""get_valid_token on a valid token: as few round trips as the audit record allows.

On PostgreSQL the re-read and the audit row are one statement (one round trip,
one commit); the record is inserted only by the statement that found the
caller's token still stored and usable, so a hand-out is never un-audited.
"""

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from integrations import audit, tokens
from integrations.models import AuditEvent, Integration
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    alice,
    connected,
    expire,
    fake,
    make_provider,
    provider,
)

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the one-statement read is PostgreSQL's"
)


def uses(integration):
    return list(AuditEvent.objects.filter(action="use", target_id=str(integration.pk)))


@postgres_only
def test_a_valid_token_costs_one_statement_and_is_recorded(alice, provider, fake):
    integration = connected(alice, provider)
    with CaptureQueriesContext(connection) as queries:
        secret = tokens.get_valid_token(integration, purpose="sync", actor=alice)
    assert secret.reveal() == "stored-access-token-0001"
    assert len(queries) == 1, [q["sql"][:80] for q in queries]
    [use] = uses(integration)
    assert (use.purpose, use.actor, use.outcome) == ("sync", alice, "success")
    assert use.target_label == integration.audit_label
    assert fake.requests == []


def test_every_hand_out_has_exactly_one_record(alice, provider, fake):
    integration = connected(alice, provider)
    for n in range(3):
        assert tokens.get_valid_token(integration, purpose=f"p{n}").reveal() == (
            "stored-access-token-0001"
        )
    assert sorted(u.purpose for u in uses(integration)) == ["p0", "p1", "p2"]


def test_a_token_replaced_meanwhile_is_not_recorded_as_the_stale_one(alice, provider, fake):
    integration = connected(alice, provider)
    stale = Integration.objects.get(pk=integration.pk)
    stale.access_token  # noqa: B018 - opened: the caller holds the old token
    tokens.store_token_response(
        integration, {"access_token": "newer-access-token-0002", "expires_in": 3600}
    )
    assert tokens.get_valid_token(stale, purpose="p").reveal() == "newer-access-token-0002"
    assert len(uses(stale)) == 1
    assert stale.access_token == "newer-access-token-0002"


def test_an_expired_token_is_not_recorded_before_its_refresh(alice, provider, fake):
    integration = connected(alice, provider)
    expire(integration)
    integration.refresh_from_db()
    integration.expires_at = None  # the caller's copy claims it never expires
    token = tokens.get_valid_token(integration, purpose="p")
    assert token.reveal().startswith("fake-access-")
    assert len(fake.refresh_requests()) == 1
    assert len(uses(integration)) == 1


@postgres_only
def test_no_record_no_token(alice, provider, fake, monkeypatch):
    integration = connected(alice, provider)
    real = audit.insert_sql

    def broken(event, conn):
        columns, values, params = real(event, conn)
        return columns, values.replace("::uuid", "::integer", 1), params

    monkeypatch.setattr(audit, "insert_sql", broken)
    with pytest.raises(DatabaseError), transaction.atomic():  # a savepoint to roll back to
        tokens.get_valid_token(integration, purpose="p")
    assert uses(integration) == []
