"""One source of the metric names: every ``dozor_*`` metric the generated rules, escalation
rules, dashboards and report queries read is one the daemon really exports, and
``monitor.metric_names`` lists exactly what the daemon exports.

What the daemon exports is read from its own /metrics body (``Metrics.render()``, and the
prometheus_client view of the same registry): every family has its ``# HELP``/``# TYPE`` lines
from the start, samples or not, so per-kind series that only appear after runs (``dozor_probe_up``,
certificate expiry, journey steps) are known without running a probe. ``dozor:...`` names are
recording rules, not exported metrics, and do not match ``dozor_``.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import TracebackType
from typing import ClassVar

import pytest
from prometheus_client import CollectorRegistry, generate_latest

import monitor.report.collect
from monitor import metric_names
from monitor.alertmanager import render_escalation_rules
from monitor.catalog import Catalog, load_catalog
from monitor.dashboards import render_dashboards
from monitor.listener import ConnectionLimits
from monitor.report.client import Series
from monitor.report.collect import ReportOptions, collect_report
from monitor.rules import render_rules
from monitor.serving.metrics import Metrics, duration_buckets
from monitor.serving.ports import Ports
from monitor.supervisor.metrics import SupervisorMetrics

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "config" / "examples" / "demo"
# Digits too: dozor_service_latency_p95_objective_seconds.
TOKEN = re.compile(r"\bdozor_[a-z0-9_]+")
TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)
# A histogram's series. No ``_created``: the daemon disables those samples, so a query of one
# would read nothing and must be flagged like any other name the daemon does not export.
HISTOGRAM_SERIES = ("_bucket", "_count", "_sum")


def _catalog() -> Catalog:
    return load_catalog(DEMO)


def _families(text: str) -> dict[str, str]:
    """Exported name -> type, from the ``# TYPE`` lines of an exposition."""
    return dict(TYPE_LINE.findall(text))


def _exported() -> dict[str, str]:
    catalog = _catalog()
    metrics = Metrics("test", "0", duration_buckets(catalog))
    metrics.describe_catalog(catalog)
    # Under `dozor run --workers`, the supervisor's own series join the workers' merged ones.
    supervisor = generate_latest(SupervisorMetrics(["0"]).registry).decode()
    return _families(metrics.render().decode() + supervisor + _ports())


def _ports() -> str:
    """The series of the ports a process owns (the daemon's, or the supervisor's)."""
    registry = CollectorRegistry()
    registry.register(Ports(ConnectionLimits(), None))
    return generate_latest(registry).decode()


def _unexported(names: set[str], exported: dict[str, str]) -> list[str]:
    """The names that are neither an exported metric nor a series of an exported histogram."""
    def known(name: str) -> bool:
        if name in exported:
            return True
        return any(name.endswith(suffix)
                   and exported.get(name.removesuffix(suffix)) == "histogram"
                   for suffix in HISTOGRAM_SERIES)
    return sorted(n for n in names if not known(n))


class _RecordingPrometheus:
    """Stands in for the report's Prometheus client and keeps every query it is sent. One
    service answers every instant query, so the report goes on to send all its queries."""

    queries: ClassVar[list[str]] = []

    def __init__(self, url: str, **_: object) -> None:
        del url

    async def __aenter__(self) -> _RecordingPrometheus:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        del kind, exc, tb

    async def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float]]:
        del at
        self.queries.append(query)
        return [({"service": "svc", "region": "77", "curator": "c", "name": "svc"}, 1.0)]

    async def range(self, query: str, start: float, end: float, step: int) -> list[Series]:
        del start, end, step
        self.queries.append(query)
        return []


async def _report_queries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every query ``dozor report`` sends for a month, the catalog facts read from metrics."""
    recorder = _RecordingPrometheus
    recorder.queries = []
    monkeypatch.setattr(monitor.report.collect, "Prometheus", recorder)
    await collect_report(ReportOptions(prometheus="http://prometheus.invalid", period="2025-01"))
    return list(recorder.queries)


def _generated(report_queries: list[str]) -> dict[str, str]:
    """Every generated text that reads the daemon's metrics, by what it is."""
    catalog = _catalog()
    texts = {"rules": render_rules(catalog),
             "escalation rules": render_escalation_rules(catalog),
             "report queries": "\n".join(report_queries)}
    texts.update({f"dashboard {name}": text for name, text in render_dashboards().items()})
    return texts


async def test_generated_rules_dashboards_and_report_read_only_exported_metrics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exported = _exported()
    texts = _generated(await _report_queries(monkeypatch))
    for what, text in texts.items():
        assert TOKEN.search(text), f"{what}: no dozor_* metric at all; is the scan blind?"
    unexported = {what: _unexported(set(TOKEN.findall(text)), exported)
                  for what, text in texts.items()}
    assert unexported == {what: [] for what in texts}


def test_the_check_flags_a_misspelt_metric() -> None:
    """The check above can fail: a misspelling, a counter without ``_total``, a gauge's
    ``_sum`` and a ``_created`` series are all flagged; histogram series are not."""
    exported = _exported()
    names = {"dozor_probe_upp", "dozor_probes", "dozor_probe_up_sum", "dozor_probes_created",
             "dozor_probe_duration_seconds_bucket", "dozor_scheduler_lag_seconds_count",
             "dozor_probes_total"}
    assert _unexported(names, exported) == [
        "dozor_probe_up_sum", "dozor_probe_upp", "dozor_probes", "dozor_probes_created"]


def test_metric_names_lists_exactly_what_the_daemon_exports() -> None:
    exported = _exported()
    assert set(exported) == metric_names.EXPORTED
    constants = {value for key, value in vars(metric_names).items()
                 if key.isupper() and isinstance(value, str)}
    assert constants == metric_names.EXPORTED


def test_every_family_is_declared_before_any_run() -> None:
    """A fresh daemon's /metrics already names every family (so the checks above need no
    probe runs), and both of its render paths agree."""
    catalog = _catalog()
    fresh = Metrics("test", "0", duration_buckets(catalog))
    supervisor = set(_families(generate_latest(SupervisorMetrics(["0"]).registry).decode()))
    assert supervisor == {metric_names.WORKER_UP, metric_names.WORKER_RESTARTS_TOTAL}
    daemon = metric_names.EXPORTED - supervisor - set(_families(_ports()))
    assert set(_families(fresh.render().decode())) == daemon
    assert set(_families(generate_latest(fresh.registry).decode())) == daemon


def test_the_daemon_spells_no_metric_name_of_its_own() -> None:
    """monitor/serving/metrics.py declares its families with monitor.metric_names only."""
    source = (ROOT / "monitor" / "serving" / "metrics.py").read_text(encoding="utf-8")
    assert re.findall(r"[\"']dozor_", source) == []
