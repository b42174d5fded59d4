"""Basic-auth checks off the event loop, bounded, rate-limited per address, and without a
user-enumeration oracle (issue 17). Structural assertions only: no timing is asserted."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import bcrypt
import pytest
import yaml

from harness.catalog_factory import catalog_dict, write_catalog
from monitor.listener import address_key
from monitor.runtime.daemon import Daemon, DaemonOptions
from monitor.serving.passwords import (
    CHECK_NICENESS,
    PasswordCheck,
    PasswordLimits,
    Verdict,
    bcrypt_cost,
)
from monitor.serving.security import WebSecurity, load_web_security


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _hash(password: bytes, cost: int) -> bytes:
    return bcrypt.hashpw(password, bcrypt.gensalt(cost))


def test_unknown_users_pay_the_dearest_configured_cost(tmp_path: Path) -> None:
    (tmp_path / "web.yml").write_text(yaml.safe_dump({"basic_auth_users": {
        "cheap": _hash(b"a", 4).decode(), "dear": _hash(b"b", 7).decode()}}))
    security = load_web_security(tmp_path / "web.yml", None)
    assert bcrypt_cost(security.dummy_hash) == 7
    # The dummy is a real bcrypt hash of that cost, not a constant anyone could match.
    assert security.dummy_hash != WebSecurity(users={"x": _hash(b"b", 7)}).dummy_hash
    assert not bcrypt.checkpw(b"", security.dummy_hash)


async def test_unknown_user_is_checked_against_the_dummy_and_counts_as_a_failure() -> None:
    check = WebSecurity(users={"prom": _hash(b"right", 4)}).password_check(
        PasswordLimits(failures_burst=1, failures_per_minute=1))
    assert await check.check(_basic("nobody", "right"), "127.0.0.1") is Verdict.DENIED
    assert check.bcrypt_checks == 1
    assert await check.check(_basic("prom", "right"), "127.0.0.1") is Verdict.LIMITED
    check.close()


async def test_the_check_runs_off_the_event_loop() -> None:
    # At cost 12 bcrypt takes a quarter second; run on the loop, the whole check would be
    # over by the time the test's task gets to run again.
    check = PasswordCheck({"prom": _hash(b"right", 4)}, _hash(b"x", 12))
    task = asyncio.create_task(check.check(_basic("nobody", "guess"), "127.0.0.1"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not task.done()
    assert await task is Verdict.DENIED
    check.close()


async def test_checks_run_at_a_lower_priority_than_the_loop() -> None:
    check = PasswordCheck({"prom": _hash(b"right", 4)}, _hash(b"x", 4))
    await check.check(_basic("prom", "wrong"), "127.0.0.1")  # starts the pool's thread
    assert check._pool is not None
    pool_nice = await asyncio.get_running_loop().run_in_executor(check._pool, _my_nice)
    assert pool_nice >= _my_nice() + CHECK_NICENESS or pool_nice == 19
    check.close()


def _my_nice() -> int:
    """This thread's nice value (field 19 of /proc/thread-self/stat)."""
    stat = Path("/proc/thread-self/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


async def test_a_full_queue_is_answered_at_once_with_busy() -> None:
    check = PasswordCheck({"prom": _hash(b"right", 4)}, _hash(b"x", 10),
                          PasswordLimits(threads=1, queue=2))
    verdicts = await asyncio.gather(*(
        check.check(_basic("nobody", f"guess{i}"), f"127.0.0.{i}") for i in range(7)))
    # One running, two queued; the other four never reached bcrypt.
    assert verdicts.count(Verdict.DENIED) == 3
    assert verdicts.count(Verdict.BUSY) == 4
    assert check.bcrypt_checks == 3
    check.close()


async def test_failures_are_limited_per_address_and_limited_attempts_cost_nothing() -> None:
    check = PasswordCheck({"prom": _hash(b"right", 4)}, _hash(b"x", 4),
                          PasswordLimits(failures_burst=3, failures_per_minute=1))
    wrong = [await check.check(_basic("prom", "wrong"), "127.0.0.2") for _ in range(5)]
    assert wrong == [Verdict.DENIED] * 3 + [Verdict.LIMITED] * 2
    assert check.bcrypt_checks == 3
    # Limited means limited: even the right password is not looked at from that address...
    assert await check.check(_basic("prom", "right"), "127.0.0.2") is Verdict.LIMITED
    assert check.retry_after("127.0.0.2") >= 1
    # ... while another address logs in.
    assert await check.check(_basic("prom", "right"), "127.0.0.3") is Verdict.ALLOWED
    check.close()


async def test_a_successful_login_is_remembered_and_a_changed_password_is_not() -> None:
    check = PasswordCheck({"prom": _hash(b"right", 4)}, _hash(b"x", 4))
    for _ in range(5):
        assert await check.check(_basic("prom", "right"), "127.0.0.1") is Verdict.ALLOWED
    assert check.bcrypt_checks == 1
    assert await check.check(_basic("prom", "right!"), "127.0.0.1") is Verdict.DENIED
    assert check.bcrypt_checks == 2
    check.close()


def test_ipv6_clients_are_limited_by_their_64() -> None:
    assert address_key("2001:db8:1:2::5") == address_key("2001:db8:1:2:ffff::1")
    assert address_key("2001:db8:1:3::5") != address_key("2001:db8:1:2::5")
    assert address_key("::ffff:127.0.0.2") == "127.0.0.2"
    assert address_key("127.0.0.2") != address_key("127.0.0.3")


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    (tmp_path / "web.yml").write_text(yaml.safe_dump({"basic_auth_users": {
        "prom": _hash(b"s3cret-pass", 4).decode()}}))
    security = load_web_security(tmp_path / "web.yml", None)
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(["http://127.0.0.1:1/"]))
    daemon = Daemon(DaemonOptions(config=cfg, port=0, security=security))
    await daemon.start()
    yield daemon
    await daemon.stop()


async def _get(url: str, auth: str, source: str) -> tuple[int, str | None]:
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as s, s.get(
            url, headers={"Authorization": auth}) as r:
        await r.read()
        return r.status, r.headers.get("Retry-After")


async def test_the_daemon_answers_429_to_an_address_that_keeps_failing(daemon: Daemon) -> None:
    url = daemon.url + "/metrics"
    limits = PasswordLimits()
    statuses = [await _get(url, _basic("prom", f"guess{i}"), "127.0.0.2")
                for i in range(limits.failures_burst + 2)]
    assert [s for s, _ in statuses] == [401] * limits.failures_burst + [429, 429]
    assert statuses[-1][1] is not None and int(statuses[-1][1]) >= 1
    # The flooding address is shut out, the scraper on another address is not.
    assert (await _get(url, _basic("prom", "s3cret-pass"), "127.0.0.2"))[0] == 429
    assert (await _get(url, _basic("prom", "s3cret-pass"), "127.0.0.1"))[0] == 200
