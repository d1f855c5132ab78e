"""Progress bars are optional: tqdm (the ``progress`` extra) on a terminal, else plain lines."""

import io
import sys

import pytest

from integrations.sealed.management.commands import _reseal


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_without_tqdm_gets_plain_lines(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if the extra were not installed
    stream = _Terminal()
    progress = _reseal._progress("testapp.Account.token", 10, stream)
    assert isinstance(progress, _reseal._PlainProgress)
    progress.update(10)
    assert "testapp.Account.token: 10/10" in stream.getvalue()


def test_a_terminal_with_tqdm_gets_a_bar():
    pytest.importorskip("tqdm", reason="the progress extra is not installed")
    progress = _reseal._progress("testapp.Account.token", 10, _Terminal())
    try:
        assert type(progress).__module__.startswith("tqdm")
    finally:
        progress.close()


def test_a_pipe_gets_plain_lines():
    assert isinstance(_reseal._progress("x.Y.z", 10, io.StringIO()), _reseal._PlainProgress)
