import pytest

from .servers import PrivateRedis, current_cluster


@pytest.fixture
def private_redis():
    """A Redis server of the test's own, which it may stop and start again."""
    server = PrivateRedis().start()
    yield server
    server.destroy()


@pytest.fixture
def pg_cluster(transactional_db):
    """The private PostgreSQL cluster the test database lives in (``make
    faults`` starts it), for tests that restart the database under the app."""
    from django.db import connection

    cluster = current_cluster()
    if cluster is None or connection.vendor != "postgresql":
        pytest.skip("needs the private PostgreSQL cluster that `make faults` starts")
    if int(connection.settings_dict["PORT"] or 5432) != cluster.port:
        pytest.skip("the test database is not in the private cluster")
    yield cluster
    cluster.start_if_stopped()
    connection.close()  # a restart under the test broke it; teardown opens a new one
