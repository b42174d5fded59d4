"""The site's directory of services, life situations and curators, and what of it is public.

From the catalog: everything the public may see, and nothing else (probe targets, internal
names, credentials and curator contacts not listed under ``public`` never enter it, so no
page, feed or API answer can show them). Without a catalog: from the info metrics the
daemons export, which carry names only.
"""

from __future__ import annotations

import datetime as dt

from monitor.catalog import Catalog
from monitor.catalog.model import Curator as CatalogCurator
from monitor.localtime.maintenance import occurrences
from monitor.metric_names import LIFE_SITUATION_INFO, LIFE_SITUATION_MEMBER
from monitor.report import queries as q
from monitor.report.client import Prometheus
from monitor.report.collect import catalog_facts, catalog_platforms, metric_facts
from monitor.report.period import Period
from monitor.status.snapshot import Announcement, Curator, Directory, LifeSituation

# Maintenance is announced this far ahead on the home page and in the feed.
ANNOUNCE_AHEAD = dt.timedelta(days=14)


def public_curator(curator: CatalogCurator) -> Curator:
    shown = set(curator.public)
    return Curator(
        name=curator.name,
        photo=curator.photo if "photo" in shown else None,
        email=curator.email if "email" in shown else None,
        phone=curator.phone if "phone" in shown else None,
        telegram=curator.telegram if "telegram" in shown else None)


def from_catalog(catalog: Catalog, now: float) -> Directory:
    facts = {f.id: f for f in catalog_facts(catalog)}
    situations = {ls.id: LifeSituation(ls.id, ls.name, tuple(
        s.id for s in catalog.services if ls.id in s.life_situations))
        for ls in catalog.life_situations}
    curators = {c.id: public_curator(c) for c in catalog.curators}
    urls = {s.id: s.public_url for s in catalog.services if s.public_url}
    return Directory(services=facts, life_situations=situations, curators=curators,
                     public_urls=urls, announcements=announcements(catalog, now),
                     platforms={p.id: p for p in catalog_platforms(catalog)})


def announcements(catalog: Catalog, now: float) -> tuple[Announcement, ...]:
    """Announced maintenance going on at ``now`` or starting within ``ANNOUNCE_AHEAD``."""
    zones = catalog.timezones()
    start = dt.datetime.fromtimestamp(now, dt.UTC)
    out = []
    for service in catalog.services:
        for window in service.maintenance:
            if not window.announced:
                continue
            for a, b in occurrences(window, start, start + ANNOUNCE_AHEAD,
                                    zones.get(service.region, "Europe/Moscow")):
                out.append(Announcement(service.id, a.timestamp(), b.timestamp(),
                                        window.reason))
    return tuple(sorted(out, key=lambda a: (a.start, a.service)))


async def from_metrics(prom: Prometheus, period: Period) -> Directory:
    facts = {f.id: f for f in await metric_facts(prom, period)}
    names = await prom.instant(q.info(LIFE_SITUATION_INFO, period.seconds), period.end)
    members = await prom.instant(q.info(LIFE_SITUATION_MEMBER, period.seconds), period.end)
    situations: dict[str, list[str]] = {}
    for labels, _ in members:
        situations.setdefault(labels.get("life_situation", ""), []).append(
            labels.get("service", ""))
    titles = {m.get("life_situation", ""): m.get("name", "") for m, _ in names}
    return Directory(services=facts, life_situations={
        sid: LifeSituation(sid, titles.get(sid) or sid, tuple(sorted(set(svcs))))
        for sid, svcs in situations.items() if sid})
