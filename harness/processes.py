"""Processes as /proc shows them: who descends from whom, which are Chromium, how much
memory they hold. For tests and benches that must find stray browsers and measure RSS."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    """The fields after the command name (state, ppid, pgrp, ...), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def alive(pid: int) -> bool:
    """Running: a killed process may linger as a zombie until reaped, and that is dead."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in "ZX"


def descendants(root: int) -> set[int]:
    """Every live process below ``root``, by parent links."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and fields[0] not in "ZX":
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def chromium(pids: Iterable[int]) -> set[int]:
    """Those of ``pids`` that are live Chromium processes."""
    found = set()
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"chromium" in command and alive(pid):
            found.add(pid)
    return found


def pss_bytes(pids: Iterable[int]) -> int:
    """Proportional set size of ``pids`` together: pages they share counted once."""
    return sum(map(_pss, pids))


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
