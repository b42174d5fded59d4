"""Inhibition: a page mutes the same service's tickets, and announced maintenance that does
not count against the standard mutes the service's pages and tickets."""

from __future__ import annotations

from typing import Any

from monitor.alertmanager.escalation import MAINTENANCE_ALERT


def inhibit_rules() -> list[dict[str, Any]]:
    return [
        {"source_matchers": ['severity="page"'], "target_matchers": ['severity="ticket"'],
         "equal": ["service"]},
        {"source_matchers": [f'alertname="{MAINTENANCE_ALERT}"'],
         "target_matchers": ['severity=~"page|ticket"'], "equal": ["service"]},
    ]
