"""What the domain verifier reads and writes in Postgres: the gateway's
`domain_requests` and `store_primary_domains` (read only) and its own `domain_states`
(migrations 0014, 0020), the one table whose unique index says which store holds a
verified domain; and the `store_states` status of the domains' stores.

Called by `services.reaper.domains` only. Every write names the state it expects, so two
passes (or two replicas between leaders) never undo each other's move, and a second store's
move to verified fails on the index (`save` answers "taken").
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import asyncpg

from services.reaper.domain_plan import Decision, DomainRow
from shared.domains import CHECKED, DomainState

Saved = Literal["saved", "stale", "taken"]
_CHECKED = sorted(CHECKED)
_LIVE_END = [DomainState.FAILED.value, DomainState.REMOVED.value]

ADOPT = """
INSERT INTO domain_states (id, store_id, domain, state, next_check_at)
SELECT r.id, r.store_id, r.domain, 'pending_dns', $1 FROM domain_requests r
WHERE r.removed_at IS NULL AND NOT EXISTS (SELECT 1 FROM domain_states s WHERE s.id = r.id)
ON CONFLICT (id) DO NOTHING
"""

# The owner removed it: the gateway has published domain.removed already.
CLOSE_REMOVED = """
UPDATE domain_states s SET state = 'removed', reason = 'owner', announced = 'removed',
    updated_at = $1
FROM domain_requests r
WHERE r.id = s.id AND r.removed_at IS NOT NULL AND s.state <> 'removed'
"""

UNLINK_DELETED_STORES = """
UPDATE domain_states s SET state = 'removed', reason = 'store_deleted', updated_at = $1
FROM store_states st
WHERE st.id = s.store_id AND st.status IN ('deleting', 'deleted')
  AND NOT s.state = ANY($2::text[])
"""

DUE = """
SELECT s.id::text AS id, s.store_id::text AS store_id, s.domain, r.token, s.state, s.checks,
       r.requested_at
FROM domain_states s JOIN domain_requests r ON r.id = s.id
WHERE s.state = ANY($1::text[]) AND s.next_check_at <= $2 AND r.removed_at IS NULL
ORDER BY s.next_check_at LIMIT $3
"""

SAVE = """
UPDATE domain_states SET state = $3, reason = $4, next_check_at = $5, checked_at = $6,
    checks = CASE WHEN state = $3 THEN checks + 1 ELSE 0 END,
    verified_at = CASE WHEN $3 = 'verified' AND state <> 'verified' THEN $6 ELSE verified_at END,
    updated_at = $6
WHERE id = $1 AND state = $2
"""

UNANNOUNCED = """
SELECT id::text AS id, store_id::text AS store_id, domain, state, reason, not_after
FROM domain_states WHERE state <> 'pending_dns' AND announced IS DISTINCT FROM state
ORDER BY updated_at LIMIT $1
"""


# Stores whose chosen primary domain ended (and which are not going), not announced yet.
ENDED_PRIMARIES = """
SELECT p.store_id::text AS store_id, s.id::text AS domain_id, s.domain
FROM store_primary_domains p
JOIN domain_states s ON s.id = p.domain_id
JOIN store_states st ON st.id = p.store_id
WHERE s.state IN ('failed', 'removed') AND NOT s.primary_released
  AND st.status NOT IN ('deleting', 'deleted')
LIMIT $1
"""


class DomainRecords:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def adopt(self, now: datetime) -> None:
        """A state row, pending and due now, for each new request."""
        await self._pool.execute(ADOPT, now)

    async def close_removed(self, now: datetime) -> None:
        await self._pool.execute(CLOSE_REMOVED, now)

    async def unlink_deleted_stores(self, now: datetime) -> None:
        await self._pool.execute(UNLINK_DELETED_STORES, now, _LIVE_END)

    async def due(self, now: datetime, limit: int) -> list[DomainRow]:
        rows = await self._pool.fetch(DUE, _CHECKED, now, limit)
        return [DomainRow(**dict(r)) for r in rows]

    async def save(self, row: DomainRow, decision: Decision, now: datetime) -> Saved:
        """Record `decision`: "saved"; "stale" when the row has moved since it was read
        (another pass did it); "taken" when another store holds the domain verified."""
        try:
            status = await self._pool.execute(
                SAVE,
                row.id,
                row.state,
                decision.state,
                decision.reason,
                decision.next_check_at,
                now,
            )
        except asyncpg.UniqueViolationError:
            return "taken"
        return "saved" if status.split()[-1] == "1" else "stale"

    async def unannounced(self, limit: int = 500) -> list[asyncpg.Record]:
        """Rows whose state's event is not published yet."""
        return list(await self._pool.fetch(UNANNOUNCED, limit))

    async def announced(self, domain_id: str, state: str) -> None:
        await self._pool.execute(
            "UPDATE domain_states SET announced = $2 WHERE id = $1 AND state = $2",
            domain_id,
            state,
        )

    async def ended_primaries(self, limit: int) -> list[asyncpg.Record]:
        """Stores still set on a primary domain that ended, and that domain."""
        return list(await self._pool.fetch(ENDED_PRIMARIES, limit))

    async def primary_released(self, domain_id: str) -> None:
        """The store's way back to its host is published: never again for this domain."""
        await self._pool.execute(
            "UPDATE domain_states SET primary_released = true WHERE id = $1", domain_id
        )

    async def counts(self) -> dict[str, int]:
        rows = await self._pool.fetch(
            "SELECT state, count(*) AS n FROM domain_states GROUP BY state"
        )
        return {r["state"]: r["n"] for r in rows}
