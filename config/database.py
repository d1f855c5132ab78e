"""``DATABASES["default"]`` of the hosting project, from the environment.

A function of its own (not lines in settings.py) so that every combination —
SQLite, PostgreSQL with or without psycopg's pool, behind PgBouncer or not —
can be tested without reloading the settings module.

Why the pool is on by default on PostgreSQL: without it every server thread
keeps a connection of its own for ``CONN_MAX_AGE`` and nothing bounds the
total, so a burst of requests runs PostgreSQL out of ``max_connections`` and
the requests fail with "sorry, too many clients already". With the pool, each
process holds at most ``DB_POOL_MAX_SIZE`` connections; a request that finds
them all busy waits ``DB_POOL_TIMEOUT`` seconds and is then refused with 503 +
``Retry-After`` (integrations.outages), never a 500. The total is then
hosts x processes x ``DB_POOL_MAX_SIZE`` (+ Celery worker processes), which
docs/how-to/deploying-at-scale.md tells how to keep under ``max_connections``.

``DB_PGBOUNCER=true`` (PgBouncer in transaction mode in front of PostgreSQL):
consecutive transactions of one Django connection may run on different server
connections, so nothing may outlive a transaction on the server: no
server-side cursors (Django's ``.iterator()`` uses them unless
``DISABLE_SERVER_SIDE_CURSORS``) and no named prepared statements (psycopg 3
prepares a query it has run ``prepare_threshold`` times; ``None`` never does,
which PgBouncer 1.18 needs: it has no prepared-statement support).
"""

from importlib.util import find_spec

from django.core.exceptions import ImproperlyConfigured

SQLITE = "django.db.backends.sqlite3"
# PostGIS builds on the PostgreSQL backend: the same pool and pooler settings.
POSTGRESQL = ("django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis")

# Defaults sized for one gunicorn worker process with a few threads: the pool
# never holds more than 4 connections per process, and opens 2 at start.
POOL_MIN_SIZE = 2
POOL_MAX_SIZE = 4
# Seconds a request waits for a free pooled connection before the 503: long
# enough to ride out a burst, short of gunicorn's 30 s worker timeout.
POOL_TIMEOUT = 10.0
# Without the pool: seconds a connection is kept between requests (a new
# PostgreSQL connection costs ~6 ms).
CONN_MAX_AGE = 60


def database_settings(env, default_url):
    """The ``default`` database's settings dict, read with ``env`` (a
    django-environ ``Env``): ``DATABASE_URL``, ``DB_CONN_MAX_AGE``,
    ``DB_POOL``, ``DB_POOL_MIN_SIZE``, ``DB_POOL_MAX_SIZE``,
    ``DB_POOL_TIMEOUT``, ``DB_PGBOUNCER``."""
    database = env.db("DATABASE_URL", default=default_url)
    # A connection a restarted server broke is replaced before it fails a request.
    database["CONN_HEALTH_CHECKS"] = True
    options = database.setdefault("OPTIONS", {})
    if database["ENGINE"] == SQLITE:
        database["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=CONN_MAX_AGE)
        # Transactions take SQLite's write lock when they begin, so concurrent
        # writers (the threads of `make run`, workers refreshing a token) wait
        # for each other instead of failing "database is locked" when a read
        # turns into a write. The pool settings do not apply to SQLite.
        options.setdefault("transaction_mode", "IMMEDIATE")
        return database
    if database["ENGINE"] not in POSTGRESQL:
        database["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=CONN_MAX_AGE)
        return database
    if env.bool("DB_POOL", default=True):
        _pool(env, database, options)
    else:
        database["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=CONN_MAX_AGE)
    if env.bool("DB_PGBOUNCER", default=False):
        _behind_transaction_pooler(database, options)
    return database


def _pool(env, database, options):
    """psycopg's pool (Django 5.1+), which forbids persistent connections: a
    request's connection goes back to the pool when the request ends."""
    if env.int("DB_CONN_MAX_AGE", default=0) != 0:
        raise ImproperlyConfigured(
            "DB_CONN_MAX_AGE must be 0 (or unset) with DB_POOL on: the pool keeps the "
            "connections. Set DB_POOL=false to keep one connection per thread instead."
        )
    min_size = env.int("DB_POOL_MIN_SIZE", default=POOL_MIN_SIZE)
    max_size = env.int("DB_POOL_MAX_SIZE", default=POOL_MAX_SIZE)
    timeout = env.float("DB_POOL_TIMEOUT", default=POOL_TIMEOUT)
    if max_size < 1 or not 0 <= min_size <= max_size:
        raise ImproperlyConfigured(
            "DB_POOL_MIN_SIZE and DB_POOL_MAX_SIZE: need 0 <= min <= max and max >= 1."
        )
    if timeout <= 0:
        raise ImproperlyConfigured("DB_POOL_TIMEOUT must be a number of seconds above 0.")
    if find_spec("psycopg_pool") is None:  # at startup, not at the first request
        raise ImproperlyConfigured(
            "DB_POOL needs psycopg's pool: pip install 'psycopg[pool]' (or set DB_POOL=false)."
        )
    database["CONN_MAX_AGE"] = 0
    # With CONN_HEALTH_CHECKS (above), Django gives the pool psycopg's
    # check_connection: a connection a restart broke is dropped when taken
    # from the pool instead of failing the request it was handed to.
    options["pool"] = {"min_size": min_size, "max_size": max_size, "timeout": timeout}


def _behind_transaction_pooler(database, options):
    """What Django needs behind PgBouncer in transaction mode (see the module's
    docstring)."""
    database["DISABLE_SERVER_SIDE_CURSORS"] = True
    options["prepare_threshold"] = None  # Django's default too: said out loud
    options.pop("server_side_binding", None)
