"""Which address a request came from, and whether it travelled over TLS, given the proxies
the operator trusts (pure: strings in, strings out).

`X-Forwarded-For` and `X-Forwarded-Proto` are read only when the direct peer is a trusted
proxy. Each proxy appends the address it saw, so the client is the right-most entry that
is not itself a trusted proxy: whatever a client writes into the header lands to the
left of that and is never taken. From any other peer the headers are ignored and the
peer's own address counts.

`ratelimit.RateLimits` holds one `ProxyTrust` (the login route and the rate limits key
on its `client`), and `headers.security_headers` asks it whether a request came over TLS.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

Network = IPv4Network | IPv6Network
UNKNOWN = "unknown"


def parse_address(text: str) -> IPv4Address | IPv6Address | None:
    """The address in `text`, an IPv4-mapped IPv6 address as IPv4; None if not one."""
    try:
        found = ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(found, IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


@dataclass(frozen=True)
class ProxyTrust:
    """The proxies in front of the gateway.

    `networks` are the proxies' CIDRs. `any_peer` is the deprecated `trust_forwarded_for`:
    every direct peer counts as a proxy, but no address inside the header does, so only
    the last entry is read (one hop).
    """

    networks: tuple[Network, ...] = ()
    any_peer: bool = False

    def listed(self, text: str) -> bool:
        found = parse_address(text)
        return found is not None and any(found in network for network in self.networks)

    def trusts(self, peer: str | None) -> bool:
        """Whether the direct peer may tell us about the client."""
        return peer is not None and (self.any_peer or self.listed(peer))

    def client(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client's address: the peer's, or behind a trusted proxy the right-most
        `X-Forwarded-For` entry that is not a trusted proxy."""
        hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
        if not hops or not self.trusts(peer):
            return _normal(peer) if peer else UNKNOWN
        for hop in reversed(hops):
            if not self.listed(hop):
                return _normal(hop)
        return _normal(hops[0])  # a chain of trusted proxies only: the first one seen

    def over_tls(self, peer: str | None, forwarded_proto: str | None) -> bool:
        """Whether a trusted proxy says the client reached it over TLS."""
        if not forwarded_proto or not self.trusts(peer):
            return False
        return forwarded_proto.split(",")[-1].strip().lower() == "https"


def _normal(text: str) -> str:
    """One spelling per address, so `::1` and `0::1` share a counter."""
    found = parse_address(text)
    return str(found) if found is not None else text
