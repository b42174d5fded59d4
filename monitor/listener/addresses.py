"""Whose connection or failed login this is, for limits that count per client."""

from __future__ import annotations

import ipaddress


def address_key(address: str | None) -> str:
    """The client's address, or its /64 for IPv6: one subscriber's allocation, which an
    attacker could otherwise walk through to get a fresh limit per address."""
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)
