"""The ICMP probe against loopback and two network namespaces made here: one that answers
(behind a veth of MTU 1500) and one that never answers
(icmp_echo_ignore_all). Verdicts are compared with blackbox_exporter's icmp prober on the same
targets. Needs root (namespaces, raw sockets, the ping_group_range sysctl), as does blackbox."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import probes.icmp as icmp
from harness.blackbox import Blackbox
from probes import Phase, ProbeContext, ProbeResult, Reason, run_probe
from probes.icmp import IcmpSpec, probe_icmp

# Only what opens a real ICMP socket, writes a sysctl or makes namespaces needs root (and
# iproute2): the spec checks and the monkeypatched socket refusals run anywhere.
ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (ICMP sockets, sysctls)")

TIMEOUT = 0.5
_N = os.getpid() % 200 + 20  # third octet: a concurrent run picks other links
ANSWERS, SILENT = f"169.254.{_N}.2", f"169.254.{_N}.6"


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture(scope="module")
def namespaces() -> Iterator[None]:
    """dzA-<n> answers at ANSWERS (veth MTU 1500); dzS-<n> at SILENT ignores every echo
    request."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2")
    a, s = f"dzA-{_N}", f"dzS-{_N}"
    made: list[str] = []
    try:
        for ns, link, host_ip, ns_ip in ((a, f"dza{_N}", f"169.254.{_N}.1", ANSWERS),
                                         (s, f"dzs{_N}", f"169.254.{_N}.5", SILENT)):
            _ip("netns", "add", ns)
            made.append(ns)
            _ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("addr", "add", f"{host_ip}/30", "dev", link)
            _ip("link", "set", link, "up")
            _ip("-n", ns, "addr", "add", f"{ns_ip}/30", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "route", "add", "default", "via", host_ip)
        subprocess.run(["ip", "netns", "exec", s, "sysctl", "-qw",
                        "net.ipv4.icmp_echo_ignore_all=1"], check=True, timeout=10)
        yield
    finally:
        for ns in made:  # deleting a namespace deletes its veth pair too
            subprocess.run(["ip", "netns", "del", ns], check=False, timeout=10)


async def _run(ctx: ProbeContext, timeout: float = 3.0, **fields: Any) -> ProbeResult:
    result, took = await run_probe(probe_icmp, IcmpSpec.model_validate(fields), ctx, timeout)
    assert took < timeout + 5
    return result


# --- Dozor alone ----------------------------------------------------------------------------


@ROOT
async def test_echo_to_ipv4_loopback(ctx: ProbeContext) -> None:
    result = await _run(ctx, host="127.0.0.1")
    assert result.success, result.detail
    assert "1/1 replies from 127.0.0.1, loss 0%, rtt min/avg/max" in result.detail
    assert result.phases[Phase.PROCESSING] > 0
    assert {Phase.RESOLVE, Phase.CONNECT} <= set(result.phases)


@ROOT
async def test_direct_call_keeps_every_phase(ctx: ProbeContext) -> None:
    """Called outside run_probe there is no caller's record: one record must still carry
    resolve, connect and processing (not a fresh one per step)."""
    result = await probe_icmp(IcmpSpec.model_validate({"host": "127.0.0.1"}), ctx)
    assert result.success, result.detail
    assert {Phase.RESOLVE, Phase.CONNECT, Phase.PROCESSING} <= set(result.phases)


@ROOT
@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
async def test_echo_to_ipv6_loopback_several_packets(ctx: ProbeContext) -> None:
    result, took = await run_probe(probe_icmp, IcmpSpec.model_validate(
        {"host": "::1", "count": 3, "interval": "50ms", "payload_size": 1000}), ctx, 3.0)
    assert result.success, result.detail
    assert result.detail.startswith("3/3 replies from ::1, loss 0%")
    assert took >= 0.1  # two intervals between three requests: causal, not a timing figure


@ROOT
async def test_host_name_resolves_with_ip4_preferred(ctx: ProbeContext) -> None:
    result = await _run(ctx, host="localhost", preferred_ip_protocol="ip4", ttl=1)
    assert result.success, result.detail
    assert "from 127.0.0.1" in result.detail


