"""What /proc says of a process: its stat fields and its memory. The browser runtime counts
and weighs its Chromium tree with these; tests and the bench look for stray browsers with
the same reads."""

from __future__ import annotations

import os
from pathlib import Path


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, pgrp, ...), or
    None if the process is gone. The command may hold spaces and ')': cut at the last ')'."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def all_stat_fields() -> dict[int, list[str]]:
    """Every process's stat fields, zombies included."""
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (fields := stat_fields(int(entry.name))) is not None:
            table[int(entry.name)] = fields
    return table


def running(fields: list[str] | None) -> bool:
    """Not gone and not a zombie (a killed process lingers as one until it is reaped)."""
    return fields is not None and fields[0] not in "ZX"


def memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes from one read of smaps_rollup; (0, 0) if gone. PSS is private
    memory plus a share of pages shared with others, so a sum over Chromium's processes
    counts shared pages once (a sum of RSS counts the zygote's pages in every renderer)."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    return rss, pss
