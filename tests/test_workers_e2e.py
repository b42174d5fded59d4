"""``dozor run --workers N`` as a user runs it: one supervisor, N worker processes, one port.

Every test drives the real command against a real local target that records each request
(path = the probing service), so what is checked is what the services saw: who probed,
when, how often. Bounds are grid slots (a run for grid point k arrives before k + 1, as in
test_reload_exact.py) and hang bounds, never a latency figure.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.catalog_factory import catalog_dict, write_catalog
from harness.dozor_process import DozorProcess
from harness.stack import free_port, poll, recording_target
from harness.tools import ROOT, metrics_body, promtool_check_metrics, samples
from monitor.runtime.plan import start_offset
from monitor.runtime.shard import owner

pytestmark = pytest.mark.e2e  # real supervisor and worker processes

SERVICES = 12
INTERVAL = 2.0
TOKEN = "workers-heartbeat-token-0123456789"


@pytest.fixture
async def target() -> AsyncIterator[tuple[str, dict[str, list[float]]]]:
    async with recording_target() as found:
        yield found


def _catalog(url: str, services: range) -> dict[str, Any]:
    data = catalog_dict([f"{url}/svc-{i:05d}" for i in services], interval=f"{INTERVAL:g}s",
                        timeout="1s")
    for spec, i in zip(data["services"], services, strict=True):
        spec["id"] = f"svc-{i:05d}"
    return data


def _share(worker: int, workers: int, services: range) -> list[str]:
    return [f"svc-{i:05d}" for i in services if owner(f"svc-{i:05d}", workers) == worker]


def _events(dozor: DozorProcess, event: str) -> list[dict[str, Any]]:
    found = []
    for line in dozor.log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == event:
                found.append(entry)
    return found


def _slot(service: str, at: float) -> int:
    offset = start_offset(f"{service}/portal", INTERVAL)
    return math.floor((at - offset) / INTERVAL)


def _value(found: dict[Any, float], name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


async def _merged(dozor: DozorProcess) -> dict[Any, float]:
    body = await metrics_body(dozor.url)
    check = promtool_check_metrics(body)
    assert check.returncode == 0, check.stdout + check.stderr
    lines = [line.split(" ")[0] for line in body.decode().splitlines()
             if line and not line.startswith("#")]
    doubled = [line for line, count in Counter(lines).items() if count > 1]
    assert not doubled, f"series exported twice: {doubled[:5]}"
    return samples(body)


@pytest.fixture
async def workers(tmp_path: Path, target: tuple[str, dict[str, list[float]]]
                  ) -> AsyncIterator[DozorProcess]:
    url, _ = target
    config = write_catalog(tmp_path / "catalog.yaml", _catalog(url, range(SERVICES)))
    dozor = DozorProcess(config, "loc", tmp_path / "dozor.log",
                         state_file=tmp_path / "state.json",
                         extra=("--workers", "2", "--worker-timeout", "3"))
    await dozor.start()
    try:
        yield dozor
    finally:
        await dozor.close()


async def test_one_port_serves_every_workers_share_once(
        workers: DozorProcess, target: tuple[str, dict[str, list[float]]]) -> None:
    _, seen = target
    await poll(lambda: _all_seen(seen, range(SERVICES)), 20, "every service probed")
    found = await _merged(workers)
    shares = [_share(w, 2, range(SERVICES)) for w in (0, 1)]
    assert all(shares), "the catalog must give each worker a share for this test"
    for w, share in enumerate(shares):
        assert _value(found, "dozor_worker_up", worker=str(w)) == 1
        assert _value(found, "dozor_probes_configured", worker=str(w)) == len(share)
        assert _value(found, "dozor_shard_info", shard=f"{w}/2", worker=str(w)) == 1
    # Every service's series once (checked in _merged), from whichever worker owns it.
    configured = {dict(labels)["service"] for (name, labels) in found
                  if name == "dozor_probe_interval_seconds"}
    assert configured == {f"svc-{i:05d}" for i in range(SERVICES)}
    # What both workers export alike is written once: one region_info per region.
    regions = [labels for (name, labels) in found if name == "dozor_region_info"]
    assert len(regions) == 2


async def _all_seen(seen: dict[str, list[float]], services: range) -> bool | None:
    return all(seen.get(f"svc-{i:05d}") for i in services) or None


async def test_a_killed_worker_is_restarted_its_share_probed_again_and_nothing_doubled(
        workers: DozorProcess, target: tuple[str, dict[str, list[float]]]) -> None:
    _, seen = target
    await poll(lambda: _all_seen(seen, range(SERVICES)), 20, "every service probed")
    ready = {e["worker"]: e["pid"] for e in _events(workers, "worker ready")}
    assert sorted(_children(workers.pid)) == sorted(ready.values())
    share = _share(1, 2, range(SERVICES))
    killed_at = time.time()
    os.kill(ready["1"], signal.SIGKILL)

    # While it is down and starting again, each scrape is clean and has no series twice.
    async def restarted() -> float | None:
        found = await _merged(workers)
        if _value(found, "dozor_worker_restarts_total", worker="1") != 1:
            return None
        if _value(found, "dozor_worker_up", worker="1") != 1:
            return None
        return time.time()

    await poll(restarted, 60, "worker 1 started again")
    again = [e for e in _events(workers, "worker ready") if e["worker"] == "1"]
    assert len(again) == 2 and again[1]["pid"] != ready["1"]
    ready_at = _log_time(again[1])

    # Its share is probed again within one interval of the worker being ready: the run of
    # the first grid point after it arrives before the next grid point.
    def probed_again() -> bool:
        return all(any(_slot(s, t) <= _slot(s, ready_at) + 1 and t > killed_at
                       for t in seen[s]) for s in share)

    await poll(_sync(probed_again), 30, "the killed worker's share probed again")
    await asyncio.sleep(2 * INTERVAL)
    # Nothing probed twice in one grid slot, before, across or after the restart.
    for service, times in seen.items():
        slots = [_slot(service, t) for t in times]
        assert len(slots) == len(set(slots)), f"{service} probed twice in a slot: {slots}"
    # The other worker never stopped.
    assert [e["worker"] for e in _events(workers, "worker ready")].count("0") == 1


def _log_time(entry: dict[str, Any]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()


def _sync(check: Any) -> Any:
    async def run() -> bool | None:
        return check() or None

    return run


async def test_reload_applies_to_every_worker_or_to_none(
        workers: DozorProcess, target: tuple[str, dict[str, list[float]]],
        tmp_path: Path) -> None:
    url, seen = target
    config = workers.config

    async def configured() -> tuple[float | None, float | None]:
        found = await _merged(workers)
        return (_value(found, "dozor_probes_configured", worker="0"),
                _value(found, "dozor_probes_configured", worker="1"))

    before = await configured()
    # A broken catalog: rejected by both, with its errors in the log; nothing changes.
    config.write_text(config.read_text().replace("interval: 2s", "interval: soon"))
    os.kill(workers.pid, signal.SIGHUP)
    await poll(_sync(lambda: _events(workers, "reload rejected; every worker keeps the "
                                              "running catalog")), 30, "reload rejected")
    assert await configured() == before
    found = await _merged(workers)
    assert _value(found, "dozor_config_last_reload_successful", worker="0") == 0
    assert _value(found, "dozor_config_last_reload_successful", worker="1") == 0

    # A hung worker: the reload fails and neither worker applies the new catalog.
    grown = range(SERVICES + 6)
    write_catalog(config, _catalog(url, grown))
    stopped = {e["worker"]: e["pid"] for e in _events(workers, "worker ready")}["1"]
    os.kill(stopped, signal.SIGSTOP)
    try:
        os.kill(workers.pid, signal.SIGHUP)
        await poll(_sync(lambda: len(_events(workers, "reload rejected; every worker keeps "
                                                      "the running catalog")) == 2),
                   30, "reload with a hung worker rejected")
    finally:
        os.kill(stopped, signal.SIGCONT)
    await asyncio.sleep(2 * INTERVAL)  # time for a wrongly applied catalog to show
    assert await configured() == before
    added = [f"svc-{i:05d}" for i in range(SERVICES, SERVICES + 6)]
    assert not any(seen.get(s) for s in added), "a rejected catalog's service was probed"

    # Both answer again: the same catalog applies to both.
    os.kill(workers.pid, signal.SIGHUP)
    await poll(_sync(lambda: _events(workers, "catalog reloaded by every worker")), 30,
               "reload applied")
    after = await configured()
    assert after == (len(_share(0, 2, grown)), len(_share(1, 2, grown)))
    await poll(lambda: _all_seen(seen, grown), 20, "the added services probed")


async def test_state_survives_a_change_of_worker_count(
        tmp_path: Path, target: tuple[str, dict[str, list[float]]]) -> None:
    url, seen = target
    config = write_catalog(tmp_path / "catalog.yaml", _catalog(url, range(SERVICES)))
    state = tmp_path / "state.json"
    dozor = DozorProcess(config, "loc", tmp_path / "dozor.log", state_file=state,
                         extra=("--workers", "2"))
    await dozor.start()
    try:
        await poll(lambda: _all_seen(seen, range(SERVICES)), 20, "every service probed")
        kids = _children(dozor.pid)
        assert len(kids) == 2
        assert await dozor.stop() == 0
    finally:
        await dozor.close()
    assert sorted(p.name for p in tmp_path.glob("state.json*")) == [  # noqa: ASYNC240
        "state.json.worker-0", "state.json.worker-1"]
    assert not [pid for pid in kids if _alive(pid)], "a worker outlived its supervisor's stop"
    one = DozorProcess(config, "loc", tmp_path / "one.log", state_file=state,
                       extra=("--workers", "1"), port=dozor.port)
    await one.start()
    try:
        restored = sum(e["probes"] for e in _events(one, "state restored"))
        assert restored >= SERVICES  # every probe, from the two files it did not write
        found = await _merged(one)
        assert all(_value(found, "dozor_probe_last_success_timestamp_seconds",
                          service=f"svc-{i:05d}", probe="portal", location="loc")
                   for i in range(SERVICES))
    finally:
        await one.close()


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("own_listener", [False, True], ids=["main port", "heartbeat-listen"])
async def test_heartbeat_pings_reach_the_worker_that_owns_the_token(
        tmp_path: Path, target: tuple[str, dict[str, list[float]]], own_listener: bool) -> None:
    url, _ = target
    data = _catalog(url, range(SERVICES))
    data["services"][5]["probes"] = [
        {"name": "export", "heartbeat": {"token": TOKEN, "period": "1d"}}]
    config = write_catalog(tmp_path / "catalog.yaml", data)
    ping_port = free_port()
    extra = ("--workers", "2", *(("--heartbeat-listen", f"127.0.0.1:{ping_port}")
                                 if own_listener else ()))
    dozor = DozorProcess(config, "loc", tmp_path / "dozor.log", extra=extra)
    await dozor.start()
    pings = f"http://127.0.0.1:{ping_port}" if own_listener else dozor.url
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{pings}/ping/{TOKEN}", data=b"done") as got:
                assert got.status == 200
            async with http.get(f"{pings}/ping/{TOKEN}x") as got:
                assert got.status == 404
            if own_listener:  # as one process does: not on the metrics port then
                async with http.post(f"{dozor.url}/ping/{TOKEN}") as got:
                    assert got.status == 404

        async def judged() -> dict[Any, float] | None:  # the kind's series come with a run
            found = await _merged(dozor)
            return found if _value(found, "dozor_heartbeat_last_ping_timestamp_seconds",
                                   service="svc-00005", probe="export", location="loc") else None

        found = await poll(judged, 20, "the ping seen by the heartbeat's run")
        owning = str(owner("svc-00005", 2))
        assert _value(found, "dozor_heartbeat_pings_total", outcome="accepted", worker=owning) == 1
    finally:
        await dozor.close()


async def test_an_invalid_catalog_stops_the_start_with_its_errors_once(tmp_path: Path) -> None:
    data = _catalog("http://127.0.0.1:1", range(4))
    data["services"][1]["region"] = "RU-XXX"
    config = write_catalog(tmp_path / "catalog.yaml", data)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "--config", str(config), "--listen", "127.0.0.1:0",
        "--workers", "2", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=ROOT)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    lines = [line for line in err.decode().splitlines() if "RU-XXX" in line]
    assert len(lines) == 1 and lines[0].startswith(f"{config}:"), err.decode()[-2000:]


async def test_workers_do_not_combine_with_a_shard(tmp_path: Path) -> None:
    config = write_catalog(tmp_path / "catalog.yaml", _catalog("http://127.0.0.1:1", range(2)))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "--config", str(config), "--workers", "2",
        "--shard", "0/2", stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and b"--workers does not combine with --shard" in err


async def test_workers_stop_when_their_supervisor_is_killed(
        tmp_path: Path, target: tuple[str, dict[str, list[float]]]) -> None:
    url, _ = target
    config = write_catalog(tmp_path / "catalog.yaml", _catalog(url, range(4)))
    dozor = DozorProcess(config, "loc", tmp_path / "dozor.log", extra=("--workers", "2"))
    await dozor.start()
    kids: list[int] = []
    try:
        kids = _children(dozor.pid)
        assert len(kids) == 2
        assert await dozor.stop(signal.SIGKILL) == -signal.SIGKILL
        # Their channel closed: each stops as a daemon does (grace 10 s by default).
        await poll(_sync(lambda: not [pid for pid in kids if _alive(pid)]), 30,
                   "orphaned workers to stop")
    finally:
        await dozor.close()
        for pid in kids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


async def test_a_reload_while_every_worker_is_down_is_rejected_not_crashed(
        workers: DozorProcess) -> None:
    for pid in _children(workers.pid):
        os.kill(pid, signal.SIGKILL)

    async def both_down() -> bool | None:
        found = samples(await metrics_body(workers.url))
        return all(_value(found, "dozor_worker_up", worker=w) == 0 for w in "01") or None

    await poll(both_down, 10, "the supervisor to see both workers gone", every=0.05)
    os.kill(workers.pid, signal.SIGHUP)  # within the restart backoff: no worker to ask
    await poll(_sync(lambda: [e for e in _events(workers, "worker ready")
                              if e["worker"] == "0"][1:]), 60, "the workers started again")
    rejected = [e for e in _events(workers, "reload rejected: no worker is running")
                + _events(workers, "reload rejected; every worker keeps the running catalog")]
    assert rejected, workers.output()
    assert "Traceback" not in workers.log.read_text(errors="replace")
    found = await _merged(workers)
    assert _value(found, "dozor_worker_up", worker="0") == 1
