"""Alerting rules. One rule per condition for all services: objectives are joined per service
from recorded facts, never written into the rule. Every service alert carries ``service``,
``curator``, ``region``, ``level`` (joined from ``dozor:service_info``) and ``severity``."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.metric_names import (
    CONFIG_LAST_RELOAD_SUCCESSFUL,
    PROBES_TOTAL,
    SCHEDULER_SKIPPED_RUNS_TOTAL,
    TLS_CERT_EXPIRY_TIMESTAMP_SECONDS,
    SkipReason,
)
from monitor.promql import DAY, Alert, Group, by, duration
from monitor.rules.windows import Windows

# Descriptive labels every service alert carries, joined from the catalog's info recording.
ALERT_LABELS = ("curator", "region", "level")
INFO_JOIN = f"* on (service) group_left ({by(ALERT_LABELS)}) dozor:service_info"
SUPPRESSED = "unless on (service) dozor:service_maintenance_suppressed"
# Fewer failed runs than this in the short window never alert, whatever the ratio says.
MIN_FAILURES = 3
# A platform's confirmed quorum outage pages its curator after this long: past a blip of a
# run or two, and before the fast burn would have paged each dependent (≈5m of outage with
# runs every minute) had the platform not excused them.
PLATFORM_FOR = "3m"


def excused_by_platform(window: str) -> str:
    """Leaves out services whose trouble a shared platform explains: down because of one at
    some point within ``window`` (the alert's shortest look-back, so failures the platform
    caused that are still in it do not page once it is back) and not down on their own now
    (a dependent's own failure pages during the platform's outage too)."""
    return ("unless on (service) (\n"
            f"  max_over_time(dozor:service_down_by_platform[{window}]) == 1\n"
            "  unless on (service) dozor:service_down_own == 1\n"
            ")")


@dataclass(frozen=True, slots=True)
class Burn:
    """One multiwindow pair of the SRE workbook: both windows must burn faster than
    ``factor`` times the sustainable rate."""

    factor: float
    long: int
    short: int

    def expr(self) -> str:
        long, short = duration(self.long), duration(self.short)
        budget = f"on (service) ({self.factor:g} * dozor:service_error_budget)"
        return (
            f'  1 - dozor:service_sli_error_ratio:{long}{{hours="all"}}\n'
            f'  and on (service) (dozor:service_sli_error_ratio:{long}{{hours="all"}} > '
            f"{budget})\n"
            f'  and on (service) (dozor:service_sli_error_ratio:{short}{{hours="all"}} > '
            f"{budget})\n"
            f"  and on (service) (dozor:service_probe_failures:increase{short}"
            f'{{hours="all",maintenance="counted"}} >= {MIN_FAILURES})\n'
            + "\n".join(f"  {line}" for line in excused_by_platform(short).splitlines())
        )


PAGE_BURNS = (Burn(14.4, 3600, 300), Burn(6, 6 * 3600, 1800))
TICKET_BURNS = (Burn(3, DAY, 2 * 3600), Burn(1, 3 * DAY, 6 * 3600))


def _burn_text(burns: tuple[Burn, ...], ru: bool) -> str:
    def one(b: Burn) -> str:
        factor = f"{b.factor:g}".replace(".", ",") if ru else f"{b.factor:g}"
        joint = "и" if ru else "and"
        return f"×{factor} ({duration(b.long)} {joint} {duration(b.short)})"
    return (" или " if ru else " or ").join(one(b) for b in burns)


def _query(expr: str, humanize: str) -> str:
    """A template fragment showing one per-service value at alert time. Rules keep only
    ``service`` in the result, so objectives come from a query rather than a label."""
    return (f"{{{{ with printf `{expr}` $labels.service | query }}}}"
            f"{{{{ . | first | value | {humanize} }}}}{{{{ end }}}}")


def _objective(metric: str, humanize: str) -> str:
    return _query(f"{metric}{{service=%q}}", humanize)


def _service(expr: str) -> str:
    """Join the descriptive labels; the value stays the one the condition produced."""
    inner = "\n".join(f"  {line}" for line in expr.splitlines())
    return f"(\n{inner}\n)\n{INFO_JOIN}"


@dataclass(frozen=True, slots=True)
class Texts:
    dashboard: str

    def service(self, ru: str, en: str, objective: str, current: str) -> dict[str, str]:
        who = "{{ $labels.service }}"
        return {"summary_ru": f"{who}: {ru}", "summary_en": f"{who}: {en}",
                "objective": objective, "current": current,
                "dashboard": f"{self.dashboard}/d/dozor-service?var-service={who}"}

    def monitor(self, ru: str, en: str, objective: str, current: str) -> dict[str, str]:
        return {"summary_ru": ru, "summary_en": en, "objective": objective, "current": current,
                "dashboard": f"{self.dashboard}/d/dozor-monitor"}


def _availability(t: Texts) -> list[Alert]:
    objective = _objective("dozor:service_availability_objective", "humanizePercentage")
    alerts = []
    for name, severity, burns in (("DozorAvailabilityBurnFast", "page", PAGE_BURNS),
                                  ("DozorAvailabilityBurnSlow", "ticket", TICKET_BURNS)):
        pairs = "\n  or\n".join(b.expr() for b in burns)
        expr = f"max by (service) (\n{pairs}\n)\n{SUPPRESSED}"
        alerts.append(Alert(name, _service(expr), {"severity": severity}, t.service(
            f"доступность {{{{ $value | humanizePercentage }}}}, бюджет ошибок расходуется быстрее "
            f"{_burn_text(burns, ru=True)}",
            f"availability {{{{ $value | humanizePercentage }}}}, error budget burning at "
            f"{_burn_text(burns, ru=False)}",
            objective, "{{ $value | humanizePercentage }}")))
    return alerts


def _outage(t: Texts, windows: Windows) -> Alert:
    expr = ("dozor:service_outage_seconds\n"
            "> on (service) dozor:service_max_outage_objective_seconds\n"
            f"{SUPPRESSED}\n"
            f"{excused_by_platform(duration(windows.platform_hold))}")
    return Alert("DozorOutageTooLong", _service(expr), {"severity": "page"}, t.service(
        "недоступна уже {{ $value | humanizeDuration }}, дольше допустимого",
        "down for {{ $value | humanizeDuration }}, longer than the standard allows",
        _objective("dozor:service_max_outage_objective_seconds", "humanizeDuration"),
        "{{ $value | humanizeDuration }}"))


def _offhours(t: Texts, windows: Windows) -> Alert:
    w = duration(windows.standard)
    expr = ("dozor:service_offhours_availability:window\n"
            "< on (service) dozor:service_offhours_availability_objective\n"
            f"and on (service) (dozor:service_probe_failures:increase{w}"
            f'{{hours="offhours",maintenance="counted"}} >= {MIN_FAILURES})\n'
            f"{SUPPRESSED}")
    return Alert("DozorOffhoursAvailabilityLow", _service(expr), {"severity": "ticket"},
                 t.service(
                     f"доступность ночью, в выходные и праздники за {w} — "
                     "{{ $value | humanizePercentage }}, ниже стандарта",
                     f"off-hours availability over {w} is {{{{ $value | humanizePercentage }}}},"
                     " below the standard",
                     _objective("dozor:service_offhours_availability_objective",
                                "humanizePercentage"),
                     "{{ $value | humanizePercentage }}"), for_="15m")


def _latency(t: Texts) -> Alert:
    expr = ("dozor:service_latency_p95_seconds:1h\n"
            "> on (service) dozor:service_latency_p95_objective_seconds\n"
            f"{SUPPRESSED}")
    return Alert("DozorLatencyHigh", _service(expr), {"severity": "ticket"}, t.service(
        "95-й перцентиль времени ответа за 1h — {{ $value | humanizeDuration }}, "
        "выше стандарта",
        "p95 probe duration over 1h is {{ $value | humanizeDuration }}, above the standard",
        _objective("dozor:service_latency_p95_objective_seconds", "humanizeDuration"),
        "{{ $value | humanizeDuration }}"), for_="15m")


def _certificates(t: Texts) -> list[Alert]:
    left = f"min by (service, probe) ({TLS_CERT_EXPIRY_TIMESTAMP_SECONDS}) - time()"
    ticket, page = 21 * DAY, 7 * DAY
    ru = "сертификат пробы {{ $labels.probe }} истекает через {{ $value | humanizeDuration }}"
    en = "certificate of probe {{ $labels.probe }} expires in {{ $value | humanizeDuration }}"
    current = "{{ $value | humanizeDuration }}"
    return [
        Alert("DozorCertificateExpiringSoon", _service(f"({left}) < {ticket} >= {page}"),
              {"severity": "ticket"},
              t.service(ru, en, "more than 21d left / больше 21 дня", current)),
        Alert("DozorCertificateExpiryImminent", _service(f"({left}) < {page}"),
              {"severity": "page"},
              t.service(ru, en, "more than 7d left / больше 7 дней", current)),
    ]


def _stalled(t: Texts, windows: Windows) -> Alert:
    w = duration(windows.stall)
    keys = "service, probe, location"
    # The offset term skips probes younger than the window (just added, first run pending).
    expr = (f"sum by ({keys}) (increase({PROBES_TOTAL}[{w}])) == 0\n"
            f"and on ({keys})\n"
            f"sum by ({keys}) ({PROBES_TOTAL} offset {w})")
    return Alert("DozorProbesStalled", _service(expr), {"severity": "ticket"}, t.service(
        f"проба {{{{ $labels.probe }}}} в {{{{ $labels.location }}}} не запускалась {w}",
        f"probe {{{{ $labels.probe }}}} at {{{{ $labels.location }}}} has not run for {w}",
        f"a run at least every {w}", f"no run in {w}"))


def _per_platform(expr: str) -> str:
    """``expr`` (a query with ``%q`` for the platform id) as a template pipeline."""
    return f"printf `{expr}` $labels.platform | query"


def _count(expr: str) -> str:
    return (f"{{{{ with {_per_platform(expr)} }}}}{{{{ . | first | value }}}}"
            "{{ else }}0{{ end }}")


def _listed(expr: str, label: str) -> str:
    return (f'{{{{ range $i, $s := {_per_platform(expr)} | sortByLabel "{label}" }}}}'
            f"{{{{ if $i }}}}, {{{{ end }}}}{{{{ $s.Labels.{label} }}}}"
            "{{ else }}—{{ end }}")


def _platform() -> Alert:
    """The platform's curator is paged once, with the impact computed at alert time from the
    dependency edges; the dependents' own alerts are excused meanwhile (excused_by_platform).
    No ``service`` or ``region`` label: it is no service, and no one region's."""
    edges = "dozor:probe_depends_on{platform=%q}"
    # Only services the daemons still describe (a dependent removed by a reload is gone).
    dependents = f"max by (service) ({edges}) and on (service) dozor:service_info"
    total = _count(f"count({dependents})")
    down = _count(f"count(dozor:service_down == 1 and on (service) ({dependents}))")
    name = ("{{ with printf `dozor:platform_info{platform=%q}` $labels.platform | query }}"
            '{{ . | first | label "name" }}{{ end }}')
    who = f"{{{{ $labels.platform }}}} ({name})"
    expr = ("(dozor:platform_down == 1)\n"
            "* on (platform) group_left (curator) dozor:platform_info")
    return Alert("DozorPlatformDown", expr, {"severity": "page"}, {
        "summary_ru": f"платформа {who} недоступна: зависимых услуг {total}, "
                      f"сейчас недоступны {down}",
        "summary_en": f"platform {who} is down: {total} dependent services, {down} of them "
                      "down now",
        "life_situations": _listed(
            f"count by (life_situation) (dozor:life_situation_member and on (service) "
            f"({dependents}))", "life_situation"),
        "regions": _listed(f"count by (region) (dozor:service_info and on (service) ({edges}))",
                           "region"),
    }, for_=PLATFORM_FOR)


