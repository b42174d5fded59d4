"""The snapshot as plain data: one dict per page, shared by its HTML page and its JSON API
answer, so the two never disagree. Times are ISO 8601 in Moscow time; shares are 0..1."""

from __future__ import annotations

from typing import Any

from monitor.report import fmt
from monitor.report.model import Outage, Part, RegionRank, ServiceReport
from monitor.status.snapshot import Day, Now, Snapshot

API_VERSION = "1"
DEFAULT_OBJECTIVE = 0.995
PART_TITLES = {
    "availability": "Доступность круглосуточно",
    "offhours_availability": "Доступность ночью, в выходные и праздники",
    "max_outage": "Самый долгий перерыв",
    "latency_p95": "Время ответа (95 % запросов)",
}
STATES = {
    "up": "Работает",
    "down": "Не работает",
    "maintenance": "Плановые работы",
    "unknown": "Нет данных",
}
VERDICTS = {
    "met": "Соответствует стандарту 24/7",
    "broken": "Нарушает стандарт 24/7",
    "no_data": "Недостаточно данных",
}

Doc = dict[str, Any]


def iso(at: float | None) -> str | None:
    return None if at is None else fmt.iso(at)


def state(now: Now | None) -> str:
    if now is None:
        return "unknown"
    if now.maintenance:
        return "maintenance"
    if now.down is None:
        return "unknown"
    return "down" if now.down else "up"


def verdict(report: ServiceReport | None) -> str:
    if report is None or report.compliant is None:
        return "no_data"
    return "met" if report.compliant else "broken"


def _part(part: Part) -> Doc:
    return {"key": part.key, "title": PART_TITLES.get(part.key, part.key),
            "value": part.value, "objective": part.objective, "met": part.met,
            "unit": "ratio" if part.key.endswith("availability") else "seconds"}


def _day(day: Day, counts: bool, objective: float) -> Doc:
    value = day.availability(counts)
    met = None if value is None else value >= objective
    return {"date": day.day.isoformat(), "availability": value, "met": met}


def freshness(snap: Snapshot, now: float) -> Doc:
    """How old the data is, and whether the source failed since it was read."""
    at = snap.data_at
    stale = snap.failed_at is not None and (at is None or snap.failed_at >= at)
    return {"data_at": iso(at), "age_seconds": None if at is None else max(0.0, now - at),
            "source_unavailable": stale,
            "window_start": iso(snap.window.start) if snap.window else None,
            "window_end": iso(snap.window.end) if snap.window else None}


def _platform(snap: Snapshot, pid: str) -> Doc:
    """A platform as the public may see it: its name (never its probes)."""
    facts = snap.directory.platforms.get(pid)
    return {"id": pid, "name": facts.name if facts is not None else pid}


def platforms_down(snap: Snapshot) -> list[str]:
    """The catalog's platforms down now (their own probes' quorum, as a service's state)."""
    return sorted(p for p in snap.directory.platforms if state(snap.now.get(p)) == "down")


def _cause_now(snap: Snapshot, sid: str, st: str) -> list[Doc]:
    """While the service is down: the platforms it goes through that are down too."""
    if st != "down":
        return []
    down = set(platforms_down(snap))
    return [_platform(snap, p) for p in snap.directory.services[sid].platforms if p in down]


def _outage(snap: Snapshot, o: Outage) -> Doc:
    return {"start": iso(o.start), "end": None if o.ongoing else iso(o.end),
            "seconds": o.seconds, "ongoing": o.ongoing, "own_seconds": o.own_seconds,
            "platforms": [_platform(snap, p) | {"seconds": s} for p, s in o.caused_by]}


