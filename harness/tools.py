"""Locating the real Prometheus tools the tests drive (installed from Debian packages), and
reading an exposition the way they would."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]  # (name, labels) -> value

ROOT = Path(__file__).resolve().parent.parent


def dozor(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m monitor ARGS`` run from the repository root, output captured as text; the
    exit status is the caller's to check. ``env`` replaces the environment when given."""
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, check=False, env=env)


def print_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    """Rows of text under a header, columns padded to their widest cell (a test's figures)."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def require(tool: str) -> str:
    """Path of ``tool``; on CI a missing tool is an error, never a silent skip."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed; run `make test` (it installs the Debian packages)")
    return path


def promtool_check_metrics(exposition: bytes) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require("promtool"), "check", "metrics"], input=exposition.decode(),
        capture_output=True, text=True, timeout=30, check=False,
    )


def samples(exposition: bytes) -> Samples:
    """Every sample of a text exposition, keyed by name and label set."""
    families = text_string_to_metric_families(exposition.decode())
    return {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples}


async def metrics_body(base: str) -> bytes:
    """The body of ``GET {base}/metrics`` (``base``: a daemon's URL), which must answer 200."""
    async with aiohttp.ClientSession() as s, s.get(f"{base}/metrics") as r:
        assert r.status == 200, r.status
        return await r.read()


async def scrape(base: str) -> Samples:
    """Every sample of the daemon at ``base``'s /metrics."""
    return samples(await metrics_body(base))


async def post_reload(base: str, token: str) -> tuple[int, str]:
    """``POST {base}/-/reload`` with the bearer ``token``: the status and the body."""
    async with aiohttp.ClientSession() as s, s.post(
            f"{base}/-/reload", headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.text()
