"""The self-contained HTML report, in Russian (it is forwarded to superiors)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from monitor.promql import COVERAGE_THRESHOLD
from monitor.report import fmt, svg
from monitor.report.model import (
    BARRIERS,
    HOURS_OF_WEEK,
    Accessibility,
    Cell,
    Outage,
    Part,
    Report,
    ServiceReport,
)

TITLES = {
    "availability": "Доступность",
    "offhours_availability": "Доступность в нерабочее время",
    "max_outage": "Самый долгий перерыв",
    "latency_p95": "Время отклика (p95)",
}
# With more services than this, heatmaps are drawn only for those breaking the standard.
ALL_HEATMAPS_UP_TO = 40

CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px;color:#222;font-size:14px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:6px 0} th,td{border:1px solid #ccc;padding:3px 6px;
text-align:left;vertical-align:top} th{background:#f0f0f0}
td.num{text-align:right;white-space:nowrap}
td.ok{background:#e3f4e1} td.bad{background:#fbe0dc} td.na{color:#888}
.meta{color:#555} .summary{font-size:16px;margin:10px 0}
.maps{display:flex;flex-wrap:wrap;gap:18px}
.note{color:#555;font-size:12px;max-width:1100px}
td.low{background:#e6e6e6;color:#444}
.swatch{display:inline-block;width:14px;height:12px;vertical-align:middle}
"""


def _value(part: Part) -> str:
    return (fmt.percent(part.value) if part.key.endswith("availability")
            else fmt.seconds(part.value))


def _objective(part: Part) -> str:
    if part.objective is None:
        return fmt.NONE
    if part.key.endswith("availability"):
        return "≥ " + fmt.percent(part.objective, 1)
    return "≤ " + fmt.seconds(part.objective)


def _part_cell(part: Part) -> str:
    met = part.met
    css, mark = ("na", "") if met is None else ("ok", "✓ ") if met else ("bad", "✗ ")
    return (f'<td class="num {css}">{mark}{escape(_value(part))}<br>'
            f'<small>норматив {escape(_objective(part))}</small></td>')


THRESHOLD = fmt.percent(COVERAGE_THRESHOLD, 0)
NOT_ENOUGH = "недостаточно данных"


def _coverage_cell(s: ServiceReport) -> str:
    """Grey below the threshold, never red: the runs missing are the monitor's gap."""
    if s.coverage is None:
        return f'<td class="num na">{fmt.NONE}</td>'
    css = "" if s.enough_data else " low"
    return (f'<td class="num{css}">{escape(fmt.percent(s.coverage))}<br>'
            f'<small>порог {escape(THRESHOLD)}</small></td>')


ACCESSIBILITY = "Доступность для людей с инвалидностью"
# The barrier impacts (model.BARRIERS) as the text names them: the heading's order, and the
# phrases of the summary and the note.
BARRIER_NAMES = {"critical": "критических", "serious": "серьёзных"}
WITHOUT_BARRIERS = "без критических и серьёзных нарушений"
BARRIER_LEVELS = "критического и серьёзного уровня"
NOT_AUDITED = "не проверяется"


def _counts(counts: Mapping[str, float]) -> str:
    return " / ".join(fmt.count(counts.get(impact)) for impact in BARRIERS)


def _accessibility_cell(a: Accessibility | None) -> str:
    """Coloured by the last audit (what the service is like now); the month's worst and the
    share of audited time without barriers below it. Not a part of the 24/7 standard: it
    changes no verdict."""
    if a is None:
        return f'<td class="na">{NOT_AUDITED}</td>'
    free = a.barrier_free
    css, mark = ("na", "") if free is None else ("ok", "✓ ") if free else ("bad", "✗ ")
    return (f'<td class="num {css}">{mark}{escape(_counts(a.last))}<br>'
            f"<small>худшее за месяц: {escape(_counts(a.worst))}</small><br>"
            f"<small>время без таких нарушений: "
            f"{escape(fmt.percent(a.barrier_free_share, 1))}</small></td>")


def _accessibility_summary(services: Sequence[ServiceReport]) -> str:
    audited = [s.accessibility for s in services if s.accessibility is not None]
    if not audited:
        return ""
    free = sum(1 for a in audited if a.barrier_free)
    return (f'<p class="summary">{ACCESSIBILITY}: проверяется услуг — <b>{len(audited)}</b>, '
            f"из них {WITHOUT_BARRIERS} при последней проверке — "
            f"<b>{free}</b>.</p>")


