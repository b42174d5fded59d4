"""Processes as /proc shows them: who descends from whom, which are Chromium, how much
memory they hold. For tests and benches that must find stray browsers and weigh them; the
reads are the browser runtime's own (probes.browser.procfs)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from probes.browser import procfs


def alive(pid: int) -> bool:
    """Running: a killed process may linger as a zombie until reaped, and that is dead."""
    return procfs.running(procfs.stat_fields(pid))


def descendants(root: int) -> set[int]:
    """Every live process below ``root``, by parent links."""
    parents = {pid: int(fields[1]) for pid, fields in procfs.all_stat_fields().items()
               if procfs.running(fields)}
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
    return sum(procfs.memory(pid)[1] for pid in pids)
