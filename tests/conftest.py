import logging
from importlib.util import find_spec

import pytest

# Without the `api` extra (DRF), the REST API's tests cannot even be imported; the
# rest of the suite must pass, which proves the app works without DRF.
API_INSTALLED = find_spec("rest_framework") is not None
collect_ignore = (
    []
    if API_INSTALLED
    else [
        "api",
        "e2e/test_api_schemathesis.py",
        # Connect sessions are created through the API (knox tokens).
        "e2e/test_connect_session_demo.py",
        "e2e/test_connect_session_popup.py",
        "e2e/test_demo_spa.py",
    ]
)


def pytest_collection_modifyitems(config, items):
    if API_INSTALLED:
        return
    skip = pytest.mark.skip(reason="needs the api extra (DRF): pip install -e '.[api]'")
    for item in items:
        if item.get_closest_marker("api"):
            item.add_marker(skip)


# A value that must never appear in any log line, message or output.
CANARY = "canary-7f3a9c1e-SECRET-do-not-leak"


@pytest.fixture
def canary():
    return CANARY


@pytest.fixture
def all_logs(caplog):
    """Every record at DEBUG and up, from every logger, as our code logged it.

    * The project's LOGGING stops ``django`` and ``django.request`` from
      propagating, so a root-level capture alone never sees them: the capture
      is attached to every logger that does not propagate.
    * The project's handlers carry a RedactingFilter that rewrites records in
      place, before the capture sees them: it is removed for the test, so what
      a test checks is what the code tried to log, not what redaction left.
    """
    from integrations.sealed.redaction import RedactingFilter

    caplog.set_level(logging.DEBUG)
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    removed = []
    for logger in loggers:
        for handler in logger.handlers:
            for log_filter in list(handler.filters):
                if isinstance(log_filter, RedactingFilter):
                    handler.removeFilter(log_filter)
                    removed.append((handler, log_filter))
    silent = [logger for logger in loggers[1:] if not logger.propagate]
    for logger in silent:
        caplog.set_level(logging.DEBUG, logger=logger.name)
        logger.addHandler(caplog.handler)
    yield caplog
    for logger in silent:
        logger.removeHandler(caplog.handler)
    for handler, log_filter in removed:
        handler.addFilter(log_filter)


def assert_not_logged(caplog, canary):
    """No record of the test (its fixtures included) holds the canary, formatted or not."""
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    for record in records:
        assert canary not in record.getMessage()
        assert canary not in repr(record.args)
        assert canary not in (record.exc_text or "")
        if record.exc_info:
            assert canary not in logging.Formatter().formatException(record.exc_info)
    assert canary not in caplog.text


@pytest.fixture(autouse=True)
def backoff_sleeps(monkeypatch):
    """The waits between tries of a failed provider request, recorded instead of
    slept (integrations.backoff): no test waits for a backoff."""
    from integrations import backoff

    waits = []
    monkeypatch.setattr(backoff, "sleep", waits.append)
    return waits


@pytest.fixture(autouse=True)
def fresh_rate_counters():
    """Every test starts with no rate-limit counters (they live in the default,
    process-local cache): the refusals one test provokes from 127.0.0.1 do not
    count against the next one's."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def one_ratelimit_window(monkeypatch):
    """The rate limits' clock stands still at the start of this minute's window:
    the limits are fixed windows of a minute, and a test that made its requests
    across a minute's end (a slow machine) would see its count start again."""
    import time
    import types

    import django_ratelimit.core

    now = (int(time.time()) // 60) * 60 + 1
    monkeypatch.setattr(django_ratelimit.core, "time", types.SimpleNamespace(time=lambda: now))
    return now
