"""``dozor demo`` as a user runs it, with its real Prometheus and Alertmanager: the daemon is
scraped, the generated rules are loaded, a real alert of the demo world reaches the terminal
through the real routing to its curator, and SIGTERM leaves no child behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from html import unescape
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.processes import alive, descendants
from harness.stack import answers_200, free_port, get_json, poll, post_json
from harness.tools import ROOT

PORT_OPTIONS = ("--world-http-port", "--world-https-port", "--world-expiring-port",
                "--world-dns-port", "--world-smtp-port", "--world-grpc-port",
                "--prometheus-port", "--alertmanager-port", "--status-port")
URL_LINE = re.compile(r"^(demo world|daemon metrics|Prometheus|Alertmanager|status page|"
                      r"logs, data):"
                      r"\s+(.+)$")


class Demo:
    """``python -m monitor demo`` on free ports; its stdout collected line by line, its
    stderr (the daemon's log) in a file."""

    def __init__(self, tmp_path: Path, env_path: str | None = None) -> None:
        self.env = None if env_path is None else {**os.environ, "PATH": env_path}
        self.ports = {option: free_port() for option in PORT_OPTIONS}
        self.listen = f"127.0.0.1:{free_port()}"
        self.err = tmp_path / "demo.stderr"
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        argv = ["--log-format", "json", "demo", "--listen", self.listen]
        for option, port in self.ports.items():
            argv += [option, str(port)]
        with self.err.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "monitor", *argv, cwd=ROOT, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=err, env=self.env)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    def urls(self) -> dict[str, str]:
        return {m[1]: m[2] for line in self.lines if (m := URL_LINE.match(line))}

    def output(self) -> str:
        return ("stdout:\n" + "\n".join(self.lines) + "\nstderr (tail):\n"
                + self.err.read_text(errors="replace")[-3000:])

    async def line(self, pattern: str, timeout: float) -> str:
        found = re.compile(pattern)

        async def check() -> str | None:
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise AssertionError(f"dozor demo exited with {self.proc.returncode}\n"
                                     f"{self.output()}")
            return next((line for line in self.lines if found.search(line)), None)

        try:
            return await poll(check, timeout, f"a line matching {pattern!r}", every=0.5)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.output()}") from None

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            # Its Prometheus and Alertmanager run in sessions of their own: a test that
            # failed before the demo stopped them must not leave them behind.
            children = _stack_children(self.proc.pid)
            self.proc.kill()
            await self.proc.wait()
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


def _stack_children(root: int) -> dict[int, str]:
    found = {}
    for pid in descendants(root):
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            if command.endswith((b"/prometheus", b"/prometheus-alertmanager")):
                found[pid] = command.decode()
    return found


