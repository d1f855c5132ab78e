"""A database error told in a few words that hold nothing from the database.

A driver's message may quote a row (``Key (token)=(...) already exists``,
``invalid input syntax for type uuid: "..."``), so it is never shown: an
operator gets the error's type, the driver's type and its code (PostgreSQL's
SQLSTATE, SQLite's result code) and a fixed phrase for the common causes.
"""

from dataclasses import asdict, dataclass

# SQLSTATE (exact, then its two-character class) -> what it means, in words.
_SQLSTATE = {
    "57P01": "the server shut down (restart or administrator)",
    "57P02": "the server crashed",
    "57P03": "the server is starting or stopping",
    "57014": "the statement was cancelled (statement_timeout?)",
    "55P03": "a lock could not be taken (lock_timeout?)",
    "40P01": "a deadlock",
    "40001": "a serialization failure",
    "25006": "the transaction is read-only (a standby?)",
    "3D000": "the database does not exist",
    "08": "the connection failed or was lost",
    "28": "the login was refused",
    "42": "a table, column or permission is missing (migrations not applied?)",
    "53": "the server ran out of a resource (disk, memory or connections)",
    "58": "the server hit a system error",
    "XX": "the server hit an internal error",
}
_SQLITE = {
    "SQLITE_BUSY": "the database is locked by another writer",
    "SQLITE_LOCKED": "a table is locked",
    "SQLITE_FULL": "the disk is full",
    "SQLITE_READONLY": "the database is read-only",
    "SQLITE_CANTOPEN": "the database file cannot be opened",
    "SQLITE_IOERR": "a disk I/O error",
    "SQLITE_CORRUPT": "the database file is damaged",
}


@dataclass(frozen=True)
class DatabaseErrorSummary:
    """What went wrong, with nothing copied from the error's message."""

    type: str  # Django's class: OperationalError, InterfaceError...
    driver_error: str  # the driver's class: AdminShutdown, OperationalError...
    code: str | None  # SQLSTATE or SQLite result code, when the driver gives one
    reason: str  # a fixed phrase

    def __str__(self):
        driver = self.driver_error if self.driver_error != self.type else ""
        details = ", ".join(
            part for part in (driver, f"code {self.code}" if self.code else "") if part
        )
        return f"{self.type}{f' ({details})' if details else ''}: {self.reason}"

    def as_dict(self):
        return asdict(self)


def summarize(exc):
    """A :class:`DatabaseErrorSummary` of ``exc`` (Django's wrapper or the driver's)."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    sqlstate = getattr(cause, "sqlstate", None)
    sqlite_code = getattr(cause, "sqlite_errorname", None)
    code = sqlstate or sqlite_code
    if sqlstate:
        reason = _SQLSTATE.get(sqlstate) or _SQLSTATE.get(sqlstate[:2]) or "a database error"
    elif sqlite_code:
        reason = _SQLITE.get(sqlite_code, "a database error")
    elif "Interface" in type(exc).__name__ or "Interface" in type(cause).__name__:
        reason = "the connection is closed"
    elif "Operational" in type(exc).__name__:
        reason = "the connection failed or was lost"
    else:
        reason = "a database error"
    return DatabaseErrorSummary(type(exc).__name__, type(cause).__name__, code, reason)