def _verdict(s: ServiceReport) -> str:
    if not s.enough_data:
        return f'<td class="low">{NOT_ENOUGH}</td>'
    if s.compliant is None:
        return '<td class="na">нет данных</td>'
    return '<td class="ok">соблюдён</td>' if s.compliant else '<td class="bad">нарушен</td>'


def _services_table(services: Sequence[ServiceReport], platforms: bool) -> str:
    """With ``platforms``, the availability excluding platform outages beside the measured
    one, as the maintenance pair is shown."""
    head = "".join(f"<th>{escape(TITLES[p])}</th>" for p in TITLES)
    rows = []
    for s in services:
        f = s.facts
        counted, excluded = fmt.percent(s.availability_counted), fmt.percent(
            s.availability_excluded)
        own = (f'<td class="num">{escape(fmt.percent(s.parts[0].value))} / '
               f"{escape(fmt.percent(s.availability_own))}</td>" if platforms else "")
        rows.append(
            f"<tr><td><b>{escape(f.name)}</b><br><small>{escape(f.id)}</small></td>"
            f"<td>{escape(f.region_name)}</td><td>{escape(f.curator_name)}</td>"
            f"<td>{'да' if f.mszu else 'нет'}</td>"
            + "".join(_part_cell(p) for p in s.parts)
            + f'<td class="num">{escape(counted)} / {escape(excluded)}</td>' + own
            + _coverage_cell(s) + _verdict(s) + _accessibility_cell(s.accessibility)
            + "</tr>")
    barriers = " / ".join(BARRIER_NAMES[i] for i in BARRIERS)
    return ("<table><tr><th>Услуга</th><th>Регион</th><th>Куратор</th><th>МСЗУ</th>"
            f"{head}<th>Доступность с учётом / без учёта регламентных работ</th>"
            f"{OWN_HEAD if platforms else ''}<th>Покрытие</th><th>Стандарт 24/7</th>"
            f"<th>{ACCESSIBILITY}: число {barriers} нарушений</th></tr>{''.join(rows)}</table>")


OWN_HEAD = "<th>Доступность фактическая / без учёта сбоев платформ</th>"


def because(name: str) -> str:
    return f"из-за недоступности платформы «{name}»"


def _cause(o: Outage, names: Mapping[str, str]) -> str:
    """Whose the outage was: the platforms out during it (and for how long, when not all of
    it), and what was left the service's own."""
    if not o.caused_by:
        return "собственный сбой"
    parts = [because(names.get(p, p)) + ("" if seconds >= o.seconds - 1
                                         else f" ({fmt.seconds(seconds)})")
             for p, seconds in o.caused_by]
    if o.own_seconds >= 1:
        parts.append(f"собственный сбой: {fmt.seconds(o.own_seconds)}")
    return "; ".join(parts)


def _platforms(report: Report) -> str:
    names = {p.facts.id: p.facts.name for p in report.platforms}
    rows = []
    for p in report.platforms:
        dependents = report.dependents(p.facts.id)
        caused = sum(s.outage_seconds_by(p.facts.id) for s in dependents)
        affected = sum(1 for s in dependents if s.affected_by(p.facts.id))
        rows.append(f"<tr><td><b>{escape(p.facts.name)}</b><br><small>{escape(p.facts.id)}"
                    f"</small></td><td>{escape(p.facts.curator_name)}</td>"
                    f"<td class='num'>{escape(fmt.percent(p.availability))}</td>"
                    f"<td class='num'>{len(p.outages)}</td>"
                    f"<td class='num'>{escape(fmt.seconds(p.outage_seconds))}</td>"
                    f"<td class='num'>{len(dependents)}</td><td class='num'>{affected}</td>"
                    f"<td class='num'>{escape(fmt.seconds(caused))}</td></tr>")
    split = []
    for s in report.services:
        if not s.facts.platforms:
            continue
        shares = "<br>".join(
            f"{escape(names.get(p, p))}: {escape(fmt.seconds(s.outage_seconds_by(p)))}"
            for p in s.facts.platforms if p in names)
        split.append(f"<tr><td>{escape(s.facts.name)}</td>"
                     f"<td class='num'>{escape(fmt.seconds(s.outage_seconds))}</td>"
                     f"<td class='num'>{escape(fmt.seconds(s.own_outage_seconds))}</td>"
                     f"<td>{shares}</td>"
                     f"<td class='num'>{escape(fmt.percent(s.parts[0].value))} / "
                     f"{escape(fmt.percent(s.availability_own))}</td></tr>")
    return ("<p class='note'>Общие платформы (единая система идентификации, шина обмена): "
            "их собственная доступность и перерывы, и сколько перерывов зависящих от них "
            "услуг пришлось на время, когда платформа не работала. Платформа — не услуга: "
            "в таблице услуг и рейтинге её нет.</p>"
            "<table><tr><th>Платформа</th><th>Куратор</th><th>Доступность</th>"
            "<th>Перерывов</th><th>Перерывы, всего</th><th>Зависящих услуг</th>"
            "<th>Из них затронуто</th><th>Перерывы услуг из-за платформы</th></tr>"
            + "".join(rows) + "</table>"
            + ("<table><tr><th>Услуга</th><th>Перерывы, всего</th><th>Собственные</th>"
               "<th>Из-за платформ</th><th>Доступность фактическая / без учёта сбоев "
               "платформ</th></tr>" + "".join(split) + "</table>" if split else ""))


