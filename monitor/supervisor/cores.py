"""How many workers ``--workers auto`` means: the cores this process may really use.

The affinity mask (``taskset``, cpuset cgroups) says which cores it may run on; a CPU quota
(cgroup v2 ``cpu.max``, what a Kubernetes CPU limit becomes) says how much of them. A
container limited to 2 CPUs on a 64-core node sees 64 cores in its mask; 64 workers there
would each get 1/32 of a core and all miss their schedules. So: the smaller of the two,
as uber-go/automaxprocs sizes GOMAXPROCS.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def quota_cores(cpu_max: Path = CPU_MAX) -> int | None:
    """Cores the cgroup's quota allows (rounded up), or None when there is no quota."""
    try:
        quota, _, period = cpu_max.read_text().strip().partition(" ")
    except OSError:
        return None
    if quota == "max" or not quota.isdigit() or not period.isdigit() or int(period) == 0:
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def available_cores(cpu_max: Path = CPU_MAX) -> int:
    cores = len(os.sched_getaffinity(0))
    quota = quota_cores(cpu_max)
    return cores if quota is None else min(cores, quota)
