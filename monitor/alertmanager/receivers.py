"""Receivers: one per curator with their channels, the SRE duty desk, regional desks and the
silent receiver that swallows the maintenance marker alert."""

from __future__ import annotations

import re
from typing import Any

from monitor.alertmanager.options import AlertmanagerOptions
from monitor.catalog import Catalog
from monitor.catalog.model import Curator

DUTY_DESK = "sre-duty-desk"
SILENT = "silent"  # no channel: alerts that exist only to inhibit others end here
# Alertmanager's telegram_configs.chat_id is an int64: a numeric chat or channel id.
CHAT_ID = re.compile(r"^-?[0-9]{1,19}$")


def curator_receiver(curator_id: str) -> str:
    return f"curator-{curator_id}"


def region_receiver(code: str) -> str:
    return f"region-{code}"


def curator_channels(curator: Curator, options: AlertmanagerOptions) -> dict[str, Any]:
    """The curator's channels as Alertmanager *_configs keys; empty if they have none usable."""
    channels: dict[str, Any] = {}
    if curator.email:
        channels["email_configs"] = [{"to": curator.email, "send_resolved": True}]
    if curator.telegram and CHAT_ID.match(curator.telegram) and options.telegram_supported:
        channels["telegram_configs"] = [{
            "bot_token_file": options.telegram_bot_token_file,
            "chat_id": int(curator.telegram),
            "parse_mode": "HTML",
            "send_resolved": True,
        }]
    if curator.webhook:
        channels["webhook_configs"] = [{"url": curator.webhook, "send_resolved": True}]
    return channels


def telegram_notes(catalog: Catalog, options: AlertmanagerOptions) -> list[str]:
    """Why a curator's Telegram channel was left out, for the header of the generated file."""
    notes = []
    for c in sorted(catalog.curators, key=lambda c: c.id):
        if not c.telegram:
            continue
        # The catalog guarantees a numeric chat id; only the target version can rule it out.
        if not options.telegram_supported:
            notes.append(f"curator {c.id}: Telegram needs Alertmanager >= 0.26 (bot_token_file);"
                         " left out for this target version")
    return notes


def receivers(catalog: Catalog, options: AlertmanagerOptions) -> list[dict[str, Any]]:
    duty: dict[str, Any] = {"name": DUTY_DESK}
    if options.duty_email:
        duty["email_configs"] = [{"to": options.duty_email, "send_resolved": True}]
    if options.duty_webhook:
        duty["webhook_configs"] = [{"url": options.duty_webhook, "send_resolved": True}]
    out = [_to_console(duty, options), {"name": SILENT}]
    for curator in sorted(catalog.curators, key=lambda c: c.id):
        channels = curator_channels(curator, options)
        if channels:
            out.append(_to_console({"name": curator_receiver(curator.id), **channels}, options))
    if options.regional_webhook:
        for region in sorted(catalog.regions, key=lambda r: r.code):
            url = options.regional_webhook.replace("{region}", region.code)
            out.append(_to_console({"name": region_receiver(region.code),
                                    "webhook_configs": [{"url": url, "send_resolved": True}]},
                                   options))
    return out


def _to_console(receiver: dict[str, Any], options: AlertmanagerOptions) -> dict[str, Any]:
    """With ``console_webhook``, the receiver keeps its name and delivers only there. The duty
    desk gets it even without channels of its own: it is the route tree's root receiver, and
    the console shows what would reach it."""
    if options.console_webhook is None:
        return receiver
    return {"name": receiver["name"],
            "webhook_configs": [{"url": options.console_webhook, "send_resolved": True}]}
