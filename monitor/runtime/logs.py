"""Structured logs: JSON lines by default, readable console output on a terminal.

Probe context (service, probe, location) is bound once per run through contextvars, so
every line a probe or the confirmation state writes carries it without passing loggers around.

Secrets from the catalog (``Catalog.secrets``) are blanked in every line, structlog's and
the stdlib's, just before rendering: see ``redact_secrets``.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, TextIO, cast

import structlog

REDACTED = "***"

Processor = Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]


def redact_secrets(secrets: Callable[[], frozenset[str]]) -> Processor:
    """A structlog processor replacing every occurrence of a secret in any event value (in
    strings, recursively in dicts, lists, tuples and sets, and in the text of other objects)
    with ``***``. ``secrets`` is called per line, so a reloaded catalog's secrets apply at once;
    the pattern is rebuilt only when the set changes."""
    cache: dict[frozenset[str], re.Pattern[str] | None] = {}

    def pattern() -> re.Pattern[str] | None:
        current = secrets()
        if current not in cache:
            cache.clear()  # only the current set is worth keeping
            # Longest first, so a secret that contains another is blanked whole.
            ordered = sorted(current, key=len, reverse=True)
            cache[current] = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        return cache[current]

    def scrub(value: Any, found: re.Pattern[str]) -> Any:
        if isinstance(value, str):
            return found.sub(REDACTED, value)
        if isinstance(value, bool | int | float) or value is None:
            return value
        if isinstance(value, Mapping):
            return {scrub(k, found): scrub(v, found) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [scrub(v, found) for v in value]
        text = str(value)  # what a renderer would show (exceptions, paths, URLs)
        return found.sub(REDACTED, text) if found.search(text) else value

    def processor(
        _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        found = pattern()
        if found is not None:
            for key, value in list(event.items()):
                event[key] = scrub(value, found)
        return event

    return processor


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at write time, not at configure time, so a
    replaced stream (a test runner's capture, a redirected CLI) never leaves loggers holding
    a closed file."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _add_fields(fields: dict[str, str]) -> Processor:
    def processor(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for name, value in fields.items():
            event.setdefault(name, value)
        return event

    return processor


def configure_logging(
    level: str = "info",
    json: bool | None = None,
    secrets: Callable[[], frozenset[str]] | None = None,
    fields: Mapping[str, str] | None = None,
) -> None:
    """Set up structlog and route stdlib loggers (APScheduler, aiohttp) through it.
    ``secrets``: the current catalog's secret values, blanked in every line. ``fields``: on
    every line (a worker's name under ``--workers``)."""
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        *([_add_fields(dict(fields))] if fields else []),
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # Last before rendering: exception text (format_exc_info) is redacted too.
    redact: list[Any] = [] if secrets is None else [redact_secrets(secrets)]
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, *redact, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # One write per line (message and newline together): under --workers the supervisor
        # and its workers share stderr, and print()'s two writes let lines interleave on an
        # unbuffered stream (a non-terminal stderr is write-through).
        logger_factory=structlog.WriteLoggerFactory(cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                *redact,
                renderer,
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # APScheduler reports every run at INFO; the daemon logs what matters itself.
    root.setLevel(max(numeric, logging.WARNING))
