"""Rules across items and against world data, run on every item whose fields the rule needs
are readable (``Located.has``), even if another field of that item is invalid.

Each rule returns issues and never raises, so all of them run and the author sees every problem
in one go.
"""

from __future__ import annotations

import difflib
import zoneinfo
from collections.abc import Iterable, Iterator
from typing import Any

import pycountry

from monitor.catalog.errors import Issue
from monitor.catalog.model import Defaults, Service, Standard
from monitor.catalog.sections import Located, Sections
from probes import format_duration, format_percent

COUNTRY = "RU"


def check_catalog(sections: Sections) -> list[Issue]:
    return [
        *_duplicate_ids(sections),
        *_references(sections),
        *_dependencies(sections),
        *_regions(sections),
        *_timeouts(sections),
        *_standard_overrides(sections),
        *_unique_spec_values(sections),
    ]


def _duplicate_ids(sections: Sections) -> Iterator[Issue]:
    groups: list[tuple[str, Iterable[tuple[Located[Any], str, str]]]] = [
        ("code", ((r, r.value.code, "region code") for r in sections.regions if r.has("code"))),
        ("id", ((c, c.value.id, "curator id") for c in sections.curators if c.has("id"))),
        ("id", ((s, s.value.id, "life situation id")
                for s in sections.life_situations if s.has("id"))),
        # One namespace: a platform's probes are exported under its id in the service label.
        ("id", ((s, s.value.id, f"{_what(s)} id")
                for s in sections.probed if s.has("id"))),
    ]
    for key, entries in groups:
        first: dict[str, Located[Any]] = {}
        for entry, ident, what in entries:
            if ident in first:
                seen = first[ident].where((key,), entry.doc)
                shared = "" if type(first[ident].value) is type(entry.value) else (
                    " (services and platforms share one set of ids)")
                yield entry.issue(
                    (key,), f"duplicate {what} {ident!r} (first at {seen}){shared}; "
                            "each must be unique"
                )
            else:
                first[ident] = entry
    for service in sections.probed:
        if not service.has("probes"):
            continue
        names: dict[str, int] = {}
        for index, probe in service.indexed("probes", service.value.probes):
            if probe.name in names:
                line = service.doc.line((*service.path, "probes", names[probe.name]))
                yield service.issue(
                    ("probes", index, "name"),
                    f"duplicate probe name {probe.name!r} in this {_what(service)} (first at "
                    f"line {line}); probe names must be unique within a {_what(service)}",
                )
            else:
                names[probe.name] = index


def _what(item: Located[Any]) -> str:
    return "service" if isinstance(item.value, Service) else "platform"


def _unique_spec_values(sections: Sections) -> Iterator[Issue]:
    """Values a kind needs unique across the catalog (``SpecBase.unique_values``: a
    heartbeat's token). The value is never quoted: it may be a secret."""
    first: dict[tuple[str, str, str], tuple[Located[Any], tuple[Any, ...], str]] = {}
    for service in sections.probed:
        if not service.has("probes"):
            continue
        for index, probe in service.indexed("probes", service.value.probes):
            for name, value in probe.spec.unique_values():
                sub = ("probes", index, probe.kind, name)
                seen = first.get((probe.kind, name, value))
                if seen is None:
                    first[probe.kind, name, value] = (service, sub, probe.name)
                    continue
                other, other_sub, other_probe = seen
                yield service.issue(
                    sub, f"the same {name} as probe {other_probe!r} of {_what(other)} "
                    f"{other.value.id!r} (at {other.where(other_sub, service.doc)}); each "
                    f"{probe.kind} {name} must be unique")


def _references(sections: Sections) -> Iterator[Issue]:
    known = sections.known_ids
    for curator in sections.curators:
        deputy = curator.value.deputy if curator.has("deputy") else None
        if deputy is None:
            continue
        if curator.has("id") and deputy == curator.value.id:
            yield curator.issue(("deputy",), "a curator cannot be their own deputy")
        elif deputy not in known["curators"]:
            yield curator.issue(("deputy",), _dangling("curator", deputy, known["curators"]))
    for service in sections.probed:
        value = service.value
        if service.has("curator") and value.curator not in known["curators"]:
            yield service.issue(
                ("curator",), _dangling("curator", value.curator, known["curators"])
            )
        if service.has("region") and value.region not in known["regions"]:
            yield service.issue(("region",), _dangling("region", value.region, known["regions"]))
        if not isinstance(value, Service) or not service.has("life_situations"):
            continue
        for index, situation in service.indexed("life_situations", value.life_situations):
            if situation not in known["life_situations"]:
                yield service.issue(
                    ("life_situations", index),
                    _dangling("life situation", situation, known["life_situations"]),
                )


def _dependencies(sections: Sections) -> Iterator[Issue]:
    """depends_on names defined platforms; a platform's own probes depend on none (its
    outage is its own: platforms are not layered on one another)."""
    known = sections.known_ids["platforms"]
    for item in sections.probed:
        value = item.value
        if isinstance(value, Service) and item.has("depends_on"):
            for index, ident in enumerate(value.depends_on):
                if ident not in known:
                    yield item.issue(("depends_on", index), _dangling("platform", ident, known))
        if not item.has("probes"):
            continue
        for index, probe in item.indexed("probes", value.probes):
            for at, ident in enumerate(probe.depends_on):
                where = ("probes", index, "depends_on", at)
                if not isinstance(value, Service):
                    yield item.issue(where, "a platform's probes cannot depend on a platform; "
                                            "list platforms under services' depends_on")
                elif ident not in known:
                    yield item.issue(where, _dangling("platform", ident, known))


