"""The app behind PgBouncer in transaction mode, with the shipped settings
(``DB_PGBOUNCER=true``, psycopg's pool in front): nothing it does relies on
state that outlives a transaction on the server.

A private PgBouncer with a server pool of 2 connections stands in front of the
test database; every Django connection of the test (and of its threads) goes
through it, so 8 threads share 2 server connections, one transaction at a
time. Through it: the refresh race (the lease on the row: exactly one refresh
reaches the provider), two re-sealing runs at once (``FOR UPDATE SKIP LOCKED``
batches, server-bound parameters), the webhook delivery sweep (its claim),
and an audited token read (one statement reads the token and writes the
audit event).
"""

import threading

import environ
import pytest
from django.db import close_old_connections, connection, connections
from django.test.utils import override_settings

from config.database import database_settings
from integrations import tokens, webhooks
from integrations.conf import app_settings
from integrations.models import AuditEvent, Integration, WebhookDelivery
from integrations.sealed import resealing
from tests.faults.servers import PrivatePgBouncer, pgbouncer_binary
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    alice,
    connected,
    expire,
    fake,
    make_provider,
    race_for_token,
)
from tests.reuse_detection import RevokeOnReuse
from tests.settings import TEST_KEY_V1
from tests.testapp.models import Account
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]
SERVER_POOL = 2
THREADS = 8


class _Env(environ.Env):
    """django-environ reading a dict of our own instead of os.environ."""

    def __init__(self, values):
        super().__init__()
        self.ENVIRON = values


@pytest.fixture
def bouncer():
    """Every connection to the test database through a private PgBouncer, with
    the settings ``DB_PGBOUNCER=true`` gives; the PgBouncer, for its stats."""
    if connection.vendor != "postgresql":
        pytest.skip("PgBouncer is a PostgreSQL pooler: run with DATABASE_URL=postgres://...")
    if pgbouncer_binary() is None:
        pytest.skip("PgBouncer is not installed (apt-get install pgbouncer; .ci/run does)")
    pytest.importorskip("psycopg_pool")
    shared = connections.settings["default"]  # what every thread's connection is made from
    saved = {key: shared[key] for key in ("PORT", "OPTIONS", "CONN_MAX_AGE")}
    server = PrivatePgBouncer(shared["HOST"], shared["PORT"], pool_size=SERVER_POOL).start()
    shipped = database_settings(
        _Env(
            {
                "DATABASE_URL": f"postgres://postgres@127.0.0.1:{server.port}/{shared['NAME']}",
                "DB_PGBOUNCER": "true",
                "DB_POOL_MAX_SIZE": str(THREADS + 2),
            }
        ),
        "sqlite://",
    )
    connection.close()
    shared.update(
        PORT=shipped["PORT"],
        OPTIONS=shipped["OPTIONS"],
        CONN_MAX_AGE=shipped["CONN_MAX_AGE"],
        DISABLE_SERVER_SIDE_CURSORS=shipped["DISABLE_SERVER_SIDE_CURSORS"],
    )
    try:
        with connection.cursor() as cursor:  # through PgBouncer from here on
            cursor.execute("SELECT 1")
        yield server
    finally:
        connection.close()
        connection.close_pool()
        shared.update(saved)
        shared.pop("DISABLE_SERVER_SIDE_CURSORS", None)
        server.destroy()


def transactions(server):
    """Transactions PgBouncer has passed to the test database so far."""
    name = connection.settings_dict["NAME"]
    return sum(
        int(row["total_xact_count"])
        for row in server.admin("SHOW STATS")
        if row["database"] == name
    )


def server_connections(server):
    """Server connections PgBouncer holds to the test database (at most its pool)."""
    name = connection.settings_dict["NAME"]
    return sum(
        int(row["sv_active"]) + int(row["sv_idle"]) + int(row["sv_used"])
        for row in server.admin("SHOW POOLS")
        if row["database"] == name
    )


def test_threads_racing_for_an_expired_token_refresh_it_once(bouncer, alice, fake):  # noqa: F811
    fake.delay = 0.2
    strict = RevokeOnReuse(fake)
    integration = connected(alice, make_provider(fake))
    expire(integration)
    before = transactions(bouncer)
    outcomes = race_for_token(integration, THREADS)
    assert len(fake.refresh_requests()) == 1
    loaded = Integration.objects.get(pk=integration.pk)
    assert outcomes == [loaded.access_token] * THREADS
    assert strict.grant_active(loaded.refresh_token)
    assert loaded.refresh_lease is None
    assert AuditEvent.objects.filter(action="refresh", outcome="success").count() == 1
    assert transactions(bouncer) > before + THREADS  # they all went through PgBouncer
    assert server_connections(bouncer) <= SERVER_POOL


def test_two_reseal_runs_at_once_reseal_each_row_once(bouncer):
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V1]}):
        Account.objects.bulk_create([Account(token=f"t{i}") for i in range(300)])
    results, errors = [], []

    def rotate():
        try:
            results.append(
                resealing.reseal_field(Account, Account._meta.get_field("token"), batch_size=20)
            )
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(type(exc)))
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=rotate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert sum(result.resealed for result in results) == 300
    for account in Account.objects.all():
        assert account.token.startswith("t")
        assert app_settings.keyring.key_version(account.token_sealed) == 2
    assert server_connections(bouncer) <= SERVER_POOL


def test_the_webhook_sweep_delivers_each_event_once(bouncer, alice, fake, settings):  # noqa: F811
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "WEBHOOK_ALLOW_PRIVATE_URLS": True}
    receiver = Receiver().start()
    try:
        webhooks.create_endpoint(url=receiver.url("/hooks"))
        integration = connected(alice, make_provider(fake))  # integration.connected
        expire(integration)
        tokens.get_valid_token(integration, purpose="sync")  # integration.refreshed
        pending = WebhookDelivery.objects.filter(status="pending").count()
        assert pending == 2
        swept = []

        def sweep():
            try:
                swept.append(webhooks.deliver_due())
            finally:
                connection.close()

        threads = [threading.Thread(target=sweep) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert sum(result.get("succeeded", 0) for result in swept) == pending
        assert len(receiver.requests) == pending  # each claimed by one sweep only
        assert not WebhookDelivery.objects.exclude(status="succeeded").exists()
    finally:
        receiver.stop()


def test_an_audited_token_read_reads_and_records_in_one_statement(bouncer, alice, fake):  # noqa: F811
    integration = connected(alice, make_provider(fake))
    token = tokens.get_valid_token(integration, purpose="sync").reveal()
    assert token == Integration.objects.get(pk=integration.pk).access_token
    [use] = AuditEvent.objects.filter(action="use", target_id=str(integration.pk))
    assert use.purpose == "sync"
    assert not fake.refresh_requests()
