"""``ReportError``: everything that stops a report and is not a bug (Prometheus unreachable
or answering with an error, a bad period, a selection matching no service)."""

from __future__ import annotations


class ReportError(Exception):
    pass