def _dangling(what: str, ident: str, known: set[str]) -> str:
    section = what.replace(" ", "_") + "s"
    message = f"{what} {ident!r} is not defined; add it under {section}: or fix the reference"
    return message + _did_you_mean(ident, known)


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _regions(sections: Sections) -> Iterator[Issue]:
    if not sections.regions:
        return
    codes: set[str] = {s.code for s in pycountry.subdivisions if s.country_code == COUNTRY}
    zones = zoneinfo.available_timezones()
    for region in sections.regions:
        if region.has("code") and (code := region.value.code) not in codes:
            yield region.issue(
                ("code",),
                f"{code!r} is not an ISO 3166-2:{COUNTRY} subdivision code; write e.g. 'RU-MOW', "
                f"'RU-SPE', 'RU-SMO'" + _did_you_mean(code.upper(), codes),
            )
        if region.has("timezone") and (zone := region.value.timezone) not in zones:
            yield region.issue(
                ("timezone",),
                f"{zone!r} is not an IANA time zone; write e.g. 'Europe/Moscow', "
                "'Asia/Yekaterinburg'" + _did_you_mean(zone, zones),
            )


def _timeouts(sections: Sections) -> Iterator[Issue]:
    """A probe must finish before its next run is due, or runs pile up behind each other."""
    given = sections.defaults
    defaults = given.value if given else Defaults()
    interval_known = given is None or given.has("interval")
    timeout_known = given is None or given.has("timeout")
    if given and interval_known and timeout_known and defaults.timeout >= defaults.interval:
        yield given.issue(("timeout",), _timeout_message(defaults.timeout, defaults.interval))
    for service in sections.probed:
        if not service.has("probes"):
            continue
        for index, probe in service.indexed("probes", service.value.probes):
            budget = probe.spec.time_budget()
            if (probe.interval is None and probe.timeout is None and not probe.retries
                    and budget is None):
                continue  # inherits both defaults, already checked above
            if (probe.interval is None and not interval_known) or (
                    probe.timeout is None and not timeout_known):
                continue  # the default it inherits is invalid, and reported as such
            interval = probe.interval if probe.interval is not None else defaults.interval
            timeout = probe.timeout if probe.timeout is not None else defaults.timeout
            if timeout >= interval:
                key = "timeout" if probe.timeout is not None else "interval"
                yield service.issue(("probes", index, key), _timeout_message(timeout, interval))
            elif budget is not None and budget >= timeout:
                yield service.issue(("probes", index, probe.kind),
                                    probe.spec.time_budget_problem(budget, timeout))
            elif timeout * (probe.retries + 1) >= interval:
                yield service.issue(
                    ("probes", index, "retries"),
                    f"{probe.retries + 1} attempts of {format_duration(timeout)} do not fit in "
                    f"the interval {format_duration(interval)}; use fewer retries, a shorter "
                    "timeout or a longer interval",
                )


def _timeout_message(timeout: float, interval: float) -> str:
    return (
        f"timeout {format_duration(timeout)} is not below interval {format_duration(interval)} "
        "(after defaults); make the timeout shorter than the interval"
    )


def _standard_overrides(sections: Sections) -> Iterator[Issue]:
    """A service may only tighten the 24/7 standard, never relax it."""
    given = sections.standard
    standard = given.value if given else Standard()
    known = {key for key in Standard.model_fields if given is None or given.has(key)}
    for service in sections.services:
        if service.has("standard"):
            yield from _loosened(service, standard, known)


def _loosened(service: Located[Service], standard: Standard, known: set[str]) -> Iterator[Issue]:
    """``known``: the keys of the catalog standard that are readable, to compare against."""
    override = service.value.standard
    where = ("standard",)
    for key in ("availability", "offhours_availability"):
        mine, base = getattr(override, key), getattr(standard, key)
        if key in known and mine is not None and mine < base:
            yield service.issue(
                (*where, key),
                f"{key} {format_percent(mine)} loosens the catalog standard "
                f"{format_percent(base)}; a service may only tighten it "
                f"(>= {format_percent(base)})",
            )
    for key in ("max_outage", "latency_p95"):
        mine, base = getattr(override, key), getattr(standard, key)
        if key in known and mine is not None and mine > base:
            yield service.issue(
                (*where, key),
                f"{key} {format_duration(mine)} loosens the catalog standard "
                f"{format_duration(base)}; a service may only tighten it "
                f"(<= {format_duration(base)})",
            )
    if (override.maintenance_counts is False and standard.maintenance_counts
            and "maintenance_counts" in known):
        yield service.issue(
            (*where, "maintenance_counts"),
            "maintenance_counts: false loosens the catalog standard, where maintenance counts "
            "against 24/7; remove it or set it to true",
        )
