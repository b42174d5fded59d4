"""The report's coverage arithmetic (monitor.report.coverage) on hand-made step series: when
an absence's runs stop being due, the location quorum, and which stretches are no data.
The queries behind it run against a real Prometheus in test_report.py."""

from __future__ import annotations

import pytest

from monitor.report.client import Series
from monitor.report.coverage import (
    Absence,
    Daemons,
    absence_end,
    absences,
    tally,
    under_way,
)
from monitor.report.period import Period

STEP = 300
DAY = 86400
PERIOD = Period("2026-09", 0.0, 10 * DAY, complete=True)
A = (("instance", "a:9247"), ("job", "dozor"))


def steps(first: float, last: float) -> list[float]:
    """The period's steps in [first, last]."""
    return [float(t) for t in range(int(first), int(last) + 1, STEP)]


def daemons(a: list[float], window: float = 30 * DAY,
            before: dict[tuple[tuple[str, str], ...], float] | None = None) -> Daemons:
    """Daemon A scraped at the steps ``a``."""
    return Daemons(steps={A: a}, before=before or {}, window=window)


def test_each_run_of_dropped_steps_is_one_absence() -> None:
    labels = {"service": "s", "location": "msk", "instance": "a:9247", "job": "dozor"}
    series = Series(labels, ((600.0, 1.0), (900.0, 1.0), (3000.0, 2.0), (3300.0, 2.0)))
    assert absences([series]) == [Absence(("s", "msk"), A, 600.0, 1.0),
                                  Absence(("s", "msk"), A, 3000.0, 2.0)]


@pytest.mark.parametrize(("a_steps", "appeared", "window", "end"), [
    # Its daemon scraped again at day 2.
    (steps(STEP, DAY) + steps(2 * DAY, 10 * DAY), [], 30 * DAY, 2 * DAY),
    # Taken over by another daemon of the location (a pod under a new address) at noon.
    (steps(STEP, DAY), [DAY + DAY / 2], 30 * DAY, DAY + DAY / 2),
    # Never back: due until the window has passed since it was last seen.
    (steps(STEP, DAY), [], 3 * DAY, DAY + 3 * DAY),
    # Never back, a long window: due to the end of the period.
    (steps(STEP, DAY), [], 30 * DAY, 10 * DAY + STEP),
])
def test_an_absence_ends_at_the_first_of_back_taken_over_window_period(
        a_steps: list[float], appeared: list[float], window: float, end: float) -> None:
    absence = Absence(("s", "msk"), A, DAY + STEP, 1.0)
    found = absence_end(absence, daemons(a_steps, window=window), {("s", "msk"): appeared},
                        PERIOD)
    assert found == end


def test_tally_counts_absences_takes_the_quorum_and_greys_only_where_no_one_measured() -> None:
    """Two locations, 2880 steps each in the period: msk away from day 1 to day 2 (288
    steps), nsk away from day 1.5 to day 3 (432). Each location's figure is its own; the
    service's is the lower of two (a strict majority of two is both); no data only while
    both were away."""
    n = PERIOD.seconds // STEP
    present = {"msk": n - 288, "nsk": n - 432}
    due = {("s", loc): float(k) for loc, k in present.items()}
    done = {("s", loc): float(k) for loc, k in present.items()}
    nsk = (("instance", "b:9247"), ("job", "dozor"))
    dropped = [Absence(("s", "msk"), A, DAY + STEP, 1.0),
               Absence(("s", "nsk"), nsk, 1.5 * DAY + STEP, 1.0)]
    timeline = Daemons(steps={A: steps(STEP, DAY) + steps(2 * DAY + STEP, PERIOD.end),
                              nsk: steps(STEP, 1.5 * DAY) + steps(3 * DAY + STEP, PERIOD.end)},
                       before={}, window=30 * DAY)
    [(service, found)] = tally(due, done, dropped, {}, timeline, PERIOD).items()
    assert service == "s"
    assert found.locations == pytest.approx({"msk": 1 - 288 / n, "nsk": 1 - 432 / n})
    assert found.value == pytest.approx(1 - 432 / n)
    assert found.gaps == ((1.5 * DAY, 2 * DAY),)


def test_an_absence_from_before_the_period_counts_from_its_start() -> None:
    """The daemon was last seen a day before the period and is back on its second day: the
    period's first day is missed, not the day before."""
    dropped = [Absence(("s", "msk"), A, -DAY + STEP, 1.0)]
    timeline = daemons(steps(DAY + STEP, PERIOD.end), before={A: -DAY})
    n = PERIOD.seconds // STEP
    present = n - 288
    found = tally({("s", "msk"): float(present)}, {("s", "msk"): float(present)}, dropped, {},
                  timeline, PERIOD)["s"]
    assert found.value == pytest.approx(present / n)
    assert found.gaps == ((0.0, DAY),)
    assert timeline.away_at_start(PERIOD) == {A: -DAY}


def test_no_runs_due_no_figure() -> None:
    """Runs counted without any schedule (a daemon too old to export intervals): no
    coverage figure, rather than 0."""
    assert tally({}, {("s", "msk"): 100.0}, [], {}, daemons([]), PERIOD) == {}


def test_an_absence_under_way_is_taken_at_its_own_daemons_step_only() -> None:
    """Daemons A and B both away at the month's start, last seen at different steps. The
    query at A's step also finds an absence of B (one that began there and ended before the
    month); only B's absence found at B's own step is under way."""
    b: tuple[tuple[str, str], ...] = (("instance", "b:9247"), ("job", "dozor"))
    away: dict[tuple[tuple[str, str], ...], float] = {A: -2.0 * STEP, b: -4.0 * STEP}
    service = {"service": "s", "location": "msk"}
    found = [Series({**service, **dict(A)}, ((-STEP, 1.0),)),
             Series({**service, **dict(b)}, ((-STEP, 1.0),)),    # at A's step: not under way
             Series({**service, **dict(b)}, ((-3 * STEP, 1.0),))]
    assert sorted((a.daemon, a.start) for a in under_way(found, away)) == [
        (A, -STEP), (b, -3 * STEP)]
