"""``dozor run --workers N``: one supervisor process, N worker daemons (see supervisor.py)."""

from monitor.supervisor.supervisor import Supervisor, SupervisorOptions, WorkersFailed

__all__ = ["Supervisor", "SupervisorOptions", "WorkersFailed"]
