"""Builds catalogs as plain dicts/YAML for tests and benchmarks (no files under config/)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


def catalog_dict(
    urls: list[str],
    *,
    interval: str = "60s",
    timeout: str = "5s",
    expect: dict[str, Any] | None = None,
    latency_p95: str = "2s",
) -> dict[str, Any]:
    """One service with one HTTP probe per URL, spread over two regions in different zones."""
    return {
        "standard": {"availability": "99.5%", "window": "30d", "offhours_availability": "99.5%",
                     "max_outage": "60m", "latency_p95": latency_p95, "maintenance_counts": True},
        "defaults": {"interval": interval, "timeout": timeout},
        "regions": [
            {"code": "RU-SMO", "name": "Смоленская область", "timezone": "Europe/Moscow"},
            {"code": "RU-KHA", "name": "Хабаровский край", "timezone": "Asia/Vladivostok"},
        ],
        "curators": [
            {"id": "ivanova", "name": "Иванова А. П.", "email": "ivanova@example.org",
             "deputy": "petrov"},
            {"id": "petrov", "name": "Петров И. И.", "email": "petrov@example.org"},
        ],
        "life_situations": [{"id": "birth-of-child", "name": "Рождение ребёнка"}],
        "services": [
            {
                "id": f"svc-{i:05d}",
                "name": f"Услуга {i}",
                "level": ("federal", "regional", "municipal")[i % 3],
                "region": ("RU-SMO", "RU-KHA")[i % 2],
                "department": "Департамент цифрового развития",
                "mszu": True,
                "curator": "ivanova",
                "life_situations": ["birth-of-child"] if i % 2 == 0 else [],
                "probes": [{"name": "portal", "http": {"url": url, "expect": expect or {}}}],
            }
            for i, url in enumerate(urls)
        ],
    }


def write_catalog(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def write_files(base: Path, files: Mapping[str, str | bytes]) -> None:
    """Each ``relative path: content`` under ``base``, parents made; text as UTF-8."""
    for rel, content in files.items():
        target = base / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")


# file:line: field: message, on one line. The line is a positive number; the field is a key
# path or "(file)" for a problem with the file as a whole (README, "The catalog").
ERROR_SHAPE = re.compile(r"^(?P<file>[^\n]+?):(?P<line>[1-9][0-9]*): (?P<field>[^\s:][^\n]*?): "
                         r"(?P<message>\S[^\n]*)$")


# One valid probe of every registered kind, aimed at a closed port of 127.0.0.1 so a run fails
# fast and locally (the HTTP one sets a latency objective, which becomes a bucket edge).
# Adding a kind means adding it here: tests/test_kinds.py and tests/test_cli.py check it.
EVERY_KIND: dict[str, dict[str, Any]] = {
    "http": {"url": "http://127.0.0.1:1/a", "expect": {"max_latency": "300ms"}},
    "tcp": {"address": "127.0.0.1:1"},
    "tls": {"address": "127.0.0.1:1"},
    "dns": {"server": "127.0.0.1:1", "query_name": "example.org"},
    "journey": {"steps": [{"name": "home", "request": {"url": "http://127.0.0.1:1/j"}}]},
    "grpc": {"address": "127.0.0.1:1"},
    "icmp": {"host": "127.0.0.1"},
    "browser": {"steps": [{"goto": "http://127.0.0.1:1/b"}]},
    "heartbeat": {"token": "every-kind-heartbeat-token", "period": "1d"},
}
