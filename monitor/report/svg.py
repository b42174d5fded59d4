"""Hand-built inline SVG charts: the HTML stays self-contained and renders offline."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from html import escape

from monitor.report import fmt
from monitor.report.model import Cell, Outage, RegionRank

FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'
GREY = "#e6e6e6"
# The timeline's "no data": darker than its row's background, never red (the monitor's gap,
# not the service's outage).
NO_DATA = "#a6a6a6"
OUTAGE = "#d73027"


def colour(availability: float | None) -> str:
    """Red at 90 % and below, through yellow at 99 %, to green at 100 %."""
    if availability is None:
        return GREY
    points = ((0.90, (215, 48, 39)), (0.99, (254, 224, 139)), (0.999, (145, 207, 96)),
              (1.0, (26, 152, 80)))
    rgb: tuple[int, ...] = points[0][1]
    if availability > points[0][0]:
        rgb = points[-1][1]
        for (a0, c0), (a1, c1) in itertools.pairwise(points):
            if availability <= a1:
                k = (availability - a0) / (a1 - a0)
                rgb = tuple(round(x0 + (x1 - x0) * k) for x0, x1 in zip(c0, c1, strict=True))
                break
    return "#" + "".join(f"{c:02x}" for c in rgb)


def heatmap(cells: Sequence[Cell], caption: str) -> str:
    """7 rows (Monday first) × 24 hours of local time."""
    cw, ch, left, top = 26, 20, 34, 34
    width, height = left + 24 * cw + 10, top + 7 * ch + 10
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" {FONT} font-size="11" role="img">',
           f'<text x="0" y="14" font-size="13" font-weight="bold">{escape(caption)}</text>']
    for hour in range(24):
        out.append(f'<text x="{left + hour * cw + cw / 2}" y="{top - 4}" '
                   f'text-anchor="middle">{hour:02d}</text>')
    for day in range(7):
        y = top + day * ch
        out.append(f'<text x="0" y="{y + ch - 6}">{fmt.WEEKDAYS[day]}</text>')
        for hour in range(24):
            cell = cells[day * 24 + hour] if len(cells) == 168 else None
            value = cell.availability if cell is not None else None
            tip = (f"{fmt.WEEKDAYS[day]} {hour:02d}:00–{(hour + 1) % 24:02d}:00: "
                   f"{fmt.percent(value)}")
            out.append(f'<rect x="{left + hour * cw}" y="{y}" width="{cw - 2}" '
                       f'height="{ch - 2}" fill="{colour(value)}"><title>{escape(tip)}'
                       f'</title></rect>')
    out.append("</svg>")
    return "".join(out)


def legend() -> str:
    stops = (0.90, 0.95, 0.99, 0.995, 0.999, 1.0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{len(stops) * 80 + 110}" '
           f'height="24" {FONT} font-size="11">']
    for i, a in enumerate(stops):
        out.append(f'<rect x="{i * 80}" y="4" width="16" height="14" fill="{colour(a)}"/>'
                   f'<text x="{i * 80 + 20}" y="15">{"≤ " if i == 0 else ""}'
                   f'{escape(fmt.percent(a, 1))}</text>')
    out.append(f'<rect x="{len(stops) * 80}" y="4" width="16" height="14" fill="{GREY}"/>'
               f'<text x="{len(stops) * 80 + 20}" y="15">нет данных</text></svg>')
    return "".join(out)


def ranking(regions: Sequence[RegionRank]) -> str:
    """Horizontal bars: share of МСЗУ services meeting the standard, per region."""
    row, left, bar = 24, 230, 420
    height = row * len(regions) + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + bar + 80}" '
           f'height="{height}" {FONT} font-size="12" role="img">']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = left + bar * tick
        out.append(f'<line x1="{x}" y1="0" x2="{x}" y2="{height - 18}" stroke="#ccc"/>'
                   f'<text x="{x}" y="{height - 4}" text-anchor="middle">'
                   f'{round(tick * 100)} %</text>')
    for i, r in enumerate(regions):
        y = i * row + 4
        share = r.share
        out.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end">'
                   f'{escape(r.name[:32])}</text>')
        if share is None:
            out.append(f'<text x="{left + 4}" y="{y + 14}" fill="#888">нет МСЗУ с данными'
                       f'</text>')
            continue
        fill = "#1a9850" if share >= 0.999 else "#fdae61" if share >= 0.5 else "#d73027"
        out.append(f'<rect x="{left}" y="{y}" width="{max(bar * share, 1):.1f}" height="18" '
                   f'fill="{fill}"/><text x="{left + bar * share + 6:.1f}" y="{y + 14}">'
                   f'{escape(fmt.percent(share, 0))} ({r.compliant}/{r.ranked})</text>')
    out.append("</svg>")
    return "".join(out)


def timeline(rows: Sequence[tuple[str, Sequence[Outage], Sequence[tuple[float, float]]]],
             start: float, end: float, days: int) -> str:
    """One row per service with outages or gaps, on the month's day axis: red where it was
    down, grey where no location measured it (no data: neither up nor down)."""
    row, left, width = 22, 230, 700
    height = row * len(rows) + 34
    scale = width / (end - start)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" '
           f'height="{height}" {FONT} font-size="11" role="img">']
    for day in range(0, days + 1):
        x = left + day * 86400 * scale
        if x > left + width + 0.5:
            break
        out.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 18}" '
                   f'stroke="{"#bbb" if day % 7 == 0 else "#eee"}"/>')
        if day % 2 == 0 and day < days:
            out.append(f'<text x="{x + 2:.1f}" y="{height - 4}">{day + 1}</text>')
    for i, (name, outages, gaps) in enumerate(rows):
        y = i * row + 2
        out.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end">'
                   f'{escape(name[:32])}</text>'
                   f'<rect x="{left}" y="{y + 2}" width="{width}" height="16" fill="#f4f4f4"/>')
        spans = [(a, b, NO_DATA, "нет данных") for a, b in gaps]
        spans += [(o.start, o.end, OUTAGE, "перерыв") for o in outages]
        for a, b, fill, what in spans:
            a, b = max(a, start), min(b, end)
            if b <= a:
                continue
            x = left + (a - start) * scale
            w = max((b - a) * scale, 1.5)  # a one-minute outage stays visible
            tip = f"{what}: {fmt.moscow(a)} — {fmt.moscow(b)} ({fmt.seconds(b - a)})"
            out.append(f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="16" '
                       f'fill="{fill}"><title>{escape(tip)}</title></rect>')
    out.append("</svg>")
    return "".join(out)


def timeline_legend() -> str:
    """HTML, below the timeline: what its colours mean."""
    items = ((OUTAGE, "перерыв в работе"),
             (NO_DATA, "нет данных: не работал монитор (не перерыв и не работа услуги)"))
    return '<p class="note">' + " &nbsp; ".join(
        f'<span class="swatch" style="background:{fill}"></span> {escape(text)}'
        for fill, text in items) + "</p>"
