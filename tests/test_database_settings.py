"""config.database.database_settings: the shipped database settings from the
environment — the pool on PostgreSQL, PgBouncer's needs, SQLite untouched."""

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured

from config.database import database_settings

SQLITE_URL = "sqlite:////tmp/never-opened.sqlite3"
PG_URL = "postgres://app@db.internal:5432/app"
_NAMES = (
    "DATABASE_URL",
    "DB_CONN_MAX_AGE",
    "DB_POOL",
    "DB_POOL_MIN_SIZE",
    "DB_POOL_MAX_SIZE",
    "DB_POOL_TIMEOUT",
    "DB_PGBOUNCER",
)


@pytest.fixture
def environment(monkeypatch):
    """Set the environment the settings are read from (only these names)."""
    for name in _NAMES:
        monkeypatch.delenv(name, raising=False)

    def read(**variables):
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return database_settings(environ.Env(), SQLITE_URL)

    return read


def test_postgresql_is_pooled_by_default_with_bounded_waits(environment):
    database = environment(DATABASE_URL=PG_URL)
    pool = database["OPTIONS"]["pool"]
    assert (pool["min_size"], pool["max_size"], pool["timeout"]) == (2, 4, 10.0)
    # Django refuses persistent connections with its pool.
    assert database["CONN_MAX_AGE"] == 0
    assert "DISABLE_SERVER_SIDE_CURSORS" not in database


def test_pool_sizes_and_timeout_come_from_the_environment(environment):
    database = environment(
        DATABASE_URL=PG_URL, DB_POOL_MIN_SIZE="0", DB_POOL_MAX_SIZE="12", DB_POOL_TIMEOUT="2.5"
    )
    pool = database["OPTIONS"]["pool"]
    assert (pool["min_size"], pool["max_size"], pool["timeout"]) == (0, 12, 2.5)


def test_without_the_pool_connections_are_kept_per_thread(environment):
    database = environment(DATABASE_URL=PG_URL, DB_POOL="false", DB_CONN_MAX_AGE="30")
    assert "pool" not in database["OPTIONS"]
    assert database["CONN_MAX_AGE"] == 30
    assert database["CONN_HEALTH_CHECKS"] is True


@pytest.mark.parametrize(
    "variables",
    [
        {"DB_POOL_MAX_SIZE": "0"},
        {"DB_POOL_MIN_SIZE": "5", "DB_POOL_MAX_SIZE": "4"},
        {"DB_POOL_MIN_SIZE": "-1"},
        {"DB_POOL_TIMEOUT": "0"},
        {"DB_POOL_TIMEOUT": "-3"},
        # A persistent connection asked for together with the pool: Django would
        # refuse it at the first query; the settings refuse it at startup.
        {"DB_CONN_MAX_AGE": "60"},
    ],
)
def test_impossible_pool_settings_are_refused_at_startup(environment, variables):
    with pytest.raises(ImproperlyConfigured, match="DB_"):
        environment(DATABASE_URL=PG_URL, **variables)


def test_a_pool_size_that_is_not_a_number_is_refused(environment):
    with pytest.raises(ValueError):
        environment(DATABASE_URL=PG_URL, DB_POOL_MAX_SIZE="lots")


def test_behind_pgbouncer_nothing_outlives_a_transaction(environment):
    database = environment(DATABASE_URL=PG_URL, DB_PGBOUNCER="true")
    assert database["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert database["OPTIONS"]["prepare_threshold"] is None
    assert "server_side_binding" not in database["OPTIONS"]
    assert "pool" in database["OPTIONS"]  # the pool bounds each process in front of it


def test_pgbouncer_without_the_pool(environment):
    database = environment(DATABASE_URL=PG_URL, DB_PGBOUNCER="true", DB_POOL="false")
    assert database["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert "pool" not in database["OPTIONS"]
    assert database["CONN_MAX_AGE"] == 60


def test_sqlite_ignores_the_pool_settings(environment):
    database = environment(DB_POOL="true", DB_POOL_MAX_SIZE="1", DB_PGBOUNCER="true")
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert "pool" not in database["OPTIONS"]
    assert "DISABLE_SERVER_SIDE_CURSORS" not in database
    assert database["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert database["CONN_MAX_AGE"] == 60


def test_the_pool_settings_open_a_real_pool(environment, settings):
    """What the function returns is what Django's PostgreSQL backend accepts."""
    pytest.importorskip("psycopg_pool")
    from django.db.backends.postgresql.base import DatabaseWrapper

    database = environment(DATABASE_URL=PG_URL, DB_POOL_MAX_SIZE="3")
    database.update({"TIME_ZONE": None, "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False})
    wrapper = DatabaseWrapper(database, alias="pool-settings-test")
    try:
        pool = wrapper.pool  # built, not opened: nothing connects
        assert pool.max_size == 3 and pool.timeout == 10.0
        # CONN_HEALTH_CHECKS: a connection a restart broke never reaches a request.
        assert pool._check is not None
    finally:
        DatabaseWrapper._connection_pools.pop("pool-settings-test", None)
