"""The gateway's side of fleet rollouts (issue 15): it records what an administrator asks
for in `rollouts` and reads back what the reaper's rollout driver did; it never requests
an upgrade itself.

Called by `services.gateway.routes_rollouts`. A second running or paused rollout of the
same engine is refused (409) by the table's unique index; pause, resume and abort move
the state only from the states they name (409 otherwise).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from services.gateway.errors import ApiError, not_found
from services.gateway.views import Row

COLUMNS = (
    "id, engine, target_version, waves, max_concurrent, failure_threshold, pause_seconds,"
    " state, current_wave, next_wave_at, planned_at, ended_at, created_by, created_at,"
    " updated_at, reason"
)
# The state each command moves a rollout to, and the states it may move it from.
MOVES = {
    "pause": ("paused", ("running",)),
    "resume": ("running", ("paused",)),
    "abort": ("aborted", ("running", "paused")),
}


async def create(
    pool: asyncpg.Pool,
    admin: str,
    engine: str,
    version: str,
    waves: Sequence[str],
    max_concurrent: int,
    failure_threshold: float,
    pause_seconds: int,
) -> Row:
    try:
        row: Row = await pool.fetchrow(
            "INSERT INTO rollouts (id, engine, target_version, waves, max_concurrent,"
            " failure_threshold, pause_seconds, created_by)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}",
            uuid.uuid4(),
            engine,
            version,
            list(waves),
            max_concurrent,
            failure_threshold,
            pause_seconds,
            uuid.UUID(admin),
        )
    except asyncpg.UniqueViolationError:
        raise ApiError(
            409,
            "rollout_in_progress",
            f"a rollout of {engine} is running or paused; abort it or wait for it to end",
            "engine",
        ) from None
    return row


async def listing(pool: asyncpg.Pool) -> list[Row]:
    return list(await pool.fetch(f"SELECT {COLUMNS} FROM rollouts ORDER BY created_at DESC"))


async def one(pool: asyncpg.Pool, rollout_id: uuid.UUID) -> Row:
    row = await pool.fetchrow(f"SELECT {COLUMNS} FROM rollouts WHERE id = $1", rollout_id)
    if row is None:
        raise not_found("rollout")
    return dict(row)


async def members(pool: asyncpg.Pool, rollout_id: uuid.UUID) -> list[Row]:
    return list(
        await pool.fetch(
            "SELECT store_id, wave, state, operation_id, from_version, updated_at"
            " FROM rollout_stores WHERE rollout_id = $1 ORDER BY wave NULLS LAST, store_id",
            rollout_id,
        )
    )


async def move(pool: asyncpg.Pool, rollout_id: uuid.UUID, command: str) -> Row:
    target, sources = MOVES[command]
    row = await pool.fetchrow(
        f"UPDATE rollouts SET state = $2, updated_at = now()"
        f" WHERE id = $1 AND state = ANY($3::text[]) RETURNING {COLUMNS}",
        rollout_id,
        target,
        list(sources),
    )
    if row is not None:
        return dict(row)
    current = await one(pool, rollout_id)  # 404 when there is no such rollout
    done = {"pause": "paused", "resume": "resumed", "abort": "aborted"}[command]
    raise ApiError(
        409, f"rollout_not_{done}", f"a {current['state']} rollout cannot be {done}", "state"
    )
