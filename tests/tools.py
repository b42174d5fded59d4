"""Locating the real Prometheus tools the tests drive (installed from Debian packages)."""

from __future__ import annotations

import shutil
import subprocess

import pytest


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
