"""Inhibition: a page mutes the same service's tickets, and announced maintenance that does
not count against the standard mutes the service's pages and tickets.

A shared platform's outage needs no rule here: the dependents' outage and burn alerts leave
out what a down platform explains in Prometheus already (``monitor.rules.alerts``), so a
dependent's own failure still pages during the platform's outage, which a blanket inhibition
of its alerts would mute. ``platform`` is in ``equal`` so the platform's page (no ``service``)
does not mute every ticket without a ``service`` either."""

from __future__ import annotations

from typing import Any

from monitor.alertmanager.escalation import MAINTENANCE_ALERT


def inhibit_rules() -> list[dict[str, Any]]:
    return [
        {"source_matchers": ['severity="page"'], "target_matchers": ['severity="ticket"'],
         "equal": ["service", "platform"]},
        {"source_matchers": [f'alertname="{MAINTENANCE_ALERT}"'],
         "target_matchers": ['severity=~"page|ticket"'], "equal": ["service"]},
    ]
