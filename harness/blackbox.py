"""The real blackbox_exporter (Debian's ``prometheus-blackbox-exporter``) as a test oracle.

:class:`Blackbox` writes a config file with the given modules, starts the binary on a free
port of 127.0.0.1, waits until it answers, and :meth:`Blackbox.probe` returns one /probe
exposition as ``{series: value}``, series spelled ``name`` or ``name{label="value",...}``
with labels sorted, e.g. ``probe_http_duration_seconds{phase="processing"}``.

Timeouts: blackbox probes for ``min(module timeout, X-Prometheus-Scrape-Timeout-Seconds -
--timeout-offset)``; the header defaults to 120 s when absent. :meth:`Blackbox.probe` always
sends the header as ``module timeout + offset`` (pass ``scrape_timeout`` to override), so
the module's ``timeout`` is exactly the probe's budget, and a test can give Dozor the same.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from harness.stack import free_port
from harness.tools import require

BINARY = "prometheus-blackbox-exporter"
TIMEOUT_OFFSET = 0.5  # blackbox's --timeout-offset default, passed explicitly anyway
_STARTUP = 10.0  # seconds to wait for the process to answer
_DEFAULT_MODULE_TIMEOUT = 5.0


def version() -> str:
    """The first line of ``--version``, e.g. ``blackbox_exporter, version 0.23.0 (...)``."""
    out = subprocess.run([require(BINARY), "--version"], capture_output=True, text=True,
                         timeout=10, check=True)
    return (out.stdout or out.stderr).splitlines()[0]


def _parse_duration(text: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0}
    for unit in ("ms", "s", "m"):  # "ms" before "s" and "m"
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    raise ValueError(f"unsupported duration {text!r} in a blackbox module")


def parse_exposition(text: str) -> dict[str, float]:
    series: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            series[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return series


class Blackbox:
    """One blackbox_exporter process; use as a context manager (kills it on exit)."""

    def __init__(self, modules: Mapping[str, Mapping[str, Any]], workdir: Path) -> None:
        self.modules = {name: dict(module) for name, module in modules.items()}
        self.workdir = workdir
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Blackbox:
        config = self.workdir / "blackbox.yml"
        config.write_text(yaml.safe_dump({"modules": self.modules}))
        binary = require(BINARY)
        check = subprocess.run([binary, f"--config.file={config}", "--config.check"],
                               capture_output=True, text=True, timeout=10, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"blackbox rejects the generated config:\n{check.stderr}")
        for _attempt in range(3):  # the free port can be taken between probing and binding
            self.port = free_port()
            log = (self.workdir / "blackbox.log").open("wb")
            self._process = subprocess.Popen(
                [binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{self.port}",
                 f"--timeout-offset={TIMEOUT_OFFSET}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT,
            )
            log.close()
            if self._wait_ready():
                return self
            self.close()
        raise RuntimeError(f"blackbox did not start:\n{self.log()}")

    def _wait_ready(self) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + _STARTUP
        while time.monotonic() < deadline and self._process.poll() is None:
            with (contextlib.suppress(OSError, urllib.error.URLError),
                  urllib.request.urlopen(f"{self.url}/-/healthy", timeout=1) as response):
                if response.status == 200:
                    return True
            time.sleep(0.05)
        return False

    def log(self) -> str:
        path = self.workdir / "blackbox.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.kill()
        process.wait(timeout=10)

    def __enter__(self) -> Blackbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    def module_timeout(self, module: str) -> float:
        raw = self.modules[module].get("timeout")
        return _DEFAULT_MODULE_TIMEOUT if raw is None else _parse_duration(str(raw))

    async def probe(
        self, target: str, module: str, *, scrape_timeout: float | None = None
    ) -> dict[str, float]:
        """One /probe run; the series blackbox exposed for it."""
        text = await self._get(target, module, scrape_timeout, debug=False)
        return parse_exposition(text)

    async def debug(self, target: str, module: str) -> str:
        """blackbox's own log of one run (``debug=true``): what it did and why it failed."""
        return await self._get(target, module, None, debug=True)

    async def _get(
        self, target: str, module: str, scrape_timeout: float | None, *, debug: bool
    ) -> str:
        if scrape_timeout is None:
            scrape_timeout = self.module_timeout(module) + TIMEOUT_OFFSET
        params = {"target": target, "module": module}
        if debug:
            params["debug"] = "true"
        headers = {"X-Prometheus-Scrape-Timeout-Seconds": f"{scrape_timeout:g}"}
        # The client's own budget is generous: blackbox always answers, failures included.
        budget = aiohttp.ClientTimeout(total=scrape_timeout + 5)
        async with aiohttp.ClientSession(timeout=budget) as session, session.get(
            f"{self.url}/probe", params=params, headers=headers
        ) as response:
            text = await response.text()
            if response.status != 200:
                raise RuntimeError(f"blackbox /probe answered {response.status}: {text}")
            return text