def _regions_table(report: Report) -> str:
    rows = []
    for place, r in enumerate(report.regions, start=1):
        rows.append(f"<tr><td class='num'>{place}</td><td>{escape(r.name)}<br>"
                    f"<small>{escape(r.code)}</small></td><td class='num'>{r.ranked}</td>"
                    f"<td class='num'>{r.compliant}</td>"
                    f"<td class='num'>{escape(fmt.percent(r.share, 0))}</td></tr>")
    return ("<table><tr><th>Место</th><th>Регион</th><th>Услуг МСЗУ с данными</th>"
            "<th>Соблюдают стандарт</th><th>Доля</th></tr>" + "".join(rows) + "</table>")


def _outages(report: Report) -> str:
    shown = [s for s in report.services if s.outages or s.gaps]
    with_outages = [s for s in shown if s.outages]
    p = report.period
    chart = (svg.timeline([(s.facts.name, s.outages, s.gaps) for s in shown], p.start, p.end,
                          days=round(p.seconds / 86400 + 0.49)) + svg.timeline_legend()
             if shown else "")
    if not with_outages:
        return chart + "<p>Перерывов в работе не зафиксировано.</p>"
    names = {p.facts.id: p.facts.name for p in report.platforms}
    rows = []
    for s in with_outages:
        for o in s.outages:
            cause = f"<td>{escape(_cause(o, names))}</td>" if names else ""
            rows.append(f"<tr><td>{escape(s.facts.name)}</td>"
                        f"<td class='num'>{fmt.moscow(o.start)}</td>"
                        f"<td class='num'>{fmt.moscow(o.end)}"
                        f"{' (продолжается)' if o.ongoing else ''}</td>"
                        f"<td class='num'>{escape(fmt.seconds(o.seconds))}</td>{cause}</tr>")
    return (chart + "<table><tr><th>Услуга</th><th>Начало (МСК)</th><th>Окончание (МСК)</th>"
            f"<th>Длительность</th>{'<th>Причина</th>' if names else ''}</tr>"
            + "".join(rows) + "</table>")


def _total(services: Sequence[ServiceReport]) -> list[Cell]:
    cells = [[0.0, 0.0] for _ in range(HOURS_OF_WEEK)]
    for s in services:
        for i, c in enumerate(s.heatmap):
            cells[i][0] += c.events
            cells[i][1] += c.failures
    return [Cell(e, f) for e, f in cells]


def _heatmaps(report: Report) -> str:
    services = report.services
    shown = (services if len(services) <= ALL_HEATMAPS_UP_TO
             else [s for s in services if s.compliant is False])
    maps = [svg.heatmap(_total(services), "Все услуги отчёта (местное время регионов)")]
    maps += [svg.heatmap(s.heatmap, f"{s.facts.name} ({s.facts.timezone})")
             for s in shown if s.heatmap]
    return svg.legend() + '<div class="maps">' + "".join(maps) + "</div>"


PLATFORM_NOTE = """
<p class="note">Сбои платформ. Если проверка услуги идёт через общую платформу (единую систему
идентификации, шину обмена), то её неудачные проверки в те 5 минут, когда не работала и сама
платформа, относятся на платформу: в пределах доли неудачных проверок самой платформы в эти
5 минут и только для проверок, которые через неё идут. Доступность «без учёта сбоев платформ»
считает такие проверки успешными; стандарт 24/7 оценивается по фактической доступности (для
гражданина услуга не работала). Перерыв делится так же: на время, когда не работала платформа,
через которую шли все неудачные проверки услуги, и собственный сбой.</p>"""


