"""The demo's console receiver: an Alertmanager webhook inside the ``dozor demo`` process that
prints each notification to the terminal, one line per alert, naming the receiver it was
routed to (``curator-<id>``, ``region-<code>``, ``sre-duty-desk``). ``dozor demo`` points
every receiver of the generated Alertmanager config here, so the terminal shows what each
curator, deputy and regional desk would be sent.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

PATH = "/alertmanager"
# Annotation keys tried in order for the one-line summary: the generated rules carry both
# languages, the escalation rule a plain ``summary``.
SUMMARY_KEYS = ("summary_en", "summary", "summary_ru", "description")


def format_notification(payload: dict[str, Any], now: datetime | None = None) -> list[str]:
    """One line per alert of an Alertmanager webhook ``payload``:
    ``HH:MM:SS receiver FIRING|RESOLVED alertname service=... curator=... severity=...: summary``.
    Labels that an alert lacks are left out; a payload without alerts gives one line."""
    stamp = (now or datetime.now()).strftime("%H:%M:%S")
    receiver = str(payload.get("receiver", "?"))
    alerts = payload.get("alerts") or []
    if not alerts:
        return [f"{stamp} {receiver} {str(payload.get('status', '?')).upper()} (no alerts)"]
    lines = []
    for alert in alerts:
        labels: dict[str, str] = alert.get("labels") or {}
        annotations: dict[str, str] = alert.get("annotations") or {}
        status = str(alert.get("status") or payload.get("status") or "?").upper()
        parts = [stamp, receiver, status, labels.get("alertname", "?")]
        parts += [f"{key}={labels[key]}" for key in ("service", "curator", "severity",
                                                    "escalation") if labels.get(key)]
        line = " ".join(parts)
        summary = next((annotations[k] for k in SUMMARY_KEYS if annotations.get(k)), "")
        lines.append(f"{line}: {summary}" if summary else line)
    return lines


@dataclass
class ConsoleReceiver:
    """A running console receiver; ``url`` is the webhook to give Alertmanager."""

    url: str
    received: int = 0


@contextlib.asynccontextmanager
async def console_receiver(write: Callable[[str], None], host: str = "127.0.0.1",
                           port: int = 0) -> AsyncIterator[ConsoleReceiver]:
    """Serve the webhook on ``host:port`` (0: a free port) and ``write`` every line of every
    notification; stopped on exit."""
    receiver = ConsoleReceiver(url="")

    async def handle(request: web.Request) -> web.Response:
        try:
            payload = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400, text="expected Alertmanager's webhook JSON\n")
        if not isinstance(payload, dict):
            return web.Response(status=400, text="expected a JSON object\n")
        receiver.received += 1
        for line in format_notification(payload):
            write(line)
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_post(PATH, handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound = runner.addresses[0][1]
        at = f"[{host}]" if ":" in host else host
        receiver.url = f"http://{at}:{bound}{PATH}"
        yield receiver
    finally:
        await runner.cleanup()
