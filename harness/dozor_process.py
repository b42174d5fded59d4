"""``dozor run`` as a real subprocess on a fixed 127.0.0.1 port, so a test can SIGTERM or
SIGKILL it and start it again at the same address, the one Prometheus scrapes.

Every wait is bounded; ``close`` kills whatever is still running.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.stack import answers_200, free_port, poll
from harness.tools import ROOT


@dataclass
class DozorProcess:
    """One vantage point: ``python -m monitor run`` from the repository root, JSON logs of
    every start appended to ``log``."""

    config: Path
    location: str
    log: Path
    state_file: Path | None = None
    port: int = field(default_factory=free_port)
    extra: tuple[str, ...] = ()  # more `dozor run` flags
    env: dict[str, str] | None = None  # added to this process's environment
    _proc: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def pid(self) -> int:
        assert self._proc is not None, f"{self.location} was never started"
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self, timeout: float = 30.0) -> None:
        """Start it and wait until it answers /healthz."""
        assert not self.running, f"{self.location} is already running"
        argv = ["--log-format", "json", "run", "--config", str(self.config),
                "--listen", self.address, "--location", self.location]
        if self.state_file is not None:
            argv += ["--state-file", str(self.state_file)]
        argv += self.extra
        with self.log.open("ab") as out:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "monitor", *argv, cwd=ROOT,
                env=None if self.env is None else {**os.environ, **self.env},
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        await poll(self._healthy, timeout, f"dozor run at {self.url} ({self.location})")

    async def _healthy(self) -> bool | None:
        if not self.running:
            raise AssertionError(f"dozor run ({self.location}) exited:\n{self.output()}")
        return await answers_200(f"{self.url}/healthz")

    async def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``sig`` and wait for the exit; its status (``-9`` after SIGKILL). Not gone
        within ``timeout``: killed, and an AssertionError."""
        proc = self._proc
        assert proc is not None and proc.returncode is None, f"{self.location} is not running"
        proc.send_signal(sig)
        try:
            return await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise AssertionError(f"dozor run ({self.location}) ignored {sig.name} for "
                                 f"{timeout:.0f}s:\n{self.output()}") from None

    async def close(self) -> None:
        if self.running:
            await self.stop(signal.SIGKILL)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]
