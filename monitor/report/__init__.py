"""``dozor report``: the monthly 24/7 compliance report, from Prometheus's HTTP API.

Public surface: ``ReportOptions``, ``collect_report(options, progress) -> Report``,
``write_report(report, directory) -> list[Path]``, ``ReportError``. The month is a calendar
month in Moscow time; the figures use the formulas of the generated rules
(``monitor/report/queries.py`` says how), objectives come from the ``dozor_service_*``
metrics. Writes one HTML file (Russian, inline SVG, no external resources) and CSV files with
English column keys.
"""

from __future__ import annotations

from pathlib import Path

from monitor.report.collect import ReportOptions, collect_report
from monitor.report.csvout import (
    heatmap_csv,
    outages_csv,
    platforms_csv,
    regions_csv,
    services_csv,
)
from monitor.report.errors import ReportError
from monitor.report.html import render_html
from monitor.report.model import Report
from monitor.report.progress import Progress

__all__ = ["Progress", "Report", "ReportError", "ReportOptions", "collect_report",
           "write_report"]


def write_report(report: Report, directory: Path) -> list[Path]:
    """``dozor-report-YYYY-MM.html`` and ``.csv`` (per service), plus ``-outages``,
    ``-regions`` and ``-heatmap`` CSVs, and ``-platforms`` when the report has platforms."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"dozor-report-{report.period.label}"
    files = {
        f"{stem}.html": render_html(report),
        f"{stem}.csv": services_csv(report),
        f"{stem}-outages.csv": outages_csv(report),
        f"{stem}-regions.csv": regions_csv(report),
        f"{stem}-heatmap.csv": heatmap_csv(report),
    }
    if report.platforms:  # a catalog with platforms (--config)
        files[f"{stem}-platforms.csv"] = platforms_csv(report)
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
