"""The SQL of `stream_places` (migration 0008): a user's open event streams on every
gateway replica, as leases. Called by `services.gateway.streams` only."""

from __future__ import annotations

import uuid

import asyncpg


async def take_place(
    pool: asyncpg.Pool, user_id: str, place: uuid.UUID, per_user: int, lease_seconds: float
) -> bool:
    """Take a place for `user_id` unless `per_user` are held; False when none is free.
    One user's takers queue on a transaction lock, so two replicas never both take the
    last place."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('stream_places:' || $1::text, 0))",
            user_id,
        )
        await conn.execute(
            "DELETE FROM stream_places WHERE user_id = $1 AND held_until < now()", user_id
        )
        held = await conn.fetchval("SELECT count(*) FROM stream_places WHERE user_id = $1", user_id)
        if held >= per_user:
            return False
        await conn.execute(
            "INSERT INTO stream_places (id, user_id, held_until)"
            " VALUES ($1, $2, now() + make_interval(secs => $3))",
            place,
            user_id,
            lease_seconds,
        )
        return True


async def renew_place(
    pool: asyncpg.Pool, user_id: str, place: uuid.UUID, lease_seconds: float
) -> None:
    """Extend the lease; a place swept meanwhile (its replica was unreachable past the
    lease) is taken back, even beyond the cap, rather than left uncounted."""
    await pool.execute(
        "INSERT INTO stream_places (id, user_id, held_until)"
        " VALUES ($1, $2, now() + make_interval(secs => $3))"
        " ON CONFLICT (id) DO UPDATE SET held_until = EXCLUDED.held_until",
        place,
        user_id,
        lease_seconds,
    )


async def free_place(pool: asyncpg.Pool, place: uuid.UUID) -> None:
    await pool.execute("DELETE FROM stream_places WHERE id = $1", place)
