import logging

import pytest

# A value that must never appear in any log line, message or output.
CANARY = "canary-7f3a9c1e-SECRET-do-not-leak"


@pytest.fixture
def canary():
    return CANARY


@pytest.fixture
def all_logs(caplog):
    """Capture every log record at DEBUG and up, from every logger."""
    caplog.set_level(logging.DEBUG)
    return caplog
