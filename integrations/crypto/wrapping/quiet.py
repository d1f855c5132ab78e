"""No log record leaves a key wrapper's call: the libraries it uses log key material.

botocore logs every KMS response at DEBUG (``Response body: b'{"Plaintext":
"<the data key in base64>"...}'``) and every request (an ``Encrypt`` carries
the key); a project's own backend may use a library that does the same. Which
logger is at which level is the project's ``LOGGING``, configured before or
after us, so no setting of ours can be relied on. Two mechanisms, both scoped
to the wrapper call in progress (a context variable: other threads and other
calls log as configured):

* a filter that drops the record, attached (again, at every call, so a later
  ``LOGGING`` cannot have removed it) to every existing logger of the libraries
  a wrapper is known to use (:data:`LIBRARY_LOGGERS`). Logger filters only see
  records made at that very logger, hence every ``botocore.*`` logger, not
  ``botocore`` alone;
* a log record factory (installed once, chaining the one before it) that
  empties every record made during the call, by any logger, including one
  created during the call or of a library not listed: its message becomes a
  fixed note naming the logger, its arguments, exception and stack are
  dropped. Handlers and filters never see the original.

Pure Python, like the rest of the wrapping layer.
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Libraries a key wrapper calls: boto3/botocore (and aiobotocore, s3transfer)
# over urllib3, python-pkcs11, and the HTTP clients a project's own backend
# (a Vault, a cloud KMS over REST) would use.
LIBRARY_LOGGERS = (
    "botocore",
    "boto3",
    "aiobotocore",
    "s3transfer",
    "urllib3",
    "pkcs11",
    "requests",
    "httpx",
    "httpcore",
    "hvac",
    "google",
    "azure",
)
WITHHELD = "log record of %s withheld: it was made during a key wrapper call"

_in_call: ContextVar[bool] = ContextVar("sealed_key_wrapper_call", default=False)
_install_lock = threading.Lock()
_installed_factory = None


class _DropDuringWrapperCall(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _in_call.get()


_FILTER = _DropDuringWrapperCall()


def _withholding_factory(previous):  # type: ignore[no-untyped-def]
    def factory(name, level, fn, lno, msg, args, exc_info, func=None, sinfo=None, **kwargs):  # type: ignore[no-untyped-def]
        if _in_call.get():
            msg, args, exc_info, sinfo = WITHHELD, (name,), None, None
        return previous(name, level, fn, lno, msg, args, exc_info, func, sinfo, **kwargs)

    factory.withholds_wrapper_records = True  # type: ignore[attr-defined]
    return factory


def _install_factory() -> None:
    global _installed_factory
    with _install_lock:
        current = logging.getLogRecordFactory()
        if getattr(current, "withholds_wrapper_records", False):
            return
        # A project (or a test) replaced ours: chain theirs again.
        _installed_factory = _withholding_factory(current)
        logging.setLogRecordFactory(_installed_factory)


def _library_loggers() -> Iterator[logging.Logger]:
    for name in LIBRARY_LOGGERS:
        yield logging.getLogger(name)
    prefixes = tuple(f"{name}." for name in LIBRARY_LOGGERS)
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.startswith(prefixes):
            yield logger


@contextmanager
def no_library_logs() -> Iterator[None]:
    """Nothing logged in this context (thread, task) reaches a handler as written."""
    _install_factory()
    for logger in _library_loggers():
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    token = _in_call.set(True)
    try:
        yield
    finally:
        _in_call.reset(token)