async def test_unresolvable_name_is_dns(ctx: ProbeContext) -> None:
    result = await _run(ctx, host="no-such-host.invalid")
    assert result.reason is Reason.DNS, result.detail


@ROOT
@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
async def test_dont_fragment_over_the_loopback_mtu_fails_clearly(ctx: ProbeContext) -> None:
    """40 + 8 + 65507 bytes exceed lo's MTU 65536: with DF it cannot be sent; without, the
    kernel fragments it and the echo succeeds."""
    big: dict[str, Any] = {"host": "::1", "payload_size": 65507}
    assert (await _run(ctx, **big)).success
    result = await _run(ctx, **big, dont_fragment=True)
    assert result.reason is Reason.ERROR
    assert "with dont_fragment: too large for the path (path MTU 65536)" in result.detail


async def test_dont_fragment_over_a_1500_byte_link(ctx: ProbeContext, namespaces: None) -> None:
    assert (await _run(ctx, host=ANSWERS, payload_size=2000)).success
    result = await _run(ctx, host=ANSWERS, payload_size=2000, dont_fragment=True)
    assert result.reason is Reason.ERROR
    assert "(path MTU 1500)" in result.detail
    assert (await _run(ctx, host=ANSWERS, payload_size=1472, dont_fragment=True)).success


async def test_silent_host_is_a_timeout(ctx: ProbeContext, namespaces: None) -> None:
    result, took = await run_probe(probe_icmp, IcmpSpec(host=SILENT), ctx, TIMEOUT)
    assert result.reason is Reason.TIMEOUT
    assert TIMEOUT <= took < TIMEOUT + 5
    assert Phase.PROCESSING in result.phases  # cut while waiting: the open phase counts


async def test_silent_host_with_packet_timeout_ends_by_itself(
        ctx: ProbeContext, namespaces: None) -> None:
    result = await _run(ctx, host=SILENT, count=2, interval="50ms", packet_timeout="200ms")
    assert result.reason is Reason.TIMEOUT
    assert "no reply from" in result.detail and "2 echo request(s) within 200ms" in result.detail


@ROOT
async def test_loss_over_max_loss_is_an_assertion(
        ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every second reply is dropped as it is read: 50% loss."""
    original = icmp._Exchange.match

    def drop_odd(self: icmp._Exchange, data: bytes, at: float) -> None:
        original(self, data, at)
        for seq in [s for s in self.rtts if s % 2]:
            del self.rtts[seq]

    monkeypatch.setattr(icmp._Exchange, "match", drop_odd)
    fields: dict[str, Any] = {"host": "127.0.0.1", "count": 4, "interval": "10ms",
                              "packet_timeout": "300ms"}
    result = await _run(ctx, **fields, max_loss="40%")
    assert result.reason is Reason.ASSERTION, result.detail
    assert "2/4 replies" in result.detail and "over max_loss 40%" in result.detail
    assert (await _run(ctx, **fields, max_loss="50%")).success


def test_max_loss_needs_packet_timeout() -> None:
    with pytest.raises(ValueError, match="max_loss needs packet_timeout"):
        IcmpSpec.model_validate({"host": "127.0.0.1", "max_loss": "10%"})
    spec = IcmpSpec.model_validate({"host": "h", "count": 3, "interval": "1s",
                                    "packet_timeout": "2s"})
    assert spec.time_budget() == 4.0


@pytest.fixture
def ping_group_range() -> Iterator[None]:
    """Unprivileged ICMP sockets allowed for every group, restored afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root (writes a sysctl)")
    path = Path("/proc/sys/net/ipv4/ping_group_range")
    before = path.read_text().strip()
    path.write_text("0 2147483647\n")
    yield
    path.write_text(before + "\n")


async def test_datagram_socket_when_ping_group_range_allows(
        ctx: ProbeContext, ping_group_range: None) -> None:
    sock, datagram = icmp.open_icmp_socket(socket.AF_INET)
    sock.close()
    assert datagram
    result = await _run(ctx, host="127.0.0.1", count=2, interval="10ms", payload_size=0)
    assert result.success, result.detail
    if _has_ipv6_loopback():
        assert (await _run(ctx, host="::1", ttl=2)).success


def _refuse(kinds: set[int]) -> Any:
    real = icmp._new_socket

    def new_socket(family: int, kind: int, proto: int) -> socket.socket:
        if kind in kinds:
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))
        return real(family, kind, proto)
    return new_socket


