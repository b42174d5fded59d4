"""What the daemon keeps across a restart: last success times, confirmation state and the
current or most recent outage (``monitor.runtime.confirmation``), and under ``kinds`` what
each kind's runtime keeps (``KindRuntime.snapshot``: a heartbeat's pings), opaque here.

Written atomically (temporary file, fsync, rename, fsync of the directory), so a crash or
``kill -9`` at any moment leaves either the previous or the new file, never a torn one.
Everything else is Prometheus's job.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

FORMAT = 1
CLOCK_SLACK = 60.0  # seconds a saved time may be after saved_at (taken a moment before)


@dataclass(frozen=True, slots=True)
class SavedProbe:
    last_success: float | None
    up: bool | None
    since: float
    consecutive_failures: int
    consecutive_successes: int
    # Added later in format 1: files written before them load with no outage known.
    outage_start: float | None = None
    outage_seconds: float = 0.0
    last_run_end: float | None = None


# What is kept of a probe's ``ProbeState``: its fields of these names.
SAVED = tuple(f.name for f in fields(SavedProbe))


def save_state(path: Path, probes: dict[str, SavedProbe], saved_at: float,
               kinds: dict[str, Any] | None = None) -> None:
    data: dict[str, Any] = {"format": FORMAT, "saved_at": saved_at,
                            "probes": {k: asdict(v) for k, v in sorted(probes.items())}}
    if kinds:  # optional, so files without it (older ones) still load
        data["kinds"] = kinds
    body = json.dumps(data, separators=(",", ":")).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


class StateFileError(Exception):
    """The state file exists but cannot be used; the daemon starts fresh and says why."""


def _read(path: Path) -> Any:
    """The file's JSON of this format, or None when there is no file yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data: Any = json.loads(raw)
    except ValueError as exc:
        raise StateFileError(f"{path}: not a Dozor state file ({exc})") from None
    if not isinstance(data, dict):
        raise StateFileError(f"{path}: not a Dozor state file (not a mapping)")
    if data.get("format") != FORMAT:
        raise StateFileError(f"{path}: unknown format {data.get('format')!r}")
    return data


def load_state(path: Path) -> dict[str, SavedProbe]:
    """The saved probes, or {} when there is no file yet."""
    data = _read(path)
    if data is None:
        return {}
    try:
        probes = {key: SavedProbe(**entry) for key, entry in data["probes"].items()}
    except (TypeError, KeyError, AttributeError) as exc:
        raise StateFileError(f"{path}: not a Dozor state file ({exc})") from None
    saved_at = data.get("saved_at")
    for key, probe in probes.items():
        problem = _problem(probe, saved_at if _is_time(saved_at) else None)
        if problem is not None:
            # A hand-edited or foreign file must not crash the start it is restored into,
            # nor export a NaN or future outage start.
            raise StateFileError(f"{path}: probe {key!r}: {problem}")
    return probes


def load_kinds(path: Path) -> dict[str, Any]:
    """The kinds' saved parts by kind name ({} when there is none), each for its runtime to
    check: a broken part costs that kind its state, not the probes theirs."""
    data = _read(path)
    kinds = {} if data is None else data.get("kinds", {})
    if not isinstance(kinds, dict):
        raise StateFileError(f"{path}: kinds is not a mapping")
    return kinds


def _is_time(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and value >= 0)


def _problem(probe: SavedProbe, saved_at: float | None) -> str | None:
    times = {"last_success": probe.last_success, "outage_start": probe.outage_start,
             "last_run_end": probe.last_run_end, "since": probe.since}
    for name, value in times.items():
        if value is None and name != "since":
            continue
        if not _is_time(value):
            return f"{name} is not a time"
        if saved_at is not None and value is not None and value > saved_at + CLOCK_SLACK:
            return f"{name} is after the file was saved"
    if not _is_time(probe.outage_seconds):
        return "outage_seconds is not a length"
    for name in ("consecutive_failures", "consecutive_successes"):
        value = getattr(probe, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"{name} is not a count"
    if probe.up is not None and not isinstance(probe.up, bool):
        return "up is not true, false or null"
    return None
