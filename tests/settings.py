"""Test settings: the project's settings with fixed test keys and the test app.

The database still comes from DATABASE_URL, so `make test` runs on SQLite by
default and on PostgreSQL when DATABASE_URL points there (as `.ci/run` does).
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key")
# The demo authorization server is what the OAuth tests talk to over real HTTP;
# its ID-token signing key lives in memory for the run.
os.environ["DEMO_PROVIDER"] = "true"
os.environ["DEMO_OIDC_KEY_FILE"] = ""
# The suite's races hold more connections at once (threads meeting at a barrier)
# than a small pool has: the pool is off unless DB_POOL says otherwise, and has
# tests of its own (tests/test_database_settings.py, tests/test_pool_outages.py).
os.environ.setdefault("DB_POOL", "false")

from config.settings import *  # noqa: E402, F403
from config.settings import INSTALLED_APPS  # noqa: E402

# Fixed keys for tests only (version 2 is primary, version 1 still opens).
TEST_KEY_V1 = "1:QOxPwcSNk1Fk5AFQ48_pPi6XNVjrGmuqvCoJXp7fR2w="
TEST_KEY_V2 = "2:MHlTEmbMz9bDpJWDQHMhgpCrzswR0iaIX3OY4X5ubpI="

DEBUG = False
# The suite's own threads and processes (refresh races, concurrent rotations) end
# with close_old_connections(); persistent connections would outlive them and
# keep PostgreSQL from dropping the test database. The project keeps them.
DATABASES = {"default": {**DATABASES["default"], "CONN_MAX_AGE": 0}}  # noqa: F405
INTEGRATIONS = {"ENCRYPTION_KEYS": [TEST_KEY_V2, TEST_KEY_V1]}
# SEALED_TEST_WRAPPER=pkcs11: the same keys, configured only as entries wrapped by
# a KEK in a SoftHSM2 token of the run's own (`.ci/run` runs the sealing tests so).
if os.environ.get("SEALED_TEST_WRAPPER") == "pkcs11":
    from tests.softhsm import wrapped_settings

    INTEGRATIONS = wrapped_settings([TEST_KEY_V2, TEST_KEY_V1])
elif os.environ.get("SEALED_TEST_WRAPPER"):
    raise RuntimeError("SEALED_TEST_WRAPPER: only 'pkcs11' is supported")
# Worker processes of the webhook tests (a Celery worker) deliver to a receiver on
# loopback, as a development setup would.
if os.environ.get("SEALED_TEST_WEBHOOK_PRIVATE_URLS") == "1":
    INTEGRATIONS = {**INTEGRATIONS, "WEBHOOK_ALLOW_PRIVATE_URLS": True}
INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp", "tests.migrationsapp"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# SQLite: the test database is a file, not Django's shared in-memory database,
# so that threads of one process and other processes (the refresh races) meet in
# one database under SQLite's own locking, waiting for each other as in
# production (a shared-cache memory database fails "table is locked" instead).
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(
            tempfile.gettempdir(), f"sealed-integrations-tests-{os.getpid()}.sqlite3"
        ),
    }
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {  # noqa: F405
            "timeout": 30,
            # A throwaway database: no fsync, so a file costs about what memory does.
            "init_command": "PRAGMA synchronous=OFF",
        }
    )
