"""APScheduler's asyncio scheduler, woken by its own timer without a cross-thread hop.

``AsyncIOScheduler.wakeup`` is wrapped to run through ``call_soon_threadsafe`` (it may be
called from any thread), and its timer calls that wrapper: every fire then writes to the
loop's self-pipe and reads it back one loop iteration later, two syscalls and an extra
iteration per probe run. The timer always fires on the loop, so it can process jobs directly.
Calls from elsewhere (``add_job``, ``reschedule_job``, ``resume``) keep the safe path.
"""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler


class LoopScheduler(AsyncIOScheduler):  # type: ignore[misc]  # apscheduler is untyped
    def _start_timer(self, wait_seconds: float | None) -> None:
        self._stop_timer()
        if wait_seconds is not None:
            self._timeout = self._eventloop.call_later(wait_seconds, self._fire)

    def _fire(self) -> None:
        # What the wrapped wakeup does, minus the hop: stop the timer, process, re-arm.
        self._stop_timer()
        self._start_timer(self._process_jobs())
