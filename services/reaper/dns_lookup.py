"""TXT look-ups for the domain verifier, through dnspython's asyncio resolver.

Called by `services.reaper.domains`. The resolvers are the setting
`STOREFLEET_DNS_RESOLVERS` (`host` or `host:port`, comma separated; empty: the system's,
from /etc/resolv.conf), asked without a cache, within `timeout` seconds per look-up.

NXDOMAIN and an answer without TXT records mean the record is missing; anything else
that is not an answer (a timeout, SERVFAIL, REFUSED from every resolver) is an error the
verifier retries later and never acts on.
"""

from __future__ import annotations

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver
import structlog

from services.reaper.domain_plan import TxtAnswer

log = structlog.get_logger(__name__)

Resolvers = tuple[tuple[str, int], ...]


class TxtLookup:
    def __init__(self, resolvers: Resolvers, timeout: float) -> None:
        self._resolver = dns.asyncresolver.Resolver(configure=not resolvers)
        if resolvers:
            self._resolver.nameservers = [
                dns.nameserver.Do53Nameserver(host, port) for host, port in resolvers
            ]
        self._resolver.cache = None
        self._resolver.timeout = timeout
        self._resolver.lifetime = timeout

    async def txt(self, name: str) -> TxtAnswer:
        """The TXT values at `name` (absolute, no final dot)."""
        try:
            answer = await self._resolver.resolve(name + ".", "TXT", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return TxtAnswer("missing")
        except (dns.exception.DNSException, OSError) as exc:
            log.info("TXT look-up failed", name=name, error=type(exc).__name__)
            return TxtAnswer("error")
        values = frozenset(b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer)
        return TxtAnswer("found", values)
