"""Which addresses the feed may connect to when it fetches from an upstream (no I/O here).

An upstream is somewhere on the public internet unless an operator says otherwise: loopback, private,
link-local, unique-local, CGNAT, multicast, unspecified and reserved addresses are refused, except
inside the networks listed in ``FEED_UPSTREAM_ALLOWED_NETWORKS``. The guard in
``feed_core.upstreams.guard`` applies this to every address it is about to connect to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

_CGNAT = IPv4Network("100.64.0.0/10")
_UNIQUE_LOCAL = IPv6Network("fc00::/7")
_NAT64 = IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix: the last 32 bits are an IPv4 address
#: One part of an IPv4 address as ``inet_aton`` reads it: hexadecimal, octal (leading 0) or decimal.
_INET_ATON_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR ranges or single addresses; ``ValueError`` names the first entry that is neither."""
    networks = []
    for entry in entries:
        try:
            networks.append(ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry.strip()!r} is not an IP address or CIDR range") from None
    return tuple(networks)


def literal_address(host: str) -> IPAddress | None:
    """The address a host name spells, as a resolver would read it, or ``None`` for a real name.

    Besides the usual forms this catches what ``inet_aton`` accepts: ``2130706433``, ``0177.0.0.1``,
    ``0x7f.1`` and ``127.1`` are all 127.0.0.1."""
    text = host.strip("[]").rstrip(".")
    if ":" in text:
        try:
            return IPv6Address(text.split("%", 1)[0])  # a zone id (fe80::1%eth0) does not change the range
        except ValueError:
            return None
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_ATON_PART.fullmatch(p) for p in parts):
        return None
    values = [int(p, 16) if p[:2].lower() == "0x" else int(p, 8) if p.startswith("0") else int(p) for p in parts]
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = sum(v << (8 * (3 - i)) for i, v in enumerate(head)) + last
    return IPv4Address(number)


def embedded_ipv4(address: IPAddress) -> IPv4Address | None:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, 6to4, NAT64), which is what it reaches."""
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress | str, allowed: Iterable[IPNetwork] = ()) -> str | None:
    """Why the feed must not connect to ``address`` (e.g. ``"private"``), or ``None`` when it may."""
    if isinstance(address, str):
        address = ip_address(address.split("%", 1)[0])
    inner = embedded_ipv4(address)
    candidates = [address] if inner is None else [inner, address]
    if any(c in network for network in allowed for c in candidates):
        return None
    for candidate in candidates:
        kind = _kind(candidate)
        if kind is not None:
            return kind
    return None


def _kind(a: IPAddress) -> str | None:
    checks = (
        (a.is_unspecified, "unspecified"),
        (a.is_loopback, "loopback"),
        (a.is_link_local, "link-local"),
        (a.is_multicast, "multicast"),
        (a in _CGNAT, "shared (CGNAT)"),
        (a in _UNIQUE_LOCAL, "unique-local"),
        (isinstance(a, IPv6Address) and a.is_site_local, "site-local"),
        (a.is_reserved, "reserved"),
        (a.is_private, "private"),
        (not a.is_global, "not globally routable"),
    )
    return next((kind for hit, kind in checks if hit), None)
