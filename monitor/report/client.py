"""A small Prometheus HTTP API client: instant and range queries, bounded concurrency,
timeouts, and errors that say what went wrong (``ReportError``)."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from monitor.report.errors import ReportError

# Prometheus refuses range queries of more than 11,000 points per series.
MAX_POINTS = 11_000

Labels = dict[str, str]


@dataclass(frozen=True, slots=True)
class Series:
    labels: Labels
    points: tuple[tuple[float, float], ...]  # (unix seconds, value), NaN dropped


class Prometheus:
    """Use as ``async with Prometheus(url) as prom``. ``on_done`` is called after every
    finished request (progress reporting)."""

    def __init__(self, url: str, *, concurrency: int = 4, timeout: float = 120.0,
                 on_done: Callable[[], None] | None = None) -> None:
        self.url = url.rstrip("/")
        self._limit = asyncio.Semaphore(concurrency)
        self._timeout = timeout
        self._on_done = on_done
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Prometheus:
        # Connect fails fast; the whole request may take as long as Prometheus's own timeout.
        timeout = aiohttp.ClientTimeout(total=self._timeout + 10, sock_connect=10)
        self._session = aiohttp.ClientSession(timeout=timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def _post(self, path: str, form: dict[str, str]) -> Any:
        assert self._session is not None, "use Prometheus as an async context manager"
        form = {**form, "timeout": f"{self._timeout:g}s"}
        async with self._limit:
            try:
                async with self._session.post(f"{self.url}{path}", data=form) as resp:
                    body = await resp.text()
                    status = resp.status
            except (aiohttp.ClientError, OSError) as exc:
                raise ReportError(f"Prometheus at {self.url} is unreachable: "
                                  f"{type(exc).__name__}: {exc}") from None
            except TimeoutError:
                raise ReportError(f"Prometheus at {self.url} did not answer within "
                                  f"{self._timeout + 10:g}s") from None
        if self._on_done is not None:
            self._on_done()
        return _payload(self.url, status, body, form["query"])

    async def instant(self, query: str, at: float) -> list[tuple[Labels, float]]:
        data = await self._post("/api/v1/query", {"query": query, "time": f"{at:.3f}"})
        if data.get("resultType") != "vector":
            raise ReportError(f"expected an instant vector from {query!r}, "
                              f"got {data.get('resultType')}")
        out = []
        for item in data["result"]:
            value = float(item["value"][1])
            if not math.isnan(value):
                out.append((dict(item["metric"]), value))
        return out

    async def range(self, query: str, start: float, end: float, step: int) -> list[Series]:
        """Evaluations at start, start+step, ..., <= end, split into requests Prometheus
        accepts, and joined per series."""
        chunks = []
        span = step * (MAX_POINTS - 1)
        t = start
        while t <= end:
            chunks.append((t, min(end, t + span)))
            t += span + step
        parts = await asyncio.gather(*(self._range_once(query, a, b, step) for a, b in chunks))
        joined: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
        for part in parts:
            for labels, points in part:
                joined.setdefault(tuple(sorted(labels.items())), []).extend(points)
        return [Series(dict(key), tuple(sorted(points))) for key, points in joined.items()]

    async def _range_once(self, query: str, start: float, end: float,
                          step: int) -> list[tuple[Labels, list[tuple[float, float]]]]:
        data = await self._post("/api/v1/query_range", {
            "query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": str(step)})
        out = []
        for item in data["result"]:
            points = [(float(t), float(v)) for t, v in item["values"]]
            out.append((dict(item["metric"]), [p for p in points if not math.isnan(p[1])]))
        return out


def _payload(url: str, status: int, body: str, query: str) -> Any:
    try:
        doc = json.loads(body)
    except ValueError:
        raise ReportError(f"Prometheus at {url} answered HTTP {status} with a non-JSON body: "
                          f"{body[:200]!r}") from None
    if not isinstance(doc, dict) or doc.get("status") != "success":
        kind = doc.get("errorType", "?") if isinstance(doc, dict) else "?"
        error = doc.get("error", body[:200]) if isinstance(doc, dict) else body[:200]
        raise ReportError(f"Prometheus at {url} rejected a query (HTTP {status}, {kind}: "
                          f"{error}); query: {query[:300]}")
    return doc["data"]
