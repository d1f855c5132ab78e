"""Background refresh on a task engine: a real Celery worker (a subprocess, Redis
broker) and Django's tasks framework, against the fake provider over HTTP."""

import os
import subprocess
import sys
import time
import uuid

import pytest
import redis

from integrations.models import Integration
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    alice,
    connected,
    fake,
    make_provider,
    provider,
)
from tests.processes import ROOT, database_url

# This suite's Redis databases: the broker, and the results.
BROKER_URL = "redis://127.0.0.1:6379/7"
RESULT_BACKEND = "redis://127.0.0.1:6379/8"
TASK = "integrations.tasks.refresh_expiring_tokens"


@pytest.fixture
def celery_worker_queue():
    """A ``celery -A config worker`` on the test database, consuming a queue of its
    own; yields the queue's name and stops the worker afterwards, whatever happened."""
    pytest.importorskip("celery")
    queue = f"tests-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_RESULT_BACKEND": RESULT_BACKEND,
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=threads",
            "--concurrency=4",
            "-Q",
            queue,
            "-n",
            f"{queue}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker.queue = queue
    try:
        yield worker
    finally:
        worker.terminate()  # a warm shutdown: the task in hand finishes first
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        broker = redis.Redis.from_url(BROKER_URL)
        broker.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        broker.close()


def wait_for(results, worker, timeout=120):
    deadline = time.monotonic() + timeout
    while not all(result.ready() for result in results):
        if worker.poll() is not None:
            pytest.fail(f"the Celery worker stopped: {worker.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail("the Celery worker did not run the tasks in time")
        time.sleep(0.1)
    return [result.get(timeout=5) for result in results]


@pytest.mark.django_db(transaction=True)
def test_two_celery_tasks_at_once_refresh_each_expiring_integration_once(
    alice, fake, celery_worker_queue
):
    from celery import Celery

    fake.delay = 0.3  # the two runs overlap
    provider = make_provider(fake)
    expiring = [
        connected(
            alice,
            provider,
            expires_in=60 + n,
            external_account_id=f"acct-{n}",
            refresh=f"stored-refresh-token-{n:04d}",
        )
        for n in range(4)
    ]
    later = connected(alice, provider, expires_in=7200, external_account_id="later")
    client = Celery("tests", broker=BROKER_URL, backend=RESULT_BACKEND)
    results = [
        client.send_task(TASK, kwargs={"within": 600}, queue=celery_worker_queue.queue)
        for _ in range(2)
    ]
    try:
        counts = wait_for(results, celery_worker_queue)
    finally:
        for result in results:
            result.forget()
        client.close()

    used = sorted(request["form"]["refresh_token"] for request in fake.refresh_requests())
    assert used == [f"stored-refresh-token-{n:04d}" for n in range(4)]  # each once
    assert sum(count.get("refreshed", 0) for count in counts) == 4
    for count in counts:  # the other run found each row busy or fresh
        assert set(count) <= {"refreshed", "skipped", "fresh"}
        assert sum(count.values()) == 4
    for integration in expiring:
        loaded = Integration.objects.get(pk=integration.pk)
        assert loaded.status == "active" and loaded.access_token.startswith("fake-access-")
    assert Integration.objects.get(pk=later.pk).access_token == "stored-access-token-0001"


@pytest.mark.django_db
def test_the_celery_task_runs_in_process_with_the_commands_options(alice, provider, fake):
    tasks = pytest.importorskip("integrations.tasks")
    pytest.importorskip("celery")
    connected(alice, provider, expires_in=60)
    connected(alice, provider, expires_in=500, external_account_id="acct-2")
    assert tasks.refresh_expiring_tokens.apply(kwargs={"within": 120}).get() == {"refreshed": 1}
    assert tasks.refresh_expiring_tokens.apply(kwargs={"within": 600, "limit": 1}).get() == {
        "refreshed": 1
    }
    assert len(fake.refresh_requests()) == 2


@pytest.mark.django_db
def test_the_django_task_refreshes_through_the_same_function(alice, provider, fake):
    from integrations import tasks

    if not hasattr(tasks, "django_task") or tasks.django_task is None:
        pytest.skip("Django's tasks framework (Django 6 or django-tasks) is not installed")
    connected(alice, provider, expires_in=60)
    result = tasks.django_refresh_expiring_tokens.enqueue(within=600)  # the immediate backend
    assert result.return_value == {"refreshed": 1}
    assert len(fake.refresh_requests()) == 1


@pytest.mark.parametrize(
    "options",
    [
        {"within": -1},
        {"within": "600"},
        {"within": True},
        {"within": 600, "limit": 0},
        {"within": 600, "limit": "5"},
    ],
)
def test_bad_options_are_refused_before_anything_runs(options):
    from integrations import tasks

    with pytest.raises(ValueError):
        tasks.refresh_expiring_now(**options)


def test_without_celery_the_module_imports_and_the_task_name_says_what_to_install():
    program = (
        "import sys; sys.modules['celery'] = None\n"
        "import django; django.setup()\n"
        "import integrations.tasks as tasks\n"
        "try:\n"
        "    from integrations.tasks import refresh_expiring_tokens\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "pip install 'sealed-integrations[celery]'" in done.stdout
