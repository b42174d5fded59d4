"""The report's accessibility column against the kind that exports the gauge: the same impact
label values, and a bar (the barrier impacts) equal to the audit's default limits. The
figures themselves are checked against a real Prometheus in test_report.py."""

from __future__ import annotations

from monitor.report.model import BARRIERS, IMPACTS, Accessibility
from probes.browser.spec import IMPACTS as EXPORTED_IMPACTS
from probes.browser.spec import Accessibility as AuditSettings


def test_the_report_reads_the_impacts_the_kind_exports() -> None:
    """The report cannot import the kind (its knowledge stays in probes/browser), so it keeps
    its own copy of the label values; a renamed or added impact must fail here."""
    assert IMPACTS == EXPORTED_IMPACTS


def test_the_barriers_are_what_an_audit_limits_by_default() -> None:
    limited = {impact for impact, limit in AuditSettings().max.model_dump().items()
               if limit is not None}
    assert set(BARRIERS) == limited


def test_a_missing_figure_is_no_figure_not_zero() -> None:
    """An audit that lacks a barrier impact's count is neither barrier-free nor not; no
    audited step is no share."""
    partial = Accessibility(last={"critical": 0}, worst={"critical": 0}, audited_steps=0,
                            barrier_free_steps=0)
    assert partial.barrier_free is None and partial.barrier_free_share is None
    full = Accessibility(last={"critical": 0, "serious": 1}, worst={}, audited_steps=4,
                         barrier_free_steps=1)
    assert full.barrier_free is False and full.barrier_free_share == 0.25
