"""integrations.outages: what counts as an outage, and one log line per outage.

The end-to-end behaviour with real servers stopped and started is in
tests/faults/; these are the decisions themselves.
"""

import logging
import threading

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.db import OperationalError, connection
from django.test import RequestFactory

from integrations import outages as outages_module
from integrations import ratelimit
from integrations.outages import CacheUnavailable, Outages, cache_guard, error_type

CANARY = "canary-7f3a9c1e-SECRET-do-not-leak"


class NoAnswerCache(LocMemCache):
    """A cache that, like memcached when its server is gone, reports failure
    instead of raising: ``add`` is refused and ``incr`` finds nothing."""

    def add(self, *args, **kwargs):
        return False

    def incr(self, *args, **kwargs):
        raise ValueError("no such key")


class Broken(LocMemCache):
    def add(self, *args, **kwargs):
        raise ConnectionError(f"cannot reach redis://:{CANARY}@cache.internal:6379")


@pytest.fixture(autouse=True)
def _fresh_outages():
    outages_module.outages.reset()
    yield
    outages_module.outages.reset()


def records(caplog, level):
    return [r for r in caplog.records if r.name == "integrations.outages" and r.levelno == level]


def test_many_threads_meeting_one_outage_log_one_warning_and_one_recovery(caplog):
    caplog.set_level(logging.INFO, logger="integrations.outages")
    tracker = Outages()
    barrier = threading.Barrier(16)

    def fail():
        barrier.wait()
        for _ in range(50):
            tracker.down("cache 'default' (x)", ConnectionError())

    threads = [threading.Thread(target=fail) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(records(caplog, logging.WARNING)) == 1
    for _ in range(5):
        tracker.up("cache 'default' (x)")
    [back] = records(caplog, logging.INFO)
    assert "800 request(s)" in back.getMessage()
    # A second outage is a second warning.
    tracker.down("cache 'default' (x)", ConnectionError())
    assert len(records(caplog, logging.WARNING)) == 2


def test_the_warning_names_the_backend_and_error_type_never_the_message(caplog, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "tests.test_outages.Broken",
            "LOCATION": f"redis://:{CANARY}@cache.internal:6379",
        }
    }
    from django.core.cache import cache

    with pytest.raises(CacheUnavailable) as raised:
        with cache_guard():
            cache.add("k", 1)
    assert CANARY not in str(raised.value) and raised.value.__cause__ is None
    [warning] = records(caplog, logging.WARNING)
    assert "cache 'default' (tests.test_outages.Broken)" in warning.getMessage()
    assert "builtins.ConnectionError" in warning.getMessage()
    assert CANARY not in caplog.text


def test_error_type_names_the_wrapped_driver_error():
    try:
        try:
            raise ConnectionRefusedError(CANARY)
        except ConnectionRefusedError as exc:
            raise OperationalError(CANARY) from exc
    except OperationalError as exc:
        named = error_type(exc)
    assert named == "django.db.utils.OperationalError from builtins.ConnectionRefusedError"


@pytest.mark.django_db
def test_an_operational_error_on_a_working_connection_is_not_an_outage():
    """A SQLite "no such table", a deadlock: a bug or a passing conflict, not
    a database that is down (those stay 500s, with their trace in the log)."""
    connection.ensure_connection()
    assert outages_module.unavailable_database(OperationalError("no such table: x")) is None
    assert outages_module.unavailable_database(ValueError()) is None


def test_a_cache_that_answers_no_count_refuses_the_rate_limited_request(settings, caplog):
    settings.CACHES = {"default": {"BACKEND": "tests.test_outages.NoAnswerCache"}}
    request = RequestFactory().post("/")
    for _ in range(3):
        with pytest.raises(CacheUnavailable):
            ratelimit.hit(request, ratelimit.CREDENTIALS_SCOPE)
    [warning] = records(caplog, logging.WARNING)
    assert "integrations.outages.NoAnswer" in warning.getMessage()
    assert records(caplog, logging.INFO) == []
    settings.RATELIMIT_FAIL_OPEN = True
    assert ratelimit.hit(request, ratelimit.CREDENTIALS_SCOPE).allowed


def test_a_bad_rate_is_not_mistaken_for_an_outage(settings, caplog):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {ratelimit.CREDENTIALS_SCOPE: "many per minute"},
    }
    with pytest.raises(Exception) as raised:  # noqa: PT011 - django-ratelimit's own error
        ratelimit.hit(RequestFactory().post("/"), ratelimit.CREDENTIALS_SCOPE)
    assert not isinstance(raised.value, CacheUnavailable)
    assert records(caplog, logging.WARNING) == []
