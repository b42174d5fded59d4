"""The report's outage arithmetic (monitor/report/outages.py, monitor/report/spans.py):
per-location spans merged as the rules' ``max by (service, location)`` and lower-median
quorum of the locations measuring at the time do."""

from __future__ import annotations

from monitor.report.client import Series
from monitor.report.model import Outage
from monitor.report.outages import _marked, _probe_spans
from monitor.report.period import Period
from monitor.report.spans import majority, overlap, step_function, subtract, union


def test_a_location_is_out_while_any_of_its_probes_is() -> None:
    assert union([(10, 20), (15, 30), (40, 50)]) == [(10, 30), (40, 50)]
    assert union([(40, 50), (10, 20)]) == [(10, 20), (40, 50)]


def test_a_service_is_out_while_a_strict_majority_of_locations_is() -> None:
    msk, nsk, khv = [(0, 100)], [(50, 150)], [(120, 130)]
    # Three locations: two must agree; the service's outage is where they overlap.
    assert majority([msk, nsk, khv], lambda t: 2) == [(50, 100), (120, 130)]
    # Two locations: both (the lower median of two is their minimum).
    assert majority([msk, nsk], lambda t: 2) == [(50, 100)]
    assert majority([msk, []], lambda t: 2) == []
    assert majority([msk], lambda t: 1) == [(0, 100)]


def test_an_offline_location_leaves_the_quorum() -> None:
    """Two locations; the second offline from 30 to 80 (one measuring: need 1), the first
    failing from 10 to 60. The rules count the outage while the second is away, as here."""
    measuring = step_function([(0, 2), (30, 1), (80, 2)], 2)
    need = lambda t: int(measuring(t)) // 2 + 1  # noqa: E731
    assert majority([[(10, 60)], []], need, changes=[0, 30, 80]) == [(30, 60)]


def test_spans_that_only_touch_do_not_overlap() -> None:
    assert majority([[(0, 10)], [(10, 20)]], lambda t: 2) == []
    assert majority([[(0, 10), (10, 20)]], lambda t: 1) == [(0, 20)]


def test_two_daemons_of_one_location_keep_their_own_outages() -> None:
    """A pod back under a new address (or a probe moved between shards): the same service,
    probe and location under another instance. Both its outages are kept."""
    period = Period("2026-09", 0.0, 10_000.0, True)
    base = {"service": "s", "probe": "p", "location": "msk"}
    old, new = {**base, "instance": "10.0.0.1:9247"}, {**base, "instance": "10.0.0.2:9247"}
    starts = [Series(old, ((120.0, 100.0), (180.0, 100.0))),
              Series(new, ((3060.0, 3000.0), (3120.0, 3000.0)))]
    lengths = [Series(old, ((120.0, 20.0), (180.0, 50.0))),
               Series(new, ((3060.0, 60.0), (3120.0, 90.0)))]
    verdicts = [Series(old, ((180.0, 1.0),)), Series(new, ((3120.0, 1.0),))]
    spans = _probe_spans(starts, lengths, verdicts, period)
    assert sorted(s for found in spans.values() for s in found) == [(100.0, 150.0),
                                                                   (3000.0, 3090.0)]


def test_platform_outages_are_cut_out_of_a_dependent_probes() -> None:
    """A dependent probe's own outage time is its spans less its platforms' (holes may
    overlap, start before or end after a span)."""
    assert subtract([(0, 10), (20, 30)], [(5, 7), (8, 22), (29, 40)]) == [(0, 5), (7, 8),
                                                                          (22, 29)]
    assert subtract([(0, 10)], []) == [(0, 10)]
    assert subtract([(0, 10)], [(-5, 15)]) == []
    assert overlap([(0, 10), (20, 30)], [(5, 25)]) == 10


def test_an_outage_is_marked_with_the_platforms_out_during_it() -> None:
    """The excused part (not the service's own) is credited to every platform out then; a
    platform out only during the own part is not named."""
    outage = Outage("svc", 100.0, 200.0, ongoing=False)
    marked = _marked(outage, own=[(100.0, 130.0)],
                     platforms={"sso": [(90.0, 210.0)], "bus": [(150.0, 160.0)],
                                "dns": [(100.0, 120.0)]})
    assert (marked.excused, marked.own_seconds) == (70.0, 30.0)
    assert marked.caused_by == (("bus", 10.0), ("sso", 70.0))
    assert _marked(outage, own=[(100.0, 200.0)], platforms={"sso": [(0.0, 300.0)]}) == outage
