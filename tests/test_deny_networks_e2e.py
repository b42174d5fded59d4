"""``dozor run --deny-networks`` as an operator runs it: the real command, one process and
``--workers 2``, against real local targets. A denied probe is a failed run with reason
``denied`` in the exported series and its target sees nothing; a probe outside the list runs
as ever; the start log names the list; a bad CIDR is a usage error (exit 2)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from harness.catalog_factory import catalog_dict, write_catalog
from harness.dozor_process import DozorProcess
from harness.stack import poll
from harness.tools import dozor, scrape

DENIED = "127.0.0.2"
INTERVAL = "1s"


@contextlib.asynccontextmanager
async def recording(host: str) -> AsyncIterator[tuple[str, dict[str, int]]]:
    """An HTTP target on ``host`` answering 200 and counting requests by path."""
    seen: dict[str, int] = defaultdict(int)

    async def handle(request: web.Request) -> web.Response:
        seen[request.path] += 1
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, 0).start()
    try:
        yield f"{host}:{runner.addresses[0][1]}", seen
    finally:
        await runner.cleanup()


def _catalog(allowed: str, denied: str) -> dict[str, Any]:
    """svc-00000: an HTTP and a TCP probe into the denied address (the HTTP session's
    connector and the run's context each carry the list); svc-00001: HTTP outside it."""
    data = catalog_dict([f"http://{denied}/svc-00000", f"http://{allowed}/svc-00001"],
                        interval=INTERVAL, timeout="500ms")
    data["services"][0]["probes"].append({"name": "port", "tcp": {"address": denied}})
    return data


def _started(log: Path) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in log.read_text(errors="replace").splitlines()
              if line.startswith("{")]
    return [e for e in events if e.get("event") == "dozor started"]


def _value(found: dict[Any, float], name: str, **labels: str) -> float:
    return sum(value for (metric, got), value in found.items()
               if metric == name and set(labels.items()) <= got)


@pytest.mark.e2e
@pytest.mark.parametrize("workers", [None, 2], ids=["one-process", "two-workers"])
async def test_denied_probes_fail_with_reason_denied(tmp_path: Path, workers: int | None
                                                     ) -> None:
    async with recording("127.0.0.1") as (allowed, allowed_seen), \
            recording(DENIED) as (denied, denied_seen):
        config = write_catalog(tmp_path / "catalog.yaml", _catalog(allowed, denied))
        extra: tuple[str, ...] = ("--deny-networks", "127.0.0.2/32",
                                  "--deny-networks", "169.254.0.0/16")
        if workers is not None:
            extra += ("--workers", str(workers))
        daemon = DozorProcess(config, "deny", tmp_path / "dozor.log", extra=extra)
        try:
            await daemon.start()

            async def settled() -> dict[Any, float] | None:
                found = await scrape(daemon.url)
                runs = [_value(found, "dozor_probe_failures_total", service="svc-00000",
                               probe=probe, reason="denied") for probe in ("portal", "port")]
                ok = _value(found, "dozor_probes_total", service="svc-00001", result="success")
                return found if min(runs) >= 2 and ok >= 2 else None

            found = await poll(settled, 30, "denied and allowed runs exported")
        finally:
            await daemon.close()
    for probe in ("portal", "port"):
        assert _value(found, "dozor_probes_total", service="svc-00000", probe=probe,
                      result="success") == 0
        assert _value(found, "dozor_probe_success", service="svc-00000", probe=probe) == 0
    # reason="denied" is pre-set like every reason, so an allowed probe exports it as 0.
    assert _value(found, "dozor_probe_failures_total", service="svc-00001",
                  reason="denied") == 0
    assert dict(denied_seen) == {}, "nothing reaches a denied address"
    assert allowed_seen["/svc-00001"] >= 2
    started = _started(daemon.log)
    assert started and all(e["denied_networks"] == ["127.0.0.2/32", "169.254.0.0/16"]
                           for e in started)
    # One process logs once; the supervisor and each worker log their own start.
    assert len(started) == (1 if workers is None else 1 + workers)


@pytest.mark.parametrize(("value", "message"), [
    ("10.0.0.300/8", "argument --deny-networks: '10.0.0.300/8' is not a network in CIDR "
                     "notation"),
    ("127.0.0.2/8", "argument --deny-networks: '127.0.0.2/8' has host bits set; did you mean "
                    "127.0.0.0/8?"),
])
async def test_a_bad_network_is_a_usage_error(tmp_path: Path, value: str, message: str
                                              ) -> None:
    config = write_catalog(tmp_path / "catalog.yaml", catalog_dict(["http://127.0.0.1:1/"]))
    done = await asyncio.to_thread(dozor, "run", "--config", str(config),
                                   "--deny-networks", value)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stderr.splitlines()[-1].startswith("dozor run: error: argument --deny-networks")