@pytest.mark.e2e
async def test_demo_runs_prometheus_and_alertmanager_and_prints_each_curators_alerts(
        tmp_path: Path) -> None:
    demo = Demo(tmp_path)
    started = time.monotonic()
    await demo.start()
    try:
        await demo.line(r"^Alertmanager:", timeout=60)
        urls = demo.urls()
        prom, am = urls["Prometheus"], urls["Alertmanager"]
        assert prom == f"http://127.0.0.1:{demo.ports['--prometheus-port']}"
        assert am == f"http://127.0.0.1:{demo.ports['--alertmanager-port']}"
        assert urls["daemon metrics"] == f"http://{demo.listen}/metrics"
        assert urls["demo world"] == f"http://127.0.0.1:{demo.ports['--world-http-port']}"
        workdir = Path(urls["logs, data"].removesuffix(" (removed at exit)"))
        assert await asyncio.to_thread(workdir.is_dir)
        assert demo.proc is not None
        children = _stack_children(demo.proc.pid)
        assert sorted(Path(c).name for c in children.values()) == [
            "prometheus", "prometheus-alertmanager"], children

        async def target_up() -> bool | None:
            found = await get_json(f"{prom}/api/v1/targets")
            return True if any(t["labels"]["job"] == "dozor" and t["health"] == "up"
                               for t in found["data"]["activeTargets"]) else None

        async def rules_loaded() -> set[str] | None:
            found = await get_json(f"{prom}/api/v1/rules")
            groups = {g["name"] for g in found["data"]["groups"]}
            return groups if {"dozor.alerts", "dozor.facts", "dozor-escalation"} <= groups \
                else None

        async def am_ready() -> bool | None:
            return await answers_200(f"{am}/-/ready")

        assert urls["status page"] == f"http://127.0.0.1:{demo.ports['--status-port']}/"

        async def shown_down() -> str | None:
            # The status page, within two minutes of the start: the form failing its audit
            # at every run is down now. Names as a citizen reads them, in the right section.
            home = await _text(urls["status page"])
            down = home.split("Не работают сейчас")[1].split("Плановые работы")[0]
            return down if "Присвоение адреса объекту адресации" in down else None

        await poll(am_ready, 10, "Alertmanager ready")
        await poll(rules_loaded, 10, "the dozor rule groups loaded")
        await poll(target_up, 60, "Prometheus scraping the daemon (job dozor up)")
        down = await poll(shown_down, max(1.0, 120 - (time.monotonic() - started)),
                          "the status page showing address-assignment-smo down")
        assert "✗ Не работает" in down
        alertmanagers = await get_json(f"{prom}/api/v1/alertmanagers")
        assert [a["url"] for a in alertmanagers["data"]["activeAlertmanagers"]] == [
            f"{am}/api/v2/alerts"]

        # The deputy path, which takes 10 minutes for real: an escalated page of
        # address-assignment-smo (curator lebedeva) is printed as sent to her deputy, orlov.
        await post_json(f"{am}/api/v2/alerts", [_escalation("address-assignment-smo",
                                                            "lebedeva", "RU-SMO")])
        escalated = await demo.line(r"curator-orlov FIRING DozorPageEscalated ", timeout=30)
        assert "service=address-assignment-smo curator=lebedeva" in escalated

        # A real alert: address-assignment-smo's form fails its accessibility audit at every
        # run, so its availability burns fast; the page reaches its curator and region desk.
        # How soon depends on where in the 5-minute grid the demo started (the burn rates
        # are 5-minute recordings): 80 s to over 3 minutes were seen. A hang bound, not a goal.
        fired = await demo.line(r"curator-lebedeva FIRING DozorAvailabilityBurnFast "
                                r"service=address-assignment-smo", timeout=420)
        assert "severity=page: address-assignment-smo: availability" in fired
        await demo.line(r"region-RU-SMO FIRING DozorAvailabilityBurnFast "
                        r"service=address-assignment-smo", timeout=10)
        print(f"first real notification {time.monotonic() - started:.0f}s after start:\n{fired}")
        # By now (the alert needed the window's first 5-minute steps) its figures are in too:
        # availability below the objective, said in words. (Its verdict waits for 90 % of
        # the window's scheduled runs to be done: "not enough data" on a fresh start.)

        async def shown_failing() -> str | None:
            page = await _text(urls["status page"] + "services/address-assignment-smo")
            found = re.search(r"Доступность круглосуточно (\d+,\d+) % не ниже 99,5 % ✗ нет", page)
            return found[0] if found else None

        # The first whole 5-minute step with two samples may come up to ~6 minutes after
        # start, and the page reads the window every minute: bounded from the start, not from
        # the alert, which can fire in under two minutes (240 s after it were too few, once).
        await poll(shown_failing, max(60.0, 540 - (time.monotonic() - started)),
                   "its service page showing availability below objective")

        demo.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(demo.proc.wait(), 30)
        assert code == 0, demo.output()
        survivors = {pid: c for pid, c in children.items() if alive(pid)}
        assert not survivors, survivors
        assert not await asyncio.to_thread(workdir.exists)
    finally:
        await demo.close()


async def _text(url: str) -> str:
    """A page's text as a reader sees it."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200, response.status
        html = await response.text()
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def _escalation(service: str, curator: str, region: str) -> dict[str, Any]:
    """What Prometheus' DozorPageEscalated would send (labels as the routing expects)."""
    return {"labels": {"alertname": "DozorPageEscalated", "service": service,
                       "curator": curator, "region": region, "level": "municipal",
                       "severity": "page", "escalation": "deputy",
                       "escalated_alertname": "DozorAvailabilityBurnFast"},
            "annotations": {"summary": f"DozorAvailabilityBurnFast on {service} unresolved "
                                       "for 10m: escalated to the curator's deputy"}}


@pytest.mark.e2e
async def test_demo_without_the_binaries_says_what_to_install_and_runs_on(
        tmp_path: Path) -> None:
    """PATH without prometheus and prometheus-alertmanager: the world and the daemon run, the
    terminal says which Debian packages are missing, and SIGTERM still exits 0."""
    demo = Demo(tmp_path, env_path=str(tmp_path))  # an empty directory: nothing to find
    await demo.start()
    try:
        await demo.line(r"^Alertmanager:", timeout=60)
        urls = demo.urls()
        await demo.line(r"^status page:", timeout=10)
        urls = demo.urls()
        assert urls["Prometheus"] == urls["Alertmanager"] == "not started (see above)"
        assert urls["status page"] == "not started (it reads Prometheus)"
        # The URLs are printed before the daemon has bound its port.
        await poll(lambda: answers_200(urls["daemon metrics"]), 30, "the daemon's /metrics")
        err = await asyncio.to_thread(demo.err.read_text)
        assert "install the Debian package `prometheus`" in err
        assert "install the Debian package `prometheus-alertmanager`" in err
        assert demo.proc is not None
        assert not _stack_children(demo.proc.pid)
        demo.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(demo.proc.wait(), 30) == 0, demo.output()
    finally:
        await demo.close()
