"""Pinned wall clocks for the processes a test starts (libfaketime, Debian's faketime)."""

from __future__ import annotations

import shutil
from pathlib import Path

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
AVAILABLE = LIBFAKETIME.exists() and shutil.which("faketime") is not None


def pinned_clock(spec: str) -> dict[str, str]:
    """The environment that runs a process's wall clock by libfaketime's ``spec``; its
    monotonic clock stays real. ``"@2027-01-01 03:00:00"`` starts each process's clock there
    when that process starts; ``"-3600s"`` is an offset from the real clock, so every process
    started with it reads the same time."""
    return {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": spec,
            "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_DONT_RESET": "1"}