def render_html(report: Report) -> str:
    p = report.period
    services = report.services
    compliant = sum(1 for s in services if s.compliant)
    measured = sum(1 for s in services if s.compliant is not None)
    thin = sum(1 for s in services if not s.enough_data)
    thin_note = f", {NOT_ENOUGH} — {thin}" if thin else ""
    mszu = [s.compliant for s in services if s.facts.mszu and s.compliant is not None]
    share = fmt.percent(sum(mszu) / len(mszu), 0) if mszu else fmt.NONE
    partial = "" if p.complete else f" (неполный месяц: по {fmt.moscow(p.end)})"
    return f"""<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8">
<title>Отчёт о соблюдении стандарта 24/7 — {escape(fmt.month_title(p.label))}</title>
<style>{CSS}</style></head><body>
<h1>Отчёт о соблюдении стандарта работы госуслуг 24/7</h1>
<div class="meta">Период: {escape(fmt.month_title(p.label))}{escape(partial)},
{fmt.moscow(p.start)} — {fmt.moscow(p.end)} по московскому времени.
Выборка: {escape(report.selection)}. Сформирован {fmt.moscow(report.generated_at)} (МСК)
по данным Prometheus {escape(report.prometheus)}.</div>
<p class="summary">Стандарт соблюдают <b>{compliant}</b> из {measured} услуг с данными
(всего в отчёте {len(services)}{thin_note}). Доля услуг МСЗУ, соблюдающих стандарт:
<b>{share}</b>.</p>{_accessibility_summary(services)}
<h2>Соблюдение стандарта по услугам</h2>
{_services_table(services, bool(report.platforms))}
<h2>Рейтинг регионов</h2>
<p class="note">Доля социально значимых услуг (МСЗУ), соблюдающих все части стандарта.</p>
{svg.ranking(report.regions)}
{_regions_table(report)}
<h2>Перерывы в работе</h2>
{_outages(report)}{"<h2>Платформы</h2>" + _platforms(report) if report.platforms else ""}
<h2>Доступность по часам недели</h2>
<p class="note">Доля успешных проверок в каждый час недели за месяц, по местному времени
региона услуги; серые клетки — нет данных (в этот час недели проверок не было).{
" Показаны услуги, нарушившие стандарт." if len(services) > ALL_HEATMAPS_UP_TO else ""}</p>
{_heatmaps(report)}
<h2>Как считаются показатели</h2>
<p class="note">Каждый плановый запуск проверки — одно событие. Доступность — доля успешных
событий за месяц; при нескольких точках наблюдения за каждые 5 минут берётся значение, с
которым согласно большинство точек (кворум). Нерабочее время — ночь 22:00–06:00, выходные и
праздники по местному времени региона. Перерыв — время, когда проверки подряд завершались
неудачей: от конца последней успешной проверки до начала следующей успешной, у большинства
точек наблюдения, проверявших услугу в тот момент; время, когда сам монитор не работал,
перерывом не считается. Самый долгий перерыв — наибольший из перерывов в списке. Время
отклика — 95-й процентиль длительности проверки. Нормативы — действующие для услуги значения
стандарта из каталога. Регламентные работы учитываются как перерыв, если для услуги не
установлено иное; доступность приведена в обоих вариантах. Покрытие — доля плановых запусков
проверок (по одному за интервал каждой проверки), которые действительно состоялись, в том числе
пока монитор не работал; для услуги — значение, которого достигло большинство точек
наблюдения. При покрытии ниже {THRESHOLD} показатели описывают слишком малую часть месяца:
услуга не признаётся ни соблюдающей, ни нарушающей стандарт («{NOT_ENOUGH}») и не участвует
в рейтинге регионов. Время, когда монитор не работал, — не перерыв в работе услуги: на
графике перерывов оно серое.</p>{PLATFORM_NOTE if report.platforms else ""}
<p class="note">{ACCESSIBILITY} — только у услуг, страницы которых в этом месяце
автоматически проверялись на соответствие требованиям доступности; у остальных — «{NOT_AUDITED}»
(это не «нет нарушений»). Показано число нарушенных правил {BARRIER_LEVELS} — такие
нарушения не дают части граждан получить услугу или сильно затрудняют это: при последней
проверке месяца (цвет ячейки), наибольшее за месяц и доля времени, когда последняя на тот момент
проверка таких нарушений не находила (из времени, когда проверки велись). Если проверяется
несколько страниц услуги или из нескольких точек наблюдения, берётся худшая. Этот столбец не
входит в стандарт 24/7 и на его соблюдение не влияет.</p>
</body></html>
"""
