"""The listener flags, the same for `dozor run` and `dozor status`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from monitor.listener.limits import ConnectionLimits

_DEFAULTS = ConnectionLimits()


def _positive(kind: type[float] | type[int]) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
        return value
    return parse


def add_listener_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connections (every port this command listens on)")
    group.add_argument(
        "--header-timeout", type=_positive(float), default=_DEFAULTS.header_timeout,
        metavar="SECONDS", help="a new connection's TLS handshake and first request headers "
        f"must arrive within this (default {_DEFAULTS.header_timeout:g})")
    group.add_argument(
        "--idle-timeout", type=_positive(float), default=_DEFAULTS.idle_timeout,
        metavar="SECONDS", help="a kept-alive connection idle this long is closed "
        f"(default {_DEFAULTS.idle_timeout:g})")
    group.add_argument(
        "--max-connections", type=_positive(int), default=_DEFAULTS.max_connections,
        metavar="N", help=f"open connections in all (default {_DEFAULTS.max_connections})")
    group.add_argument(
        "--max-connections-per-address", type=_positive(int),
        default=_DEFAULTS.max_per_address, metavar="N",
        help="open connections from one client address, IPv6 by /64; raise it behind a "
        f"reverse proxy (default {_DEFAULTS.max_per_address})")


def limits_from_args(args: argparse.Namespace) -> ConnectionLimits:
    return ConnectionLimits(header_timeout=args.header_timeout, idle_timeout=args.idle_timeout,
                            max_connections=args.max_connections,
                            max_per_address=args.max_connections_per_address)
