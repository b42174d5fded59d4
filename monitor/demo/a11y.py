"""A page that works but fails an accessibility audit, for the browser probe kind's audit.

``FORM_PATH`` is Smolensk's application form for «Присвоение адреса объекту адресации», as a
small contractor might build it: it answers 200, loads nothing that fails and submits, yet a
screen-reader user or a low-vision citizen cannot use it. Exactly three violations, each one
that axe-core reports at an impact a sane audit threshold rejects:

- the logo ``<img>`` has no ``alt`` (axe ``image-alt``, critical);
- the cadastral number ``<input>`` has no label, only a caption beside it (axe ``label``,
  critical; no ``placeholder`` either, which axe would accept as its name);
- the hint under the heading is light grey on white, about 2:1 (axe ``color-contrast``,
  serious; WCAG AA asks 4.5:1).

Everything else (language, title, landmarks, headings) is right, so the audit finds only these.
"""

from __future__ import annotations

from aiohttp import web

SERVICE = "address-assignment-smo"
FORM_PATH = "/smo/address-assignment/apply"
TITLE = "Заявление о присвоении адреса объекту адресации"
LOW_CONTRAST = "#b8b8b8"  # on white: 1.98:1
# A real file would be a second request; a data: URL keeps the page one request, and no CSP
# here forbids it.
_LOGO = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='120' height='40'%3E"
         "%3Crect width='120' height='40' fill='%23005aa0'/%3E%3C/svg%3E")

_HTML = f"""<!doctype html>
<html lang="ru">
<head>
<meta charset="utf-8">
<title>{TITLE} — Администрация города Смоленска</title>
</head>
<body>
<header><img src="{_LOGO}" width="120" height="40"></header>
<main>
<h1>{TITLE}</h1>
<p style="color: {LOW_CONTRAST}; background: #ffffff">Все поля обязательны для заполнения.</p>
<form method="get" action="{FORM_PATH}">
<p><span>Кадастровый номер</span> <input type="text" name="cadastral_number"></p>
<p><button type="submit">Отправить заявление</button></p>
</form>
</main>
<footer><p>Управление архитектуры и градостроительства Администрации города Смоленска</p></footer>
</body>
</html>
"""


def routes() -> list[web.RouteDef]:
    async def form(request: web.Request) -> web.StreamResponse:
        return web.Response(text=_HTML, content_type="text/html", charset="utf-8",
                            headers={"Server": "nginx", "Cache-Control": "no-store"})

    return [web.get(FORM_PATH, form)]
