"""A single-page app, for the browser probe kind: Khabarovsk's «Запись на приём к врачу».

- ``SHELL_PATH``: the HTML shell. It ALWAYS answers 200 with "Загрузка…" and one external
  script, so an http probe on it says up whatever the data behind it does.
- ``SCRIPT_PATH``: that script. It is a file of its own rather than an inline ``<script>``, so
  the shell can send a Content-Security-Policy that forbids inline scripts, as real portals do.
  It fetches ``API_PATH`` and renders the heading "Свободные талоны", ``#slots``
  ("Талонов свободно: N") and the list; when the API fails it shows ``#error``
  ("Сервис временно недоступен…") and never the list.
- ``API_PATH``: the JSON the page is built from. It answers 503 while
  :func:`faults.hourly_fault_on` holds in Khabarovsk time (the same cron job that takes
  construction-permit-khv down), so only a probe that runs the script, a real browser, sees
  the service down.

The shell is meant to pass an accessibility audit (language, title, landmarks, one ``h1``,
named progress bar, default black on white), so the demo's audit findings come from
``a11y.py`` alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from monitor.demo.faults import hourly_fault_on

SERVICE = "doctor-khv"
TITLE = "Запись на приём к врачу"
DEPARTMENT = "Министерство здравоохранения Хабаровского края"
ZONE = ZoneInfo("Asia/Vladivostok")  # Khabarovsk: the hourly fault follows its local time
SHELL_PATH = "/khv/doctor"
SCRIPT_PATH = "/khv/doctor/app.js"
API_PATH = "/api/khv/doctor/v1/slots"
# What the rendered page shows, and a probe of it expects.
SLOTS_HEADING = "Свободные талоны"
SLOTS_TEXT = "Талонов свободно: {}"
UNAVAILABLE_TEXT = "Сервис временно недоступен. Попробуйте записаться позже."
CLINIC = "КГБУЗ «Городская поликлиника № 3», Хабаровск"
# (time, specialty, doctor) of tomorrow's free slots: fixed, so tests know what is rendered.
SLOTS = (
    ("08:30", "Терапевт", "Иванова М. С."),
    ("09:15", "Терапевт", "Иванова М. С."),
    ("11:00", "Офтальмолог", "Ким Д. А."),
    ("14:40", "Хирург", "Белов П. Р."),
)

Now = Callable[[], datetime]

_HEADERS = {"Server": "nginx", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
# Scripts, requests and everything else from this origin only, and no inline script: the
# shell works under it only because its script is a separate file.
_CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

# Plain DOM calls (textContent, no innerHTML): the API's strings are never parsed as markup.
# The texts come in as one JSON argument, so this file and the Python constants cannot drift.
_SCRIPT_BODY = """\
"use strict";
// Everything the page shows past "Загрузка…" comes from the API, so a probe that reads only
// the shell's HTML never sees the API fail; a browser running this script does.
((text) => {
  const app = document.getElementById("app");

  const element = (tag, content, id) => {
    const node = document.createElement(tag);
    node.textContent = content;
    if (id) node.id = id;
    return node;
  };

  const show = (...nodes) => {
    app.replaceChildren(...nodes);
    app.setAttribute("aria-busy", "false");
  };

  const render = (data) => {
    const list = document.createElement("ul");
    for (const slot of data.slots) {
      const day = slot.date.split("-").reverse().join(".");  // 2025-06-12 -> 12.06.2025
      list.append(element("li", `${day}, ${slot.time} — ${slot.specialty}, ${slot.doctor}`));
    }
    show(element("h2", text.heading), element("p", data.clinic),
         element("p", text.count.replace("{}", data.slots.length), "slots"), list);
  };

  const fail = () => {
    const error = element("p", text.unavailable, "error");
    error.setAttribute("role", "alert");
    show(error);
  };

  fetch(app.dataset.api, {headers: {Accept: "application/json"}})
    .then((response) => {
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return response.json();
    })
    .then(render)
    .catch(fail);
})("""
_TEXTS = {"heading": SLOTS_HEADING, "count": SLOTS_TEXT, "unavailable": UNAVAILABLE_TEXT}
_SCRIPT = f"{_SCRIPT_BODY}{json.dumps(_TEXTS, ensure_ascii=False)});\n"


def routes(now: Now) -> list[web.RouteDef]:
    """The app's three paths; ``now`` is the world's clock (aware UTC)."""

    async def shell(request: web.Request) -> web.StreamResponse:
        return _shell(now().astimezone(ZONE))

    async def script(request: web.Request) -> web.StreamResponse:
        return web.Response(text=_SCRIPT, content_type="text/javascript", charset="utf-8",
                            headers=_HEADERS)

    async def api(request: web.Request) -> web.StreamResponse:
        return _api(now().astimezone(ZONE))

    return [web.get(SHELL_PATH, shell), web.get(SCRIPT_PATH, script), web.get(API_PATH, api)]


def _shell(local_now: datetime) -> web.Response:
    html = f"""<!doctype html>
<html lang="ru">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{TITLE} — {DEPARTMENT}</title>
<script src="{SCRIPT_PATH}" defer></script>
</head>
<body>
<header><a href="/">Госуслуги</a></header>
<main>
<h1>{TITLE}</h1>
<div id="app" data-api="{API_PATH}" aria-live="polite" aria-busy="true">
<p><progress aria-label="Загрузка"></progress> Загрузка…</p>
</div>
<noscript><p>Для записи включите JavaScript.</p></noscript>
</main>
<footer><p>{DEPARTMENT}. Местное время: {local_now:%H:%M}</p></footer>
</body>
</html>
"""
    return web.Response(text=html, content_type="text/html", charset="utf-8",
                        headers={**_HEADERS, "Content-Security-Policy": _CSP})


def _api(local_now: datetime) -> web.Response:
    if hourly_fault_on(local_now):
        # What the API gateway says while the backend restarts; the shell is not behind it.
        body: dict[str, object] = {"error": "service_unavailable", "message": UNAVAILABLE_TEXT}
        return web.Response(status=503, text=json.dumps(body, ensure_ascii=False),
                            content_type="application/json", charset="utf-8",
                            headers={**_HEADERS, "Retry-After": "600"})
    tomorrow = (local_now + timedelta(days=1)).date().isoformat()
    body = {
        "service": SERVICE,
        "clinic": CLINIC,
        "slots": [{"date": tomorrow, "time": time, "specialty": specialty, "doctor": doctor}
                  for time, specialty, doctor in SLOTS],
        "checked_at": local_now.isoformat(timespec="seconds"),
    }
    return web.Response(text=json.dumps(body, ensure_ascii=False),
                        content_type="application/json", charset="utf-8", headers=_HEADERS)
