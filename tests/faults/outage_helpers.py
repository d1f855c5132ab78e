"""What the outage tests check on every refused request, and the outage log."""

import uuid
from contextlib import contextmanager

import pytest
from django.db import connections
from django.test import Client

from integrations import outages
from tests.faults.servers import free_port

RETRY_AFTER = "30"  # OUTAGE_RETRY_AFTER_SECONDS's default
CANARY = "canary-7f3a9c1e-SECRET-do-not-leak"
# Nothing of the failure reaches the client: no trace, no exception or driver name.
_NEVER_IN_A_REFUSAL = ("Traceback", "redis", "OperationalError", "psycopg", "sqlite", CANARY)


@pytest.fixture
def no_outage_left():
    """Each test starts and ends with no backend known to be down."""
    outages.outages.reset()
    yield
    outages.outages.reset()


def outage_records(caplog, level):
    return [r for r in caplog.records if r.name == "integrations.outages" and r.levelno == level]


def assert_refused_cleanly(response, *, json=False):
    """A 503 with Retry-After in the page's or the API's own shape, and nothing more."""
    assert response.status_code == 503, response.content[:500]
    assert response["Retry-After"] == RETRY_AFTER
    body = response.content.decode()
    for text in _NEVER_IN_A_REFUSAL:
        assert text.lower() not in body.lower()
    if json:
        assert response.json()["error"]["code"] == "service_unavailable"
    else:
        assert "Temporarily unavailable" in body or "momentanément indisponible" in body


def api_client(user):
    """A test client that signs API requests with a new token of ``user``."""
    from integrations.api.api_tokens import create_api_token

    token, _expires_at = create_api_token(user)
    return Client(HTTP_AUTHORIZATION=f"Token {token}")


@contextmanager
def database_refusing_connections(refusal=None):
    """``connections["default"]`` replaced, for this thread, by one whose every
    connection attempt fails the way a database that is down makes it fail:
    nothing listening (a closed port on PostgreSQL, a folder that does not
    exist on SQLite), or, with ``refusal``, the server answering that error
    message (the driver's own ``OperationalError``, as "FATAL: sorry, too many
    clients already" is)."""
    original = connections["default"]
    settings = dict(original.settings_dict)
    wrapper_class = type(original)
    if refusal is not None:

        class Refusing(wrapper_class):  # type: ignore[valid-type,misc]
            def get_new_connection(self, conn_params):
                raise self.Database.OperationalError(refusal)

        wrapper_class = Refusing
    elif original.vendor == "postgresql":
        settings["PORT"] = free_port()  # nothing listens there
    else:
        settings["NAME"] = f"/nonexistent-{uuid.uuid4().hex}/db.sqlite3"
    broken = wrapper_class(settings, alias="default")
    connections["default"] = broken
    try:
        yield
    finally:
        connections["default"] = original
        broken.close()
