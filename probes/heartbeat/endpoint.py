"""``/ping/<token>[/start|/fail|/<exit code>][?rid=<run id>]``, GET or POST: a job reports.

The token is the only credential, so nothing here tells a caller which part of a request was
wrong: an unknown token, a malformed path and a wrong method get the same 404. A request body
(POST; the job's output) is capped: a larger one gets 413 and is not read further; its first
``EXCERPT_BYTES`` are kept, decoded leniently, with every heartbeat token blanked, and never
logged. Each token, and each client address sending unknown tokens, has a token bucket; an
empty one gets 429.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from probes.heartbeat.limits import Buckets
from probes.heartbeat.record import EXCERPT_BYTES, Action
from probes.heartbeat.store import JobStore

MAX_BODY = 10 * 1024
RATE = 5.0  # pings per second per token, sustained
BURST = 20.0
MAX_ADDRESSES = 4096
MAX_RID = 64
_RID_RE = re.compile(r"^[\x21-\x7e]{1,64}$")  # visible ASCII: it is echoed in nothing, but kept
_CODE_RE = re.compile(r"^[0-9]{1,3}$")
NOT_FOUND = "not found\n"
Outcome = Literal["accepted", "not_found", "rate_limited", "too_large"]


@dataclass(frozen=True, slots=True)
class Ping:
    token: str
    action: Action
    exit_code: int | None
    rid: str | None


def parse(tail: str, rid: str | None) -> Ping | None:
    """The ping a path below /ping/ and its run id mean, or None for anything malformed."""
    parts = tail.split("/")
    if not 1 <= len(parts) <= 2 or not parts[0]:
        return None
    if rid is not None and not _RID_RE.match(rid):
        return None
    if len(parts) == 1:
        return Ping(parts[0], "success", None, rid)
    what = parts[1]
    if what == "start":
        return Ping(parts[0], "start", None, rid)
    if what == "fail":
        return Ping(parts[0], "fail", None, rid)
    if _CODE_RE.match(what) and int(what) <= 255:
        code = int(what)
        return Ping(parts[0], "success" if code == 0 else "fail", code, rid)
    return None


class PingEndpoint:
    def __init__(self, store: JobStore, wall: Callable[[], float] = time.time) -> None:
        self._store = store
        self._wall = wall
        self._per_token = Buckets(RATE, BURST, MAX_ADDRESSES)
        self._per_address = Buckets(RATE, BURST, MAX_ADDRESSES)
        self.outcomes: dict[Outcome, int] = dict.fromkeys(
            ("accepted", "not_found", "rate_limited", "too_large"), 0)

    def routes(self) -> list[web.RouteDef]:
        return [web.route("*", "/ping", self.handle),
                web.route("*", "/ping/{tail:.*}", self.handle)]

    def forget_removed(self) -> None:
        self._per_token.keep(set(self._store.records))

    async def handle(self, request: web.Request) -> web.Response:
        ping = None
        if request.method in ("GET", "POST"):
            ping = parse(request.match_info.get("tail", ""), request.query.get("rid"))
        length = request.content_length
        if length is not None and length > MAX_BODY:
            return self._answer("too_large", 413, "body too large\n")
        key = self._store.find(ping.token) if ping is not None else None
        now = time.monotonic()
        if ping is None or key is None:
            # Unknown tokens cost the sender's address, so guessing is slow too.
            if not self._per_address.take(request.remote or "", now):
                return self._answer("rate_limited", 429, "too many requests\n")
            return self._answer("not_found", 404, NOT_FOUND)
        if not self._per_token.take(key, now):
            return self._answer("rate_limited", 429, "too many requests\n")
        try:  # aiohttp's cap: reads on to the end, however many segments the body comes in
            body = await request.clone(client_max_size=MAX_BODY).read()
        except web.HTTPRequestEntityTooLarge:
            return self._answer("too_large", 413, "body too large\n")
        record = self._store.records.get(key)
        if record is None:  # removed by a reload while the body was read
            return self._answer("not_found", 404, NOT_FOUND)
        record.ping(ping.action, self._wall(), ping.rid, ping.exit_code, self._excerpt(body))
        return self._answer("accepted", 200, "OK\n")

    def _excerpt(self, body: bytes) -> str:
        text = body[:EXCERPT_BYTES].decode("utf-8", errors="replace")
        for token in self._store.tokens():
            text = text.replace(token, "***")
        return text

    def _answer(self, outcome: Outcome, status: int, text: str) -> web.Response:
        self.outcomes[outcome] += 1
        return web.Response(status=status, text=text)

