"""One ``/metrics`` from the workers' expositions.

The text format wants each family's samples together under one HELP/TYPE, so bodies are
not concatenated: they are split into families, which are written once each in the order
first seen, with the samples of every worker. Workers probe disjoint services, so their
per-probe and per-service samples never collide; their daemon-wide series carry a
``worker`` label (monitor.serving.metrics); what every worker exports alike (region,
curator and life-situation names) is the same line in each body and is written once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

_FAMILY = "# HELP "


def families(body: str) -> Iterator[tuple[str, str, list[str]]]:
    """(name, HELP and TYPE lines, sample lines) of each family of a text exposition."""
    start = 0 if body.startswith(_FAMILY) else body.find("\n" + _FAMILY) + 1
    if start == 0 and not body.startswith(_FAMILY):
        return  # no family at all
    while start < len(body):
        end = body.find("\n" + _FAMILY, start)
        end = len(body) if end < 0 else end + 1
        block = body[start:end]
        help_end = block.find("\n") + 1
        type_end = block.find("\n", help_end) + 1
        name = block[len(_FAMILY):block.find(" ", len(_FAMILY))]
        yield name, block[:type_end], block[type_end:].splitlines(keepends=True)
        start = end


def merge(bodies: Sequence[str]) -> Iterator[str]:
    """The merged exposition, a family at a time."""
    headers: dict[str, str] = {}
    samples: dict[str, dict[str, None]] = {}  # an ordered set of lines per family
    for body in bodies:
        for name, header, lines in families(body):
            if name not in headers:
                headers[name] = header
                samples[name] = {}
            samples[name].update(dict.fromkeys(lines))
    for name, header in headers.items():
        yield header + "".join(samples[name])
