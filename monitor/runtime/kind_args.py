"""``dozor run`` flags that reach the probes through ``RuntimeSettings``: where failed runs
leave artifacts, where no probe may connect (``--deny-networks``), and each kind's own flags
(declared by the kind in ``probes.KINDS``, so no kind is named here)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from probes import KINDS, DeniedNetworks, Duration, RuntimeSettings

_DURATION: TypeAdapter[float] = TypeAdapter(Duration)


def _duration(value: str) -> float:
    try:
        return _DURATION.validate_python(value)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(exc.errors()[0]["msg"]) from None


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return int(value)


def _networks(value: str) -> DeniedNetworks:
    try:
        return DeniedNetworks.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--artifacts-dir", type=Path, default=None,
                        help="keep evidence of failed runs here (browser screenshots, console "
                        "and network logs); default: keep none")
    parser.add_argument("--artifacts-keep", type=_positive, default=20,
                        help="failed runs kept per probe (default 20)")
    parser.add_argument("--artifacts-max-age", type=_duration, default=7 * 86400.0,
                        help="delete artifacts older than this (default 7d)")
    parser.add_argument("--deny-networks", type=_networks, action="append", default=[],
                        metavar="CIDR,CIDR,...",
                        help="refuse probe connections into these networks, checked on the "
                        "resolved address of every connection (redirects included), e.g. "
                        "169.254.0.0/16,fe80::/10; repeatable")
    for kind in KINDS:
        for option in kind.options:
            parser.add_argument(f"--{option.flag}", type=option.parse, default=None,
                                help=option.help)


def settings_from_args(args: argparse.Namespace) -> RuntimeSettings:
    options = {option.flag: getattr(args, option.flag.replace("-", "_"))
               for kind in KINDS for option in kind.options}
    deny = DeniedNetworks()
    for given in args.deny_networks:
        deny = deny.merged(given)
    return RuntimeSettings(artifacts_dir=args.artifacts_dir, artifacts_keep=args.artifacts_keep,
                           artifacts_max_age=args.artifacts_max_age, options=options,
                           deny=deny)
