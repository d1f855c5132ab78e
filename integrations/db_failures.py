"""A database that cannot be reached, as the token services tell their callers:
:class:`DatabaseUnavailable`, never a driver's error, and no connection left broken.
"""

from contextlib import contextmanager

from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    connections,
)

from .outages import unavailable_database
from .token_errors import DatabaseUnavailable

DATABASE_ERRORS = (OperationalError, InterfaceError)


def reset_connection(db):
    """Drop a connection a database failure may have broken, so that the next
    query opens a new one. Not inside the caller's transaction: False then."""
    connection = connections[db]
    if connection.in_atomic_block:
        return False
    try:
        connection.close()
    except DatabaseError:
        pass
    return True


@contextmanager
def typed_database_failures(db):
    """A database ``db`` that cannot be reached is :class:`DatabaseUnavailable` to
    the caller (not a driver's error), and the connection it broke is dropped."""
    try:
        yield
    except DATABASE_ERRORS as exc:
        unavailable_database(exc)  # the outage's one log line, before the connection goes
        reset_connection(db)
        raise DatabaseUnavailable("database_unavailable") from exc
