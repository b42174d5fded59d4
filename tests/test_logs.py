"""Each log line reaches stderr in one write: under ``--workers`` the supervisor and its
workers share stderr, and a line written in two parts (message, then newline) is spliced
with another process's line on a write-through stream (a non-terminal stderr is one)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator

import pytest
import structlog

from monitor.runtime.logs import configure_logging


class _Writes:
    """A stream that keeps each write call apart, as the kernel sees a raw stderr's."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def write(self, text: str) -> int:
        self.calls.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@pytest.fixture
def restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.usefixtures("restored")
def test_every_line_is_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    writes = _Writes()
    # Here, not in a fixture: pytest swaps sys.stderr for its capture before the call phase.
    monkeypatch.setattr(sys, "stderr", writes)
    configure_logging("info", json=True, fields={"worker": "1"})
    structlog.get_logger("t").warning("probe failing", service="svc", detail="x" * 300)
    logging.getLogger("aiohttp.access").warning("stdlib line")
    monkeypatch.undo()
    assert len(writes.calls) == 2
    for call in writes.calls:
        assert call.endswith("\n") and call.count("\n") == 1, call
        assert json.loads(call)["worker"] == "1"