def service_brief(snap: Snapshot, sid: str) -> Doc:
    facts = snap.directory.services[sid]
    now = snap.now.get(sid)
    report = snap.window.services.get(sid) if snap.window else None
    st = state(now)
    ve = verdict(report)
    return {
        "id": sid, "name": facts.name, "region": facts.region, "region_name": facts.region_name,
        "mszu": facts.mszu, "level": facts.level, "department": facts.department,
        "state": st, "state_text": STATES[st],
        "outage_seconds": now.outage_seconds if now is not None and st == "down" else None,
        "verdict": ve, "verdict_text": VERDICTS[ve],
        "availability": report.parts[0].value if report else None,
        "availability_objective": report.parts[0].objective if report else None,
        "down_because": _cause_now(snap, sid, st),
    }


def service_page(snap: Snapshot, sid: str) -> Doc:
    facts = snap.directory.services[sid]
    report = snap.window.services.get(sid) if snap.window else None
    counts = report.maintenance_counts if report else True
    objective = (report.parts[0].objective if report and report.parts[0].objective is not None
                 else DEFAULT_OBJECTIVE)
    curator = snap.directory.curators.get(facts.curator)
    return {
        **service_brief(snap, sid),
        "public_url": snap.directory.public_urls.get(sid),
        "curator": {"name": curator.name if curator else facts.curator_name,
                    "photo": curator.photo if curator else None,
                    "email": curator.email if curator else None,
                    "phone": curator.phone if curator else None,
                    "telegram": curator.telegram if curator else None},
        "life_situations": [{"id": ls.id, "name": ls.name}
                            for ls in snap.directory.situations_of(sid)],
        "parts": [_part(p) for p in report.parts] if report else [],
        "maintenance_counts": counts,
        "business_availability": report.business_availability if report else None,
        "offhours_availability": report.parts[1].value if report else None,
        "coverage": report.coverage if report else None,
        "days": [_day(d, counts, objective) for d in snap.days.get(sid, ())],
        "outages": [_outage(snap, o) for o in sorted(report.outages, key=lambda o: -o.start)]
        if report else [],
        "depends_on": [_platform(snap, p) | {"state": state(snap.now.get(p))}
                       for p in facts.platforms],
        "availability_excluding_platforms": report.availability_own if report else None,
        "outage_seconds_own": report.own_outage_seconds if report else None,
        "outage_seconds_platforms": [_platform(snap, p) | {"seconds": report.outage_seconds_by(p)}
                                     for p in facts.platforms] if report else [],
        "maintenance": [{"start": iso(a.start), "end": iso(a.end), "reason": a.reason}
                        for a in snap.directory.announcements if a.service == sid],
    }


def _regions(snap: Snapshot, codes: set[str] | None = None) -> list[Doc]:
    current = snap.window.regions if snap.window else ()
    before = {r.code: (i, r) for i, r in enumerate(
        (r for r in snap.previous.regions if r.share is not None), 1)} if snap.previous else {}
    rows = []
    ranked = [r for r in current if r.share is not None]
    for position, r in enumerate(ranked, 1):
        old = before.get(r.code)
        rows.append(_region_row(r, position, old))
    for r in current:
        if r.share is None:
            rows.append(_region_row(r, None, before.get(r.code)))
    return [row for row in rows if codes is None or row["code"] in codes]


def _region_row(r: RegionRank, position: int | None,
                old: tuple[int, RegionRank] | None) -> Doc:
    prev_position, prev = (old[0], old[1]) if old else (None, None)
    prev_share = prev.share if prev else None
    return {"code": r.code, "name": r.name, "position": position, "ranked": r.ranked,
            "compliant": r.compliant, "share": r.share,
            "previous_position": prev_position, "previous_share": prev_share,
            "change": (r.share - prev_share) if r.share is not None and prev_share is not None
            else None}


