"""What the rollout driver reads and writes in Postgres: the `rollouts` rows it drives,
their `rollout_stores`, the stores of an engine as the auditor's `store_states` has them,
and the outcome events of upgrades in the `upgrade_outcomes` view of `store_events`.

Called by `services.reaper.rollouts` only. Every write names the state it expects, so a
pause or abort the gateway wrote meanwhile is never overwritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import asyncpg

from services.reaper.rollout_plan import OUTCOMES, Member, Rollout, StoreNow

_ROLLOUT = (
    "id::text AS id, engine, target_version, waves, max_concurrent, failure_threshold,"
    " pause_seconds, state, current_wave, next_wave_at, created_by::text AS created_by,"
    " planned_at IS NOT NULL AS planned"
)
_MEMBER = (
    "store_id::text AS store_id, wave, state, operation_id::text AS operation_id, from_version"
)


class RolloutRecords:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def unfinished(self) -> list[tuple[Rollout, bool, str]]:
        """Rollouts that may still act, oldest first: (rollout, planned, created_by)."""
        rows = await self._pool.fetch(
            f"SELECT {_ROLLOUT} FROM rollouts WHERE ended_at IS NULL"
            " AND state IN ('running', 'paused', 'aborted') ORDER BY created_at"
        )
        found = []
        for r in rows:
            row = dict(r)
            planned, created_by = row.pop("planned"), row.pop("created_by")
            row["waves"] = tuple(row["waves"])
            found.append((Rollout(**row), planned, created_by))
        return found

    async def counts(self) -> dict[str, int]:
        rows = await self._pool.fetch("SELECT state, count(*) AS n FROM rollouts GROUP BY state")
        return {r["state"]: r["n"] for r in rows}

    async def stores(self, engine: str, default_version: str) -> dict[str, StoreNow]:
        rows = await self._pool.fetch(
            "SELECT id::text AS id, status, coalesce(engine_version, $2) AS engine_version,"
            " operation_id::text AS operation_id FROM store_states WHERE engine = $1",
            engine,
            default_version,
        )
        return {r["id"]: StoreNow(**dict(r)) for r in rows}

    async def members(self, rollout_id: str) -> list[Member]:
        rows = await self._pool.fetch(
            f"SELECT {_MEMBER} FROM rollout_stores WHERE rollout_id = $1", rollout_id
        )
        return [Member(**dict(r)) for r in rows]

    async def plan(self, rollout_id: str, members: Iterable[Member]) -> None:
        """Record the picked stores once: a second call (after a crash) adds nothing."""
        async with self._pool.acquire() as conn, conn.transaction():
            claimed = await conn.fetchval(
                "UPDATE rollouts SET planned_at = now(), updated_at = now()"
                " WHERE id = $1 AND planned_at IS NULL RETURNING id",
                rollout_id,
            )
            if claimed is None:
                return
            await conn.executemany(
                "INSERT INTO rollout_stores (rollout_id, store_id, wave, operation_id, state,"
                " from_version) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                [
                    (rollout_id, m.store_id, m.wave, m.operation_id, m.state, m.from_version)
                    for m in members
                ],
            )

    async def outcomes(self, members: Iterable[Member]) -> dict[str, str]:
        """operation id -> type of the event that ended that upgrade, for `members`."""
        wanted = [m for m in members if m.state in ("pending", "requested")]
        if not wanted:
            return {}
        rows = await self._pool.fetch(
            "SELECT operation_id, type FROM upgrade_outcomes"
            " WHERE store_id = ANY($1::text[]) AND type = ANY($2::text[])"
            " AND operation_id = ANY($3::text[])",
            [m.store_id for m in wanted],
            list(OUTCOMES),
            [m.operation_id for m in wanted],
        )
        return {r["operation_id"]: r["type"] for r in rows}

    async def set_members(self, rollout_id: str, moves: Mapping[str, str]) -> None:
        if moves:
            await self._pool.executemany(
                "UPDATE rollout_stores SET state = $3, updated_at = now()"
                " WHERE rollout_id = $1 AND store_id = $2"
                " AND state IN ('pending', 'requested')",
                [(rollout_id, sid, state) for sid, state in moves.items()],
            )

    async def move(self, rollout_id: str, expected: str, **columns: object) -> bool:
        """Set `columns` on the rollout if it is still in state `expected`."""
        names = list(columns)
        sets = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(names))
        done = await self._pool.fetchval(
            f"UPDATE rollouts SET {sets}, updated_at = now()"
            " WHERE id = $1 AND state = $2 RETURNING id",
            rollout_id,
            expected,
            *columns.values(),
        )
        return done is not None

    async def end(self, rollout_id: str, at: datetime) -> None:
        await self.move(rollout_id, "aborted", ended_at=at)
