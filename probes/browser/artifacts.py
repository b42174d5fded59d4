"""Evidence of a failed browser run, kept on disk for the curator who has to see what the
citizen saw: the page's screenshot, screenshots a ``screenshot`` step took, and a JSON report
(steps, console messages, page errors, failed requests, accessibility violations).

Written only for failed runs, under ``<dir>/<service>/<probe>/<UTC time>-<reason>/``; after
each write the probe's older runs beyond ``keep`` or ``max_age`` are deleted. Written in a
thread: disk I/O never stalls the event loop that times other probes.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class Evidence:
    reason: str
    detail: str
    screenshot: bytes | None = None
    shots: list[tuple[str, bytes]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ArtifactStore:
    root: Path
    keep: int = 20
    max_age: float = 7 * 86400.0

    async def write(self, service: str, probe: str, evidence: Evidence) -> Path:
        return await asyncio.to_thread(self._write, service, probe, evidence, time.time())

    def _write(self, service: str, probe: str, evidence: Evidence, now: float) -> Path:
        probe_dir = self.root / _safe(service) / _safe(probe)
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        run_dir = probe_dir / f"{stamp}-{_safe(evidence.reason)}"
        run_dir.mkdir(parents=True, exist_ok=True)
        if evidence.screenshot is not None:
            (run_dir / "screenshot.png").write_bytes(evidence.screenshot)
        for index, (label, png) in enumerate(evidence.shots):
            (run_dir / f"step-{index + 1}-{_safe(label)}.png").write_bytes(png)
        report = {"service": service, "probe": probe, "time": stamp, "reason": evidence.reason,
                  "detail": evidence.detail, **evidence.report}
        (run_dir / "report.json").write_text(
            json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        self._prune(probe_dir, now)
        return run_dir

    def _prune(self, probe_dir: Path, now: float) -> None:
        # Names start with the UTC time, so name order is age order.
        runs = sorted((p for p in probe_dir.iterdir() if p.is_dir()), key=lambda p: p.name)
        for index, run in enumerate(runs):
            too_many = index < len(runs) - self.keep
            try:
                too_old = now - run.stat().st_mtime > self.max_age
            except OSError:
                continue
            if too_many or too_old:
                shutil.rmtree(run, ignore_errors=True)


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name)[:100] or "_"
