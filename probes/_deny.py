"""Where probes may not go: the operator's ``dozor run --deny-networks``.

The check is on the *resolved* address, right before a connection is made, so it holds for
IP literals, for names that resolve into a denied network (DNS rebinding included) and for
every redirect hop. Each kind applies it where it connects: the HTTP connector (HTTP probes,
journeys, redirects), the stream leg (TCP, TLS, gRPC), the DNS probe's server, the ICMP
probe's target and the browser's gate. The list is an operator option, never a catalog
setting: a catalog cannot lift it.

An IPv4-mapped IPv6 address (``::ffff:169.254.169.254``) is checked as the IPv4 address it
reaches. An address that is not an IP address at all is refused (it cannot be checked).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiohappyeyeballs import AddrInfoType

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_EXAMPLE = "e.g. 169.254.0.0/16,fe80::/10"


@dataclass(frozen=True, slots=True)
class DeniedNetworks:
    """The networks no probe may connect into; empty (the default) denies nothing."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> DeniedNetworks:
        """``CIDR,CIDR,...`` (a bare address is its /32 or /128); ValueError naming the bad
        entry and the fix."""
        networks: list[Network] = []
        for entry in (part.strip() for part in text.split(",")):
            if not entry:
                raise ValueError(f"empty entry in {text!r}; write CIDR,CIDR,... {_EXAMPLE}")
            try:
                networks.append(ipaddress.ip_network(entry))
            except ValueError:
                raise ValueError(_not_a_network(entry)) from None
        return cls(tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __str__(self) -> str:
        return ",".join(str(network) for network in self.networks)

    def merged(self, other: DeniedNetworks) -> DeniedNetworks:
        """Both lists, each network once (a repeated flag adds to the list)."""
        return DeniedNetworks(tuple(dict.fromkeys((*self.networks, *other.networks))))

    def refusal(self, address: str) -> str | None:
        """Why a connection to ``address`` (an IP literal, as resolved) is refused, or None
        when it is allowed."""
        if not self.networks:
            return None
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return f"address {address!r} is not an IP address and cannot be checked"
        candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        for network in self.networks:
            if any(candidate in network for candidate in candidates):
                return f"address {address} is in denied network {network}"
        return None

    def screen(self, addr_infos: Iterable[AddrInfoType]) -> tuple[list[AddrInfoType], list[str]]:
        """The resolved ``addr_infos`` that may be connected to, and a refusal for each of
        the others."""
        allowed: list[AddrInfoType] = []
        refusals: list[str] = []
        for info in addr_infos:
            why = self.refusal(str(info[4][0]))
            if why is None:
                allowed.append(info)
            else:
                refusals.append(why)
        return allowed, refusals


def refused(host: str, port: int | None, refusals: Sequence[str]) -> str:
    """A denied run's detail: the host as the probe asked for it and why each of its
    addresses was refused."""
    where = host if port is None else f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"not connecting to {where}: {'; '.join(refusals)}"


def _not_a_network(entry: str) -> str:
    """Why ``entry`` is not a network: host bits set (and what it would be without them),
    or not CIDR at all."""
    try:
        loose = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return (f"{entry!r} is not a network in CIDR notation; {_EXAMPLE}, or a single "
                "address such as 169.254.169.254")
    return f"{entry!r} has host bits set; did you mean {loose}?"
