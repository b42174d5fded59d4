"""``dozor report`` arguments and entry point (kept here so cli.py only wires it in)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from monitor.report import Progress, ReportError, ReportOptions, collect_report, write_report


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prometheus", required=True, metavar="URL",
                   help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    p.add_argument("--period", required=True, metavar="YYYY-MM",
                   help="calendar month, in Moscow time")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--region", metavar="CODE", help="only this region's services (RU-SMO)")
    who.add_argument("--curator", metavar="ID", help="only this curator's services")
    p.add_argument("--config", type=Path, default=None,
                   help="catalog: service names, regions and time zones from it "
                        "(default: from the info metrics)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    p.add_argument("--concurrency", type=int, default=4, help="parallel queries (default 4)")
    p.add_argument("--query-timeout", type=float, default=120.0,
                   help="seconds per query (default 120)")


def run_report(args: argparse.Namespace) -> int:
    options = ReportOptions(prometheus=args.prometheus, period=args.period, region=args.region,
                            curator=args.curator, config=args.config,
                            concurrency=max(1, args.concurrency), timeout=args.query_timeout)
    progress = Progress()
    try:
        report = asyncio.run(collect_report(options, progress))
    except ReportError as exc:
        progress.finish()
        print(f"dozor report: {exc}", file=sys.stderr)
        return 1
    progress.finish()
    for path in write_report(report, args.output):
        print(path)
    return 0
