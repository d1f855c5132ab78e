"""The one rate-limit mechanism (integrations.ratelimit): exact under bursts,
in one process and across processes sharing Redis."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.core.cache import cache
from django.test import RequestFactory
from django_ratelimit.core import _get_window

from integrations import ratelimit
from tests.ratelimit_burst import burst

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/5"


@pytest.fixture
def rate(settings):
    def set_rate(value):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {ratelimit.CREDENTIALS_SCOPE: value},
        }

    cache.clear()
    yield set_rate
    cache.clear()


@pytest.fixture
def latent_cache(settings):
    """The default cache answers after a network's latency, as Redis does."""
    settings.CACHES = {
        "default": {
            "BACKEND": "tests.ratelimit_burst.LatentLocMemCache",
            "LOCATION": f"latent-{uuid.uuid4().hex}",
        }
    }


def _user_pk_with_an_hour_left(period=3600, margin=900):
    """A user id whose counting window ends at least ``margin`` seconds from
    now (windows are staggered per key), so a burst never straddles two."""
    now = int(time.time())
    for pk in range(1, 10_000):
        if _get_window(f"user:{pk}", period) - now >= margin:
            return pk
    raise AssertionError("no user id with a window far enough from its end")


@pytest.mark.api  # bursts go through the API's throttle class
def test_a_burst_of_threads_lets_exactly_the_limit_through(latent_cache, rate):
    rate("7/h")
    assert burst(64, _user_pk_with_an_hour_left()) == 7


@pytest.mark.api  # bursts go through the API's throttle class
def test_a_burst_from_two_processes_sharing_redis_lets_exactly_the_limit_through():
    prefix = f"rl-test-{uuid.uuid4().hex}:"
    env = {
        **os.environ,
        "CACHE_URL": REDIS_URL,
        "RATELIMIT_CACHE_PREFIX": prefix,
        "API_THROTTLE_CREDENTIALS": "30/h",
    }
    env.pop("DATABASE_URL", None)  # the throttle needs no database
    pk = _user_pk_with_an_hour_left()
    start_at = time.time() + 3  # both processes are importing Django until then
    command = [sys.executable, "-m", "tests.ratelimit_burst", "60", str(pk), str(start_at)]
    processes = [
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:
        outputs = [process.communicate(timeout=120) for process in processes]
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"*{prefix}*"):
            client.delete(key)
    for process, (_out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    assert sum(int(out) for out, _err in outputs) == 30


def test_retry_after_is_the_time_left_in_the_window(rate):
    rate("1/h")
    request = RequestFactory().post("/")
    request.META["REMOTE_ADDR"] = "203.0.113.9"
    assert ratelimit.hit(request, ratelimit.CREDENTIALS_SCOPE).allowed
    refused = ratelimit.hit(request, ratelimit.CREDENTIALS_SCOPE)
    assert not refused.allowed
    window_end = _get_window("ip:203.0.113.9", 3600)
    assert 0 < refused.retry_after <= 3600
    assert abs(refused.retry_after - (window_end - time.time())) <= 2


def test_the_state_per_client_is_one_counter(rate):
    rate("1000/h")
    request = RequestFactory().get("/")
    request.META["REMOTE_ADDR"] = "198.51.100.4"
    for _ in range(50):
        ratelimit.hit(request, ratelimit.CREDENTIALS_SCOPE)
    keys = list(cache._cache)  # locmem: every key it holds
    assert len(keys) == 1
    assert cache.get(keys[0].split(":", 2)[-1]) == 50
