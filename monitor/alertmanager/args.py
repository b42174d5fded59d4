"""Command-line options of ``dozor alertmanager``, kept beside the options they fill."""

from __future__ import annotations

import argparse
from pathlib import Path

from monitor.alertmanager.options import DURATION, AlertmanagerOptions, Timing


def _duration(value: str) -> str:
    if not DURATION.match(value):
        raise argparse.ArgumentTypeError(f"expected a duration like 30s, 5m, 1h30m; got {value!r}")
    return value


def _version(value: str) -> tuple[int, int]:
    major, _, minor = value.partition(".")
    if not (major.isdigit() and minor.split(".")[0].isdigit()):
        raise argparse.ArgumentTypeError(f"expected a version like 0.25, got {value!r}")
    return int(major), int(minor.split(".")[0])


def _timing(value: str) -> Timing:
    parts = value.split(",")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(
            f"expected GROUP_WAIT,GROUP_INTERVAL,REPEAT_INTERVAL e.g. 10s,1m,1h; got {value!r}")
    wait, interval, repeat = (_duration(p.strip()) for p in parts)
    return Timing(wait, interval, repeat)


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = AlertmanagerOptions()
    p.add_argument("--escalation-rules", type=Path, metavar="FILE",
                   help="also write the escalation/maintenance Prometheus rule group here")
    p.add_argument("--escalate-after", type=_duration, default=d.escalate_after,
                   help=f"page age before the deputy is told (default {d.escalate_after})")
    p.add_argument("--duty-webhook", metavar="URL", help="SRE duty desk webhook (fallback)")
    p.add_argument("--duty-email", metavar="ADDR", help="SRE duty desk e-mail (fallback)")
    p.add_argument("--regional-webhook", metavar="URL_TEMPLATE",
                   help="regional duty desk webhook; {region} becomes the region code")
    p.add_argument("--smtp-smarthost", default=d.smtp_smarthost, metavar="HOST:PORT")
    p.add_argument("--smtp-from", default=d.smtp_from, metavar="ADDR")
    p.add_argument("--smtp-no-tls", action="store_true", help="do not require STARTTLS")
    p.add_argument("--alertmanager-version", type=_version, default=d.alertmanager_version,
                   metavar="X.Y", help="target version (default 0.25, Debian's); "
                   "Telegram channels need 0.26 or later")
    p.add_argument("--telegram-bot-token-file", default=d.telegram_bot_token_file, metavar="PATH")
    p.add_argument("--console-webhook", metavar="URL",
                   help="every receiver delivers only to this webhook (e.g. a console printer);"
                   " the routing stays the catalog's")
    p.add_argument("--page-timing", type=_timing, default=d.page_timing, metavar="W,I,R")
    p.add_argument("--ticket-timing", type=_timing, default=d.ticket_timing, metavar="W,I,R")


def options_from_args(args: argparse.Namespace) -> AlertmanagerOptions:
    return AlertmanagerOptions(
        duty_webhook=args.duty_webhook, duty_email=args.duty_email,
        regional_webhook=args.regional_webhook, smtp_smarthost=args.smtp_smarthost,
        smtp_from=args.smtp_from, smtp_require_tls=not args.smtp_no_tls,
        alertmanager_version=args.alertmanager_version,
        telegram_bot_token_file=args.telegram_bot_token_file,
        escalate_after=args.escalate_after, page_timing=args.page_timing,
        ticket_timing=args.ticket_timing, console_webhook=args.console_webhook,
    )
