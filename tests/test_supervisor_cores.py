"""``--workers auto``: the affinity mask, capped by a cgroup v2 CPU quota."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.cli import _parser
from monitor.supervisor.cores import available_cores, quota_cores


@pytest.mark.parametrize(("text", "cores"), [
    ("max 100000\n", None),           # no limit
    ("200000 100000\n", 2),           # limits: cpu: 2
    ("150000 100000\n", 2),           # 1.5 CPUs: two workers, each a share
    ("50000 100000\n", 1),            # half a CPU: still one worker
    ("garbage", None),
])
def test_quota(tmp_path: Path, text: str, cores: int | None) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text(text)
    assert quota_cores(cpu_max) == cores


def test_available_cores_is_the_smaller_of_mask_and_quota(tmp_path: Path) -> None:
    mask = len(os.sched_getaffinity(0))
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("100000 100000\n")
    assert available_cores(cpu_max) == 1
    cpu_max.write_text(f"{(mask + 8) * 100000} 100000\n")
    assert available_cores(cpu_max) == mask
    assert available_cores(tmp_path / "absent") == mask


def test_workers_flag() -> None:
    args = _parser().parse_args(["run", "--config", "c.yaml", "--workers", "3"])
    assert args.workers == 3
    auto = _parser().parse_args(["run", "--config", "c.yaml", "--workers", "auto"])
    assert auto.workers == available_cores()
    with pytest.raises(SystemExit):
        _parser().parse_args(["run", "--config", "c.yaml", "--workers", "0"])
