"""The report's outage arithmetic (monitor/report/outages.py): per-location spans merged as
the rules' ``max by (service, location)`` and lower-median quorum do."""

from __future__ import annotations

from monitor.report.outages import majority, union


def test_a_location_is_out_while_any_of_its_probes_is() -> None:
    assert union([(10, 20), (15, 30), (40, 50)]) == [(10, 30), (40, 50)]
    assert union([(40, 50), (10, 20)]) == [(10, 20), (40, 50)]


def test_a_service_is_out_while_a_strict_majority_of_locations_is() -> None:
    msk, nsk, khv = [(0, 100)], [(50, 150)], [(120, 130)]
    # Three locations: two must agree; the service's outage is where they overlap.
    assert majority([msk, nsk, khv], 2) == [(50, 100), (120, 130)]
    # Two locations: both (the lower median of two is their minimum).
    assert majority([msk, nsk], 2) == [(50, 100)]
    assert majority([msk, []], 2) == []
    assert majority([msk], 1) == [(0, 100)]


def test_spans_that_only_touch_do_not_overlap() -> None:
    assert majority([[(0, 10)], [(10, 20)]], 2) == []
    assert majority([[(0, 10), (10, 20)]], 1) == [(0, 10), (10, 20)]
