"""A real psycopg pool run dry: its one connection held by another thread, a
request waits the pool's timeout and is refused with 503 + Retry-After (pages,
API and the admin through ``handler500``), never a 500; it works again as
soon as the connection is back. PostgreSQL only: SQLite has no pool."""

import logging
import threading
from contextlib import contextmanager

import pytest
from django.db import connection, connections
from django.test import Client

from tests.faults.outage_helpers import (
    api_client,
    assert_refused_cleanly,
    no_outage_left,  # noqa: F401 (fixture)
    outage_records,
)
from tests.oauth_helpers import alice, browser  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.usefixtures("no_outage_left"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def _postgresql_with_a_pool():
    if connection.vendor != "postgresql":
        pytest.skip("psycopg's pool is PostgreSQL's (Django has none for SQLite)")
    pytest.importorskip("psycopg_pool")


@contextmanager
def pool_of_one():
    """``connections["default"]`` pooled for this thread: at most 1 connection,
    a request waits 0.5 s for it. Yields the settings, for other threads."""
    original = connections["default"]
    original.close()
    settings = dict(original.settings_dict, CONN_MAX_AGE=0)
    settings["OPTIONS"] = {
        **settings["OPTIONS"],
        "pool": {"min_size": 1, "max_size": 1, "timeout": 0.5},
    }
    pooled = type(original)(settings, alias="default")
    connections["default"] = pooled
    try:
        yield settings
    finally:
        connections["default"] = original
        pooled.close()
        pooled.close_pool()


@contextmanager
def held_by_another_thread(settings):
    """The pool's connection taken by another thread until the block ends."""
    taken, release, failed = threading.Event(), threading.Event(), []
    wrapper_class = type(connections["default"])

    def hold():
        holder = wrapper_class(settings, alias="default")  # the same pool (by alias)
        try:
            holder.ensure_connection()
        except Exception as exc:  # noqa: BLE001 - reported to the test below
            failed.append(exc)
        taken.set()
        release.wait(timeout=60)
        holder.close()  # back to the pool

    holding = threading.Thread(target=hold)
    holding.start()
    try:
        assert taken.wait(timeout=30) and not failed, failed
        yield
    finally:
        release.set()
        holding.join(timeout=30)


def test_a_request_that_finds_the_pool_empty_is_refused_with_503(
    alice,  # noqa: F811
    browser,  # noqa: F811
    django_user_model,
    all_logs,
):
    pytest.importorskip("rest_framework")
    api = api_client(alice)
    staff = Client(raise_request_exception=False)
    staff.force_login(django_user_model.objects.create_superuser("root", password="pw-1234-x"))
    with pool_of_one() as settings:
        with held_by_another_thread(settings):
            assert_refused_cleanly(browser.get("/integrations/"))
            assert_refused_cleanly(api.get("/api/integrations/"), json=True)
            assert_refused_cleanly(staff.get("/admin/"))
        [warning] = outage_records(all_logs, logging.WARNING)
        assert "PoolTimeout" in warning.getMessage()
        assert not [r for r in all_logs.records if r.name == "django.request"]
        # The holder gave the connection back: served again, from the pool.
        assert browser.get("/integrations/").status_code == 200
        assert api.get("/api/integrations/").status_code == 200
        assert staff.get("/admin/").status_code == 200
