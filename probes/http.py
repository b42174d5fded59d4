"""HTTP probe: one request (following redirects), phases timed the blackbox_exporter way."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from probes.context import ProbeContext
from probes.result import ProbeResult
from probes.spec import Duration, StrictModel

DEFAULT_MAX_BODY = 1024 * 1024


class TlsOptions(StrictModel):
    """How an HTTPS target is verified. Defaults verify against the system trust store."""

    ca_file: str | None = Field(None, description="PEM bundle to trust instead of the system store")
    insecure_skip_verify: bool = Field(False, description="accept any certificate (not advised)")
    server_name: str | None = Field(None, description="SNI and hostname to verify, if not the URL's")


class HttpExpect(StrictModel):
    """What makes a response a success. All given conditions must hold."""

    status: tuple[Annotated[int, Field(ge=100, le=599)], ...] = Field(
        (), description="accepted status codes; empty means any 2xx"
    )
    body_contains: tuple[str, ...] = ()
    body_not_contains: tuple[str, ...] = ()
    body_regex: str | None = None
    headers: dict[str, str] = Field(
        default_factory=dict, description="header name -> regex its value must match"
    )
    max_latency: Duration | None = None

    @field_validator("body_contains", "body_not_contains", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("body_regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            _compile(value)
        return value

    @field_validator("headers")
    @classmethod
    def _header_regexes_compile(cls, value: dict[str, str]) -> dict[str, str]:
        for pattern in value.values():
            _compile(pattern)
        return value


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None


class HttpSpec(StrictModel):
    url: str = Field(description="http:// or https:// URL with a host")
    method: Literal["GET", "HEAD", "POST", "PUT", "OPTIONS"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    follow_redirects: bool = True
    max_redirects: int = Field(10, ge=0, le=30)
    max_body_bytes: int = Field(DEFAULT_MAX_BODY, gt=0, le=256 * 1024 * 1024)
    tls: TlsOptions = TlsOptions()
    expect: HttpExpect = HttpExpect()

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{value!r} is not an http(s) URL; write e.g. 'https://host.example/path'"
            )
        return value


async def probe_http(spec: HttpSpec, ctx: ProbeContext) -> ProbeResult:
    raise NotImplementedError  # being written: see tests/test_http_probe.py
