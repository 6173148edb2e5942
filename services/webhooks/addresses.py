"""Which addresses the webhooks service may connect to: public ones, plus the networks
the operator allows explicitly (`STOREFLEET_WEBHOOK_ALLOWED_NETWORKS`). Loopback,
private, link-local (the cloud metadata address 169.254.169.254 among them), multicast,
reserved and unspecified addresses are refused, as are IPv6 forms that carry an IPv4
address (mapped, 6to4, Teredo), judged by the address they carry.

Pure: no I/O. `services.webhooks.sender` asks `Networks.permits` about each address a
name resolved to, at connect time, so a name that resolves differently later (DNS
rebinding) is judged again.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Metadata services that sit on otherwise public-looking addresses.
METADATA = (ipaddress.ip_network("100.100.100.200/32"), ipaddress.ip_network("fd00:ec2::254/128"))


def _carried(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address stands for, if it is one of those forms."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return address


def is_public(address: IPAddress) -> bool:
    address = _carried(address)
    if any(address in net for net in METADATA):
        return False
    return bool(address.is_global) and not address.is_multicast and not address.is_reserved


@dataclass(frozen=True)
class Networks:
    """The operator's exceptions to "public addresses only"."""

    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Networks:
        parts = filter(None, (p.strip() for p in text.split(",")))
        return cls(tuple(ipaddress.ip_network(p, strict=False) for p in parts))

    def permits(self, host: str) -> bool:
        """True if `host` (an address, as resolved) may be connected to."""
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if any(address in net or _carried(address) in net for net in self.allowed):
            return True
        return is_public(address)
