"""A one-line progress display on stderr, only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = self._stream.isatty()
        self.total = 0  # services, set once the selection is known
        self._services = 0
        self._queries = 0
        self._shown = 0.0

    def query_done(self) -> None:
        self._queries += 1
        self._show()

    def services_done(self, count: int) -> None:
        self._services += count
        self._show(force=self._services >= self.total)

    def _show(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self._enabled or (not force and now - self._shown < 0.2):
            return  # redraw at most five times a second
        self._shown = now
        self._stream.write(f"\rreport: {self._services}/{self.total} services, "
                           f"{self._queries} queries")
        self._stream.flush()

    def finish(self) -> None:
        if self._enabled:
            self._stream.write("\n")
            self._stream.flush()