async def test_falls_back_to_raw_when_datagram_is_refused(
        ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch, ping_group_range: None) -> None:
    monkeypatch.setattr(icmp, "_new_socket", _refuse({socket.SOCK_DGRAM}))
    sock, datagram = icmp.open_icmp_socket(socket.AF_INET)
    sock.close()
    assert not datagram
    assert (await _run(ctx, host="127.0.0.1", count=2, interval="10ms")).success


async def test_clear_error_when_no_icmp_socket_is_permitted(
        ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(icmp, "_new_socket", _refuse({socket.SOCK_DGRAM, socket.SOCK_RAW}))
    result = await _run(ctx, host="127.0.0.1")
    assert result.reason is Reason.ERROR
    assert "datagram: Operation not permitted; raw: Operation not permitted" in result.detail
    assert "net.ipv4.ping_group_range" in result.detail and "CAP_NET_RAW" in result.detail


async def test_socket_setup_error_without_errno_is_worded(
        ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """An OSError without errno is quoted, not worded as os.strerror(0) ("Success")."""
    def refuse(*_: Any) -> None:
        raise OSError("setsockopt refused")
    monkeypatch.setattr(icmp, "_configure", refuse)
    result = await _run(ctx, host="127.0.0.1")
    assert result.reason is Reason.ERROR
    assert result.detail == "cannot set up the ICMP socket to 127.0.0.1: setsockopt refused"


# --- side by side with blackbox_exporter ------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    target: str
    dozor: dict[str, Any]
    module: dict[str, Any]  # blackbox's icmp: section
    reason: Reason | None
    blackbox: bool
    timeout: float = 2.0


CASES = [
    Case("ipv4 loopback", "127.0.0.1", {}, {"preferred_ip_protocol": "ip4"}, None, True),
    Case("ipv6 loopback", "::1", {}, {}, None, True),
    Case("ttl set", "127.0.0.1", {"ttl": 5}, {"preferred_ip_protocol": "ip4", "ttl": 5},
         None, True),
    Case("payload over a 1500 link", ANSWERS, {"payload_size": 2000},
         {"preferred_ip_protocol": "ip4", "payload_size": 2000}, None, True),
    Case("DF payload over a 1500 link", ANSWERS, {"payload_size": 2000, "dont_fragment": True},
         {"preferred_ip_protocol": "ip4", "payload_size": 2000, "dont_fragment": True},
         Reason.ERROR, False),
    Case("silent host", SILENT, {}, {"preferred_ip_protocol": "ip4"}, Reason.TIMEOUT, False,
         timeout=TIMEOUT),
]


@pytest.fixture(scope="module")
def blackbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Blackbox]:
    modules = {_module_name(case): {"prober": "icmp", "timeout": f"{round(case.timeout * 1000)}ms",
                                    "icmp": case.module} for case in CASES}
    with Blackbox(modules, tmp_path_factory.mktemp("icmp-blackbox")) as running:
        yield running


def _module_name(case: Case) -> str:
    return "icmp_" + "".join(c if c.isalnum() else "_" for c in case.id)


@pytest.mark.e2e
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_verdicts_match_blackbox(case: Case, ctx: ProbeContext, namespaces: None,
                                       blackbox: Blackbox) -> None:
    if ":" in case.target and not _has_ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    result, _ = await run_probe(probe_icmp, IcmpSpec.model_validate(
        {"host": case.target, **case.dozor}), ctx, case.timeout)
    series = await blackbox.probe(case.target, _module_name(case))
    assert (result.success, result.reason) == (case.reason is None, case.reason), result.detail
    assert series["probe_success"] == float(case.blackbox), await blackbox.debug(
        case.target, _module_name(case))
