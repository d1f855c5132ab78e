"""A database error is told by its type, its code and a fixed phrase, never its message."""

import sqlite3

import pytest
from django.db import InterfaceError, OperationalError

from integrations.sealed.dberrors import summarize


def wrapped(cause, message):
    try:
        raise cause
    except Exception as exc:
        try:
            raise OperationalError(message) from exc
        except OperationalError as django_error:
            return django_error


class AdminShutdown(Exception):
    sqlstate = "57P01"


class UniqueViolation(Exception):
    sqlstate = "23505"


class ConnectionFailure(Exception):
    sqlstate = "08006"


class Busy(sqlite3.OperationalError):
    sqlite_errorname = "SQLITE_BUSY"


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (AdminShutdown, "OperationalError (AdminShutdown, code 57P01): the server shut down"),
        (ConnectionFailure, "(ConnectionFailure, code 08006): the connection failed or was lost"),
        (UniqueViolation, "(UniqueViolation, code 23505): a database error"),
        (Busy, "(Busy, code SQLITE_BUSY): the database is locked by another writer"),
    ],
)
def test_the_code_and_a_fixed_phrase_never_the_message(cause, expected, canary):
    error = wrapped(cause(f"Key (token)=({canary}) already exists"), f"boom {canary}")
    summary = summarize(error)
    assert expected in str(summary)
    assert canary not in str(summary) + repr(summary) + str(summary.as_dict())


def test_errors_without_a_code():
    assert str(summarize(InterfaceError("connection already closed"))) == (
        "InterfaceError: the connection is closed"
    )
    assert str(summarize(OperationalError("server closed the connection"))) == (
        "OperationalError: the connection failed or was lost"
    )
