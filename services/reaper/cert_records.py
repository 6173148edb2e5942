"""What the domain issuer reads and writes in Postgres: its own `domain_states`
(migrations 0014, 0019) and the namespace and engine of each domain's store from the
auditor's `store_states`.

Called by `services.reaper.domain_issuer` only. Every move names the state it expects, so
a pass repeated by another leader never undoes one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from shared.domains import DomainState


@dataclass(frozen=True)
class ServedDomain:
    """A domain whose objects are, or are about to be, in its store's namespace."""

    id: str
    store_id: str
    domain: str
    namespace: str
    engine: str
    store_status: str
    issuing_at: datetime | None
    paused: bool = False


_COLUMNS = """
s.id::text AS id, s.store_id::text AS store_id, s.domain, st.namespace, st.engine,
st.status AS store_status, s.issuing_at, s.paused
FROM domain_states s JOIN store_states st ON st.id = s.store_id
"""

# Verified, its event out, oldest first: the certificate queue.
QUEUE = f"SELECT {_COLUMNS} WHERE s.state = 'verified' AND s.announced = 'verified'" \
    " ORDER BY s.verified_at, s.id LIMIT $1"  # fmt: skip
ISSUING = f"SELECT {_COLUMNS} WHERE s.state = 'issuing' ORDER BY s.issuing_at LIMIT $1"
# Active, with a certificate cert-manager renews about a month before it ends.
RENEWING = f"SELECT {_COLUMNS} WHERE s.state = 'active' AND s.not_after < $1" \
    " ORDER BY s.not_after LIMIT $2"  # fmt: skip
ENDED = f"SELECT {_COLUMNS} WHERE s.served AND s.state IN ('failed', 'removed') LIMIT $1"
# Served, with the store suspended since its Ingress was last pointed, or resumed.
REROUTING = f"SELECT {_COLUMNS} WHERE s.served AND s.state IN ('issuing', 'active')" \
    " AND s.paused <> (st.status = 'suspended') LIMIT $1"  # fmt: skip
ALLOWED = """
SELECT domain, id::text AS id FROM domain_states
WHERE store_id = $1 AND served AND state IN ('verified', 'issuing', 'active')
"""


class CertRecords:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def _served(self, query: str, *args: object) -> list[ServedDomain]:
        return [ServedDomain(**dict(r)) for r in await self._pool.fetch(query, *args)]

    async def queue(self, limit: int) -> list[ServedDomain]:
        return await self._served(QUEUE, limit) if limit > 0 else []

    async def issuing(self, limit: int) -> list[ServedDomain]:
        return await self._served(ISSUING, limit)

    async def renewing(self, before: datetime, limit: int) -> list[ServedDomain]:
        return await self._served(RENEWING, before, limit)

    async def ended(self, limit: int) -> list[ServedDomain]:
        return await self._served(ENDED, limit)

    async def rerouting(self, limit: int) -> list[ServedDomain]:
        return await self._served(REROUTING, limit)

    async def set_paused(self, domain_id: str, paused: bool) -> None:
        await self._pool.execute(
            "UPDATE domain_states SET paused = $2 WHERE id = $1", domain_id, paused
        )

    async def allowed(self, store_id: str) -> dict[str, str]:
        """The store's domains that may be served: domain -> domain id."""
        return {r["domain"]: r["id"] for r in await self._pool.fetch(ALLOWED, store_id)}

    async def counts(self, now: datetime) -> tuple[int, int, int]:
        """Domains issuing now, certificates asked for in the last hour, domains queued."""
        row = await self._pool.fetchrow(
            "SELECT count(*) FILTER (WHERE state = 'issuing') AS issuing,"
            " count(*) FILTER (WHERE issuing_at > $1) AS started,"
            " count(*) FILTER (WHERE state = 'verified') AS queued FROM domain_states",
            now - timedelta(hours=1),
        )
        return row["issuing"], row["started"], row["queued"]

    async def expiring(self, before: datetime) -> int:
        count: int = await self._pool.fetchval(
            "SELECT count(*) FROM domain_states WHERE state = 'active' AND not_after < $1", before
        )
        return count

    async def mark_served(self, domain_id: str) -> None:
        """Its objects are about to be applied: from now on an end removes them."""
        await self._pool.execute("UPDATE domain_states SET served = true WHERE id = $1", domain_id)

    async def unserved(self, domain_id: str) -> None:
        await self._pool.execute("UPDATE domain_states SET served = false WHERE id = $1", domain_id)

    async def start(self, domain_id: str, state: DomainState, now: datetime) -> bool:
        """verified -> `state` (issuing, or active when no certificate is asked for)."""
        status: str = await self._pool.execute(
            "UPDATE domain_states SET state = $2, reason = NULL, issuing_at = $3,"
            " checks = 0, updated_at = $3 WHERE id = $1 AND state = 'verified'",
            domain_id,
            state.value,
            now,
        )
        return status.split()[-1] == "1"

    async def finish(
        self,
        domain_id: str,
        expected: str,
        state: str,
        reason: str | None,
        not_after: datetime | None,
        now: datetime,
    ) -> bool:
        """`expected` -> `state` (active, failed), with the certificate's expiry."""
        status: str = await self._pool.execute(
            "UPDATE domain_states SET state = $3, reason = $4, not_after = $5, updated_at = $6,"
            " checks = CASE WHEN state = $3 THEN checks ELSE 0 END"
            " WHERE id = $1 AND state = $2",
            domain_id,
            expected,
            state,
            reason,
            not_after,
            now,
        )
        return status.split()[-1] == "1"
