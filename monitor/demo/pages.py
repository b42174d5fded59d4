"""Bodies the world answers with: a portal page, a status API document, or an error page
that looks like what a real front proxy shows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from html import escape

from aiohttp import web

from monitor.demo.sites import Site

# Real portals sit behind nginx; probes that match on headers should see realistic ones.
_COMMON_HEADERS = {"Server": "nginx", "Cache-Control": "no-store"}

_ERRORS = {
    500: ("Внутренняя ошибка сервера", "Произошла ошибка. Повторите попытку позже."),
    502: ("502 Bad Gateway", "Сервис временно недоступен."),
    503: ("Технические работы", "Ведутся технические работы. Сервис временно недоступен."),
}


def page(site: Site, local_now: datetime) -> web.Response:
    if site.kind == "json":
        return _status_document(site, local_now)
    title, department = escape(site.title), escape(site.department)
    html = f"""<!doctype html>
<html lang="ru">
<head><meta charset="utf-8"><title>{title} — {department}</title></head>
<body>
<header><a href="/">Госуслуги</a></header>
<main>
<h1>{title}</h1>
<p>Услугу предоставляет: {department}.</p>
<p>Подача заявления в электронном виде доступна круглосуточно.</p>
<a class="button" href="{escape(site.path)}/apply">Подать заявление</a>
</main>
<footer>Местное время: {local_now:%H:%M}</footer>
</body>
</html>
"""
    return web.Response(
        text=html, content_type="text/html", charset="utf-8", headers=_COMMON_HEADERS
    )


def _status_document(site: Site, local_now: datetime) -> web.Response:
    document = {
        "service": site.service,
        "status": "available",
        "message": "Приём заявлений открыт",
        "title": site.title,
        "checked_at": local_now.isoformat(timespec="seconds"),
    }
    return web.Response(
        text=json.dumps(document, ensure_ascii=False),
        content_type="application/json",
        charset="utf-8",
        headers=_COMMON_HEADERS,
    )


def error_page(status: int) -> web.Response:
    title, text = _ERRORS.get(status, ("Ошибка", "Сервис недоступен."))
    html = f'<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>{title}</title>'
    html += f"</head><body><h1>{title}</h1><p>{text}</p></body></html>\n"
    headers = dict(_COMMON_HEADERS)
    if status == 503:
        headers["Retry-After"] = "3600"
    return web.Response(
        status=status, text=html, content_type="text/html", charset="utf-8", headers=headers
    )


@dataclass(frozen=True)
class Link:
    """One line of the index: a page, its service and what is wrong with it on purpose."""

    path: str
    title: str
    service: str
    fault: str = "none"


def index(links: tuple[Link, ...], base: str) -> web.Response:
    """A list of every demo page, so a newcomer opening the world's root finds their way."""
    items = "\n".join(
        f'<li><a href="{escape(s.path)}">{escape(s.title)}</a> — {escape(s.service)}'
        f"{'' if s.fault == 'none' else f' (fault: {escape(s.fault)})'}</li>"
        for s in links
    )
    html = (
        '<!doctype html><html lang="ru"><head><meta charset="utf-8">'
        f"<title>Dozor demo world</title></head><body><h1>Dozor demo world</h1>"
        f"<p>{escape(base)}</p><ul>\n{items}\n</ul></body></html>\n"
    )
    return web.Response(
        text=html, content_type="text/html", charset="utf-8", headers=_COMMON_HEADERS
    )