def _monitor(t: Texts, job_regex: str) -> list[Alert]:
    up = f'up{{job=~"{job_regex}"}}'
    return [
        Alert("DozorMonitorDown", f"{up} == 0\nor\nabsent({up})",
              {"severity": "page", "component": "monitor"}, t.monitor(
                  "Дозор не отвечает Prometheus: сервисы не проверяются",
                  "the Dozor monitor is down or not scraped: services are not being probed",
                  "up", "{{ with $labels.instance }}{{ . }} {{ end }}down"), for_="5m"),
        Alert("DozorConfigReloadFailed", f"{CONFIG_LAST_RELOAD_SUCCESSFUL} == 0",
              {"severity": "ticket", "component": "monitor"}, t.monitor(
                  "каталог {{ $labels.instance }} не загрузился, работает прежний",
                  "catalog reload failed on {{ $labels.instance }}; the previous one still runs",
                  "last reload successful", "last reload failed")),
        # Runs shed by admission control are the monitor's gap: the daemon needs more CPU or
        # fewer probes (another worker or shard). A rate over 5m for 5m: an isolated shed
        # (a GC pause, a reload) is over before the alert fires; shedding that recurs is not.
        Alert("DozorOverloaded",
              f"sum without (reason) (rate({SCHEDULER_SKIPPED_RUNS_TOTAL}"
              f'{{reason="{SkipReason.OVERLOAD.value}"}}[5m])) > 0',
              {"severity": "ticket", "component": "monitor"}, t.monitor(
                  "Дозор {{ $labels.instance }} перегружен: пропускает запуски проб",
                  "Dozor {{ $labels.instance }} is overloaded: it sheds probe runs",
                  "no run shed for overload",
                  '{{ printf "%.2f" $value }} runs/s shed'), for_="5m"),
    ]


def alert_group(windows: Windows, grafana_url: str, job_regex: str) -> Group:
    t = Texts(grafana_url.rstrip("/"))
    return Group("dozor.alerts", "1m", (
        *_availability(t), _outage(t, windows), _offhours(t, windows), _latency(t),
        *_certificates(t), _stalled(t, windows), _platform(), *_monitor(t, job_regex)))
