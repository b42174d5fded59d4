"""The running daemon: the plan of jobs, the scheduler, confirmation state, the state file
that carries it across restarts, sharding and logging."""
