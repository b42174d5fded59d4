"""``dozor status`` arguments and entry point (kept here so cli.py only wires it in)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from monitor.catalog import CatalogError
from monitor.listener.args import add_listener_arguments, limits_from_args
from monitor.status.service import StatusOptions, start_status


def _at_least(low: float) -> Callable[[str], float]:
    """A number no smaller than ``low`` (a refresh of 0 would query Prometheus in a loop)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value >= low:   # also refuses nan
            raise argparse.ArgumentTypeError(f"expected at least {low:g}, got {text!r}")
        return value
    return parse


def add_arguments(p: argparse.ArgumentParser, listen: object) -> None:
    p.add_argument("--prometheus", required=True, metavar="URL",
                   help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    p.add_argument("--listen", type=listen, default=("127.0.0.1", 9248),  # type: ignore[arg-type]
                   metavar="HOST:PORT", help="default 127.0.0.1:9248")
    p.add_argument("--config", type=Path, default=None,
                   help="catalog: names, life situations, public curator fields and announced "
                        "maintenance (default: names only, from the info metrics)")
    p.add_argument("--public-url", metavar="URL",
                   help="the site's address as citizens see it (the feed's links)")
    p.add_argument("--refresh", type=_at_least(1), default=30.0,
                   help="seconds between reads of the state now (default 30)")
    p.add_argument("--window-refresh", type=_at_least(1), default=300.0,
                   help="seconds between reads of the window's figures (default 300)")
    p.add_argument("--rate-limit", type=_at_least(0), default=20.0,
                   help="answers per second per client address; 0 turns it off (default 20)")
    p.add_argument("--burst", type=_at_least(1), default=60.0,
                   help="per-client burst (default 60)")
    p.add_argument("--query-timeout", type=_at_least(1), default=60.0,
                   help="seconds per Prometheus query (default 60)")
    add_listener_arguments(p)


def options_from_args(args: argparse.Namespace) -> StatusOptions:
    return StatusOptions(prometheus=args.prometheus, host=args.listen[0], port=args.listen[1],
                         config=args.config, public_url=args.public_url, refresh=args.refresh,
                         window_refresh=args.window_refresh, rate=args.rate_limit,
                         burst=args.burst, query_timeout=args.query_timeout,
                         limits=limits_from_args(args))


async def _serve(options: StatusOptions) -> int:
    try:
        server = await start_status(options)
    except CatalogError as exc:
        print("\n".join(str(i) for i in exc.issues), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"dozor status: cannot listen on {options.host}:{options.port}: {exc}",
              file=sys.stderr)
        return 1
    print(f"status page on {server.url} (Prometheus {options.prometheus})", file=sys.stderr)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close()
    return 0


def run_status(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(options_from_args(args)))
