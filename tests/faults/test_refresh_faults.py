"""The database restarts, or our backends are killed, between a rotating
provider's answer and our commit: the grant survives, and callers get tokens or
typed failures, never a driver's error.

Run by ``make faults``: the test database lives in a private PostgreSQL cluster
that these tests stop, start and whose backends they kill (tests/faults/run.py).
The provider is strict (``RevokeOnReuse``): a refresh token it rotated, sent
again, revokes the whole grant, so any lost answer shows as a revoked grant.
"""

import threading

import pytest
from django.db import connection

from integrations import tokens
from integrations.models import AuditEvent, Integration
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    alice,
    connected,
    expire,
    fake,
    make_provider,
    race_for_token,
)
from tests.processes import run_in_processes
from tests.reuse_detection import RevokeOnReuse
from tests.test_tasks import (  # noqa: F401 (fixture)
    BROKER_URL,
    RESULT_BACKEND,
    TASK,
    celery_worker_queue,
    wait_for,
)

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

ISSUED_ACCESS = "fake-access-0001-" + "a" * 24
ISSUED_REFRESH = "fake-refresh-0001-" + "r" * 24


class Blip:
    """Once the provider has made its first refresh answer (it has rotated the
    refresh token), break the database before the answer reaches us: ``stop``
    it and start it again ``down_for`` seconds later, or kill our backends."""

    def __init__(self, fake, cluster, *, down_for=1.5, kill_backends=False):
        self.cluster = cluster
        self.down_for = down_for
        self.kill_backends = kill_backends
        self.done = threading.Event()
        self.restarted = None
        self.database = connection.settings_dict["NAME"]
        fake.on_answer = self

    def __call__(self, path):
        if path != "/token" or self.done.is_set():
            return
        self.done.set()
        if self.kill_backends:
            self.cluster.terminate_backends(self.database)
            return
        self.cluster.stop()
        self.restarted = threading.Timer(self.down_for, self.cluster.start)
        self.restarted.start()

    def wait(self):
        if self.restarted is not None:
            self.restarted.join(timeout=60)
        connection.close()  # this thread's connection died with the server


def _assert_grant_survived(strict, integration, requests=1):
    loaded = Integration.objects.get(pk=integration.pk)
    assert strict.revoked == set()
    assert (loaded.status, loaded.last_error, loaded.refresh_lease) == ("active", "", None)
    assert strict.grant_active(loaded.refresh_token)
    return loaded


@pytest.mark.parametrize("kill_backends", [False, True], ids=["restart", "backends-killed"])
def test_threads_keep_the_answer_through_a_database_blip(alice, fake, pg_cluster, kill_backends):
    fake.delay = 0.3
    strict = RevokeOnReuse(fake)
    integration = connected(alice, make_provider(fake))
    expire(integration)
    blip = Blip(fake, pg_cluster, kill_backends=kill_backends)
    outcomes = race_for_token(integration, 6)
    blip.wait()
    assert blip.done.is_set()
    assert outcomes == [ISSUED_ACCESS] * 6
    assert len(fake.refresh_requests()) == 1
    loaded = _assert_grant_survived(strict, integration)
    assert loaded.refresh_token == ISSUED_REFRESH
    assert AuditEvent.objects.filter(action="refresh", outcome="success").count() == 1


def test_processes_keep_the_answer_through_a_database_restart(alice, fake, pg_cluster, tmp_path):
    fake.delay = 0.5
    strict = RevokeOnReuse(fake)
    integration = connected(alice, make_provider(fake))
    expire(integration)
    blip = Blip(fake, pg_cluster)
    outcomes = run_in_processes(4, integration.pk, tmp_path, timeout=180)
    blip.wait()
    assert blip.done.is_set()
    assert outcomes == [ISSUED_ACCESS] * 4
    assert len(fake.refresh_requests()) == 1
    _assert_grant_survived(strict, integration)


def test_an_outage_longer_than_the_retries_is_stored_by_the_next_refresh(
    alice, fake, pg_cluster, settings
):
    settings.INTEGRATIONS = {
        **settings.INTEGRATIONS,
        "REFRESH_STORE_RETRY_SECONDS": 0.5,
        "HTTP_TIMEOUT_SECONDS": 0.2,
    }
    strict = RevokeOnReuse(fake)
    integration = connected(alice, make_provider(fake))
    expire(integration)
    blip = Blip(fake, pg_cluster, down_for=3)
    with pytest.raises(tokens.DatabaseUnavailable):
        tokens.get_valid_token(integration, purpose="p")
    blip.wait()
    # The lease was kept; once it runs out the next caller stores the kept answer.
    outcomes = race_for_token(integration, 3)
    assert outcomes == [ISSUED_ACCESS] * 3
    assert len(fake.refresh_requests()) == 1
    _assert_grant_survived(strict, integration)


def test_the_celery_task_keeps_the_answers_through_a_database_restart(
    alice, fake, pg_cluster, celery_worker_queue
):
    from celery import Celery

    strict = RevokeOnReuse(fake)
    provider = make_provider(fake)
    expiring = [
        connected(
            alice,
            provider,
            expires_in=60,
            external_account_id=f"acct-{n}",
            refresh=f"stored-refresh-token-{n:04d}",
        )
        for n in range(5)
    ]
    blip = Blip(fake, pg_cluster)
    client = Celery("tests", broker=BROKER_URL, backend=RESULT_BACKEND)
    result = client.send_task(TASK, kwargs={"within": 600}, queue=celery_worker_queue.queue)
    try:
        (counts,) = wait_for([result], celery_worker_queue)
    finally:
        client.close()
    blip.wait()
    assert blip.done.is_set()
    assert counts == {"refreshed": 5}
    assert len(fake.refresh_requests()) == 5
    for integration in expiring:
        _assert_grant_survived(strict, integration)