def _situation(snap: Snapshot, lid: str) -> Doc:
    ls = snap.directory.life_situations[lid]
    members = [service_brief(snap, s) for s in ls.services if s in snap.directory.services]
    states = [m["state"] for m in members]
    # A bundle serves the citizen only when every member does (dozor:life_situation_up).
    st = ("down" if "down" in states else "maintenance" if "maintenance" in states
          else "unknown" if not states or "unknown" in states else "up")
    values = [m["availability"] for m in members if m["availability"] is not None]
    return {"id": lid, "name": ls.name, "state": st, "state_text": STATES[st],
            "availability": min(values) if values else None,
            "services_total": len(members),
            "services_down": states.count("down"),
            "services_breaking": sum(m["verdict"] == "broken" for m in members),
            "services": members}


def home(snap: Snapshot, now: float) -> Doc:
    ids = sorted(snap.directory.services, key=lambda s: snap.directory.services[s].name)
    briefs = [service_brief(snap, s) for s in ids]
    regions = _regions(snap)
    ranked = sum(r["ranked"] for r in regions)
    compliant = sum(r["compliant"] for r in regions)
    names = {s: snap.directory.services[s].name for s in ids}
    situations = snap.directory.life_situations
    announcements = [{"service": a.service, "service_name": names.get(a.service, a.service),
                      "start": iso(a.start), "end": iso(a.end), "reason": a.reason,
                      "ongoing": a.start <= now < a.end}
                      for a in snap.directory.announcements if a.service in names]
    return {
        "api_version": API_VERSION,
        "freshness": freshness(snap, now),
        "national": {"mszu_ranked": ranked, "mszu_compliant": compliant,
                     "share": compliant / ranked if ranked else None},
        "services_total": len(briefs),
        "down": sorted((b for b in briefs if b["state"] == "down"),
                       key=lambda b: -(b["outage_seconds"] or 0)),
        "maintenance_now": [b for b in briefs if b["state"] == "maintenance"],
        "breaking": [b for b in briefs if b["verdict"] == "broken"],
        "announcements": announcements,
        "life_situations": [_situation(snap, lid) | {"services": None}
                            for lid in sorted(situations, key=lambda x: situations[x].name)],
        "regions": regions,
        "previous_month": snap.previous.label if snap.previous else None,
        "platforms_down": [_platform_down(snap, p, briefs) for p in platforms_down(snap)],
    }


def _platform_down(snap: Snapshot, pid: str, briefs: list[Doc]) -> Doc:
    """A platform down now, as the cause of its dependents' outages (not as a service)."""
    now = snap.now.get(pid)
    dependents = [b for b in briefs if pid in snap.directory.services[b["id"]].platforms]
    down = [b["id"] for b in dependents if b["state"] == "down"]
    return _platform(snap, pid) | {
        "outage_seconds": now.outage_seconds if now is not None else None,
        "services_total": len(dependents), "services_down": len(down), "services": down}


def services(snap: Snapshot, now: float) -> Doc:
    ids = sorted(snap.directory.services,
                 key=lambda s: (snap.directory.services[s].region, snap.directory.services[s].name))
    return {"api_version": API_VERSION, "freshness": freshness(snap, now),
            "services": [service_brief(snap, s) for s in ids]}


def service(snap: Snapshot, sid: str, now: float) -> Doc:
    return {"api_version": API_VERSION, "freshness": freshness(snap, now),
            "service": service_page(snap, sid)}


def life_situation(snap: Snapshot, lid: str, now: float) -> Doc:
    return {"api_version": API_VERSION, "freshness": freshness(snap, now),
            "life_situation": _situation(snap, lid)}


def region(snap: Snapshot, code: str, now: float) -> Doc:
    ids = sorted((s for s, f in snap.directory.services.items() if f.region == code),
                 key=lambda s: snap.directory.services[s].name)
    rows = _regions(snap, {code})
    name = next((f.region_name for f in snap.directory.services.values() if f.region == code),
                code)
    return {"api_version": API_VERSION, "freshness": freshness(snap, now),
            "region": {"code": code, "name": name, "ranking": rows[0] if rows else None,
                       "services": [service_brief(snap, s) for s in ids]}}


def regions_known(snap: Snapshot) -> set[str]:
    return {f.region for f in snap.directory.services.values()}
