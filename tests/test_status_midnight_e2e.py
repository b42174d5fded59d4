"""`dozor status` at the turn of a Moscow day and month, under a pinned clock (libfaketime):
the status world (tests/status_history.py) ends at the pinned time, and the real CLI's wall
clock runs from it.

Three stops, one per test run whatever the hour: 23:55:30 on a month's last day, 00:00:30 on
the 1st (the new day has no finished 5-minute step yet) and 00:05:30 (its first step). The
status tests failed three nights running at such hours; here each is reached on purpose:
every service's 90 daily bars against the truth, the rolling window's end, the previous
month's label and the state now.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from harness import clock
from tests import status_history as h

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not clock.AVAILABLE, reason="needs Debian's faketime (make debs)"),
]

STOPS = {"month-end-23:55:30": -270, "new-day-00:00:30": 30, "first-step-00:05:30": 330}


def _turn_of_month() -> float:
    """The latest 1st-of-month Moscow midnight at least an hour ago: Prometheus' own clock is
    real, so the pinned history stays in its past."""
    at = dt.datetime.fromtimestamp(time.time() - 3600, h.MSK)
    return dt.datetime(at.year, at.month, 1, tzinfo=h.MSK).timestamp()


@dataclass(frozen=True)
class Pinned:
    """The site and the pinned clock it runs on."""

    site: h.Site
    offset: float

    def now(self) -> float:
        return time.time() + self.offset


@pytest.fixture(scope="module", params=list(STOPS), ids=list(STOPS))
def pinned(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Pinned]:
    at = _turn_of_month() + STOPS[request.param]
    offset = at - time.time()
    work = tmp_path_factory.mktemp("midnight")
    for prometheus in h.history_prometheus(work, at=at):
        for site in h.serve_status(work, prometheus, "--refresh", "3600",
                                   "--window-refresh", "3600",
                                   env=clock.pinned_clock(f"{offset:+.0f}s")):
            yield Pinned(site, offset)


def test_every_daily_bar_agrees_with_the_truth(pinned: Pinned) -> None:
    now = pinned.now()
    bars = {svc.id: h.check_bars(pinned.site.text(f"/services/{svc.id}"), svc, now)
            for svc in h.SERVICES}
    for sid, classes in bars.items():
        assert "ok" in classes or "bad" in classes, sid  # yesterday, at least, has data
    today = dt.datetime.fromtimestamp(now, h.MSK)
    first_step = dt.datetime.combine(today.date(), dt.time(0, 5), h.MSK).timestamp()
    # Today's bar has data from its first whole step on, and none before.
    assert bars["healthy"][-1] == ("ok" if now >= first_step else "none")


def test_the_window_and_the_previous_month_follow_the_pinned_clock(pinned: Pinned) -> None:
    summary: dict[str, Any] = pinned.site.json("/api/v1/summary")
    now = pinned.now()
    fresh = summary["freshness"]
    end = dt.datetime.fromisoformat(fresh["window_end"]).timestamp()
    start = dt.datetime.fromisoformat(fresh["window_start"]).timestamp()
    assert end == h.LAST and end - start == 30 * 86400
    first = dt.datetime.fromtimestamp(now, h.MSK).replace(day=1)
    before = first - dt.timedelta(days=1)
    assert summary["previous_month"] == f"{before:%Y-%m}"
    down = {b["id"] for b in summary["down"]}
    assert down == {"broken"}, down
