"""The Atom feed of incidents (the window's outages) and announced maintenance."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.report import fmt
from monitor.status.directory import ANNOUNCE_AHEAD
from monitor.status.snapshot import Snapshot

MAX_ENTRIES = 100
TAG = "tag:dozor.status,2026:"


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    service: str
    title: str
    summary: str
    published: str
    updated: str
    sort: float


def entries(snap: Snapshot, now: float, service: str | None = None) -> list[Entry]:
    names = {sid: f.name for sid, f in snap.directory.services.items()}
    out = []
    reports = snap.window.services if snap.window else {}
    for sid, report in reports.items():
        if service is not None and sid != service:
            continue
        for o in report.outages:
            end = now if o.ongoing else o.end
            title = (f"Сбой продолжается: {names.get(sid, sid)}" if o.ongoing
                     else f"Сбой: {names.get(sid, sid)} — {fmt.seconds(o.seconds)}")
            summary = (f"Услуга «{names.get(sid, sid)}» недоступна с {fmt.moscow(o.start)} МСК."
                       if o.ongoing else
                       f"Услуга «{names.get(sid, sid)}» была недоступна с {fmt.moscow(o.start)} "
                       f"по {fmt.moscow(o.end)} МСК ({fmt.seconds(o.seconds)}).")
            if o.caused_by:
                platforms = snap.directory.platforms
                summary += " Причина: " + "; ".join(
                    f"из-за недоступности платформы «{platforms[p].name if p in platforms else p}»"
                    for p in o.platforms) + "."
            out.append(Entry(f"{TAG}outage/{sid}/{int(o.start)}", sid, title, summary,
                             fmt.iso(o.start), fmt.iso(end), end))
    for a in snap.directory.announcements:
        if a.service not in names or (service is not None and a.service != service):
            continue
        reason = f" Причина: {a.reason}." if a.reason else ""
        # Published when it entered the announcement horizon: the same at every refresh, so
        # feed readers do not see it as new each time.
        announced = a.start - ANNOUNCE_AHEAD.total_seconds()
        out.append(Entry(
            f"{TAG}maintenance/{a.service}/{int(a.start)}", a.service,
            f"Плановые работы: {names[a.service]}",
            f"С {fmt.moscow(a.start)} по {fmt.moscow(a.end)} МСК услуга «{names[a.service]}» "
            f"может быть недоступна.{reason}",
            fmt.iso(announced), fmt.iso(announced), announced))
    out.sort(key=lambda e: (-e.sort, e.id))
    return out[:MAX_ENTRIES]
