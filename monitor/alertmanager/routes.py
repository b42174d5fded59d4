"""The route tree. Order matters: Alertmanager walks the children top-down and stops at the
first match unless that child says ``continue: true``.

1. the maintenance marker alert -> the silent receiver (it only inhibits);
2. regional copies (``continue: true``, so the alert goes on down the tree);
3. escalations (``escalation="deputy"``) of each curator -> the deputy's receiver;
4. each curator's own alerts -> the curator's receiver, with page and ticket timings;
5. everything else (unknown curators, curators without a channel) -> the SRE duty desk.
"""

from __future__ import annotations

from typing import Any

from monitor.alertmanager.escalation import ESCALATION_LABEL, ESCALATION_VALUE, MAINTENANCE_ALERT
from monitor.alertmanager.options import AlertmanagerOptions, Timing
from monitor.alertmanager.receivers import (
    DUTY_DESK,
    SILENT,
    curator_channels,
    curator_receiver,
    region_receiver,
)
from monitor.catalog import Catalog

# A platform's page has no service: its platform keeps two platforms' outages apart.
GROUP_BY = ["alertname", "service", "platform"]
NOT_ESCALATION = f'{ESCALATION_LABEL}!="{ESCALATION_VALUE}"'
IS_ESCALATION = f'{ESCALATION_LABEL}="{ESCALATION_VALUE}"'


def _timing(t: Timing) -> dict[str, str]:
    return {"group_wait": t.group_wait, "group_interval": t.group_interval,
            "repeat_interval": t.repeat_interval}


def _by_severity(receiver: str, options: AlertmanagerOptions) -> list[dict[str, Any]]:
    return [
        {"receiver": receiver, "matchers": ['severity="page"'], **_timing(options.page_timing)},
        {"receiver": receiver, "matchers": ['severity="ticket"'],
         **_timing(options.ticket_timing)},
    ]


def route_tree(catalog: Catalog, options: AlertmanagerOptions) -> dict[str, Any]:
    reachable = {c.id for c in catalog.curators if curator_channels(c, options)}
    curators = sorted(catalog.curators, key=lambda c: c.id)
    children: list[dict[str, Any]] = [
        {"receiver": SILENT, "matchers": [f'alertname="{MAINTENANCE_ALERT}"']},
    ]
    if options.regional_webhook:
        children += [
            {"receiver": region_receiver(r.code),
             "matchers": [f'region="{r.code}"', NOT_ESCALATION], "continue": True}
            for r in sorted(catalog.regions, key=lambda r: r.code)
        ]
    for c in curators:
        deputy = c.deputy if c.deputy in reachable else None
        children.append({
            "receiver": curator_receiver(deputy) if deputy else DUTY_DESK,
            "matchers": [IS_ESCALATION, f'curator="{c.id}"'],
            **_timing(options.page_timing),
        })
    for c in curators:
        if c.id in reachable:
            receiver = curator_receiver(c.id)
            children.append({"receiver": receiver, "matchers": [f'curator="{c.id}"'],
                             "routes": _by_severity(receiver, options)})
    children += _by_severity(DUTY_DESK, options)
    return {"receiver": DUTY_DESK, "group_by": GROUP_BY, **_timing(options.default_timing),
            "routes": children}


def unreachable_notes(catalog: Catalog, options: AlertmanagerOptions) -> list[str]:
    return [f"curator {c.id}: no usable channel; their alerts go to {DUTY_DESK}"
            for c in sorted(catalog.curators, key=lambda c: c.id)
            if not curator_channels(c, options)]
