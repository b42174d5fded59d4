"""Fixtures shared by several test modules.

``ctx`` is the probe context every probe test runs with: a real HTTP session sending
:data:`harness.http_zoo.UA`, whose resolver is the ``resolver`` fixture, aiohttp's own by
default. A module whose names must never leave the machine overrides ``resolver`` with a
:class:`~harness.http_zoo.ZooResolver` table; ``ctx`` composes whichever is in scope.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import pytest
import structlog
from aiohttp.abc import AbstractResolver

from harness.http_zoo import UA, Pki
from harness.target import Target
from harness.tls_zoo import Zoo, tls_zoo
from probes import ProbeContext, new_http_session


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    """Every test starts from structlog's defaults: the daemon's ``configure_logging`` (run by
    in-process daemons and CLI tests) filters debug lines and caches loggers, which would
    otherwise decide what a later test's ``capture_logs`` sees, by test order."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def resolver() -> AbstractResolver | None:
    """The HTTP session's resolver; None is aiohttp's default (probes of IP literals)."""
    return None


@pytest.fixture
async def ctx(resolver: AbstractResolver | None) -> AsyncIterator[ProbeContext]:
    session = new_http_session(user_agent=UA, resolver=resolver)
    yield ProbeContext(http=session, log=structlog.get_logger("test"), user_agent=UA)
    await session.close()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A TCP port of 127.0.0.1 bound but not listening: connecting is refused, and nobody
    else can take it while the test runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def pki() -> Pki:
    """trustme certificates for HTTPS zoos (one CA per module)."""
    return Pki()


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zoo]:
    """harness.tls_zoo's TCP and TLS servers, one set per module."""
    with tls_zoo(tmp_path_factory.mktemp("tls-zoo")) as running:
        yield running


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    """A controllable HTTP target on 127.0.0.1 for daemon tests."""
    t = await Target().start()
    yield t
    await t.close()
