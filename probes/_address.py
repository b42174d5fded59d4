"""``host:port`` addresses of stream probes (TCP, TLS): validated when the catalog loads, so a
probe run never meets a malformed one. IPv6 literals are written in brackets, ``[::1]:443``."""

from __future__ import annotations

import re
from typing import Annotated, NamedTuple

from pydantic import AfterValidator, WithJsonSchema

ADDRESS_PATTERN = r"^(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]@]+):[0-9]{1,5}$"
_ADDRESS_RE = re.compile(ADDRESS_PATTERN)


class Endpoint(NamedTuple):
    host: str  # without brackets
    port: int


def split_address(text: str) -> Endpoint:
    """``host:port`` -> (host, port); raises ValueError with the fix in the message."""
    match = _ADDRESS_RE.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not host:port; write e.g. 'mail.example.org:25' "
            "or '[2001:db8::1]:443' (no scheme, no path)"
        )
    host = match.group(1).strip("[]")
    port = int(text.rsplit(":", 1)[1])
    if not 1 <= port <= 65535:
        raise ValueError(f"{text!r}: port {port} is outside 1-65535")
    return Endpoint(host, port)


def _check(text: str) -> str:
    split_address(text)
    return text


HostPort = Annotated[
    str,
    AfterValidator(_check),
    WithJsonSchema({"type": "string", "pattern": ADDRESS_PATTERN,
                    "examples": ["mail.example.org:25", "[2001:db8::1]:443"]}),
]
