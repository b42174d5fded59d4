"""A small web site on 127.0.0.1 for browser probes: a form, a single-page app whose API can
be switched off, a page that hangs its renderer, a slow page, error statuses, a page with
accessibility violations, and one that echoes typed text into the console and a URL.

Every page sends a Content-Security-Policy that forbids inline script (as government portals
do), so what a probe injects must get past it the way the probe does (CDP), not by a
``<script>`` tag. Counts concurrent requests to ``/slowish`` so a test can see a cap hold.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Self

from aiohttp import web

CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'"

_HEAD = """<!doctype html><html lang="ru"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
</head><body><header><p>Портал государственных услуг (тест)</p></header><main>{body}</main>
{scripts}</body></html>"""

PAGES = {
    "/": ("Госуслуги — главная", "<h1>Запись к врачу</h1><p>Сервис работает круглосуточно.</p>",
          ""),
    "/form": ("Заявление — Госуслуги", """
<h1>Подать заявление</h1>
<p id="spinner">Загрузка…</p>
<form id="f" action="javascript:void(0)">
 <label for="name">ФИО</label><input id="name" name="name" autocomplete="off">
 <label for="region">Регион</label>
 <select id="region"><option value="">—</option><option value="27">Хабаровский край</option>
 <option value="77">Москва</option></select>
 <label for="q">Поиск</label><input id="q" name="q">
 <button id="send" type="button">Отправить</button>
</form>
<p id="result"></p><p id="search-result"></p>
<img src="/missing.png" alt="Схема проезда">""", "/form.js"),
    "/spa": ("Талоны — Госуслуги", """
<h1>Запись к врачу</h1><div id="app"><p>Загрузка…</p></div>""", "/spa.js"),
    "/hang": ("Зависшая страница", "<h1>Сейчас всё зависнет</h1>", "/hang.js"),
    "/a11y-bad": ("Недоступная страница", """
<h1>Справка</h1><img src="/pixel.png"><input id="nolabel">
<p style="color:#eee;background:#fff">Бледный текст, который трудно прочесть</p>""", ""),
    "/echo": ("Эхо", """
<h1>Вход</h1><label for="secret">Пароль</label><input id="secret">
<button id="go" type="button">Войти</button>""", "/echo.js"),
}

SCRIPTS = {
    "/form.js": """
setTimeout(() => { document.getElementById('spinner').hidden = true; }, 100);
console.error('analytics: counter blocked');
setTimeout(() => { throw new Error('widget failed'); }, 0);
document.getElementById('send').addEventListener('click', () => {
  const region = document.getElementById('region').value;
  const name = document.getElementById('name').value;
  document.getElementById('result').textContent =
    'Заявление принято: регион ' + region + ', букв в ФИО ' + name.length;
});
document.getElementById('q').addEventListener('keydown', (e) => {
  if (e.key === 'Enter') document.getElementById('search-result').textContent = 'Поиск: готово';
});
""",
    "/spa.js": """
fetch('/api/slots').then(r => { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
  .then(d => {
    const app = document.getElementById('app');
    app.innerHTML = '<h2>Свободные талоны</h2><ul id="slots"></ul>';
    for (const s of d.slots) {
      const li = document.createElement('li'); li.textContent = s;
      document.getElementById('slots').appendChild(li);
    }
  })
  .catch(() => { document.getElementById('app').innerHTML =
    '<p role="alert">Сервис временно недоступен</p>'; });
""",
    "/hang.js": "setTimeout(() => { for (;;) {} }, 50);",
    "/echo.js": """
document.getElementById('go').addEventListener('click', () => {
  const v = document.getElementById('secret').value;
  console.error('login failed for ' + v);
  fetch('/denied?password=' + encodeURIComponent(v));
});
""",
}


@dataclass
class BrowserSite:
    """The site; ``api_down`` makes ``/api/slots`` answer 503, ``slow`` delays ``/slow``."""

    api_down: bool = False
    slow: float = 5.0
    slowish: float = 0.3
    in_flight: int = 0
    most_in_flight: int = 0
    requests: int = 0
    url: str = ""
    _runner: web.AppRunner | None = field(default=None, repr=False)

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> Self:
        app = web.Application()
        app.router.add_get("/api/slots", self._slots)
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/slowish", self._slowish)
        app.router.add_get("/status/{code:\\d+}", self._status)
        app.router.add_get("/{path:.*}", self._static)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _static(self, request: web.Request) -> web.Response:
        self.requests += 1
        path = request.path
        if path in PAGES:
            title, body, script = PAGES[path]
            scripts = f'<script src="{script}"></script>' if script else ""
            html = _HEAD.format(title=title, body=body, scripts=scripts)
            return web.Response(text=html, content_type="text/html", headers={
                "Content-Security-Policy": CSP})
        if path in SCRIPTS:
            return web.Response(text=SCRIPTS[path], content_type="application/javascript")
        return web.Response(status=404, text="нет такой страницы")

    async def _slots(self, _: web.Request) -> web.Response:
        if self.api_down:
            return web.json_response({"error": "backend unavailable"}, status=503)
        return web.json_response({"slots": ["Терапевт, 09:00", "Хирург, 10:30"]})

    async def _slow(self, _: web.Request) -> web.Response:
        await asyncio.sleep(self.slow)
        return web.Response(text="<p>наконец</p>", content_type="text/html")

    async def _slowish(self, _: web.Request) -> web.Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.slowish)
        finally:
            self.in_flight -= 1
        return web.Response(text="<!doctype html><title>ok</title><p>ok</p>",
                            content_type="text/html")

    async def _status(self, request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="ошибка")
