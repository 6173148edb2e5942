"""Which stores exist and in what status, as the relay needs to know before it accepts a
sender: one read of the `stores` view per message, through a read-only connection pool.
The relay never writes to Postgres.

`StoreDirectory` is the seam the handler depends on; `PostgresStores` is the adapter.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

import asyncpg


@dataclass(frozen=True)
class StoreRecord:
    slug: str
    status: str


class StoreLookupFailed(Exception):
    """Postgres did not answer; the store is told to try again later."""


class StoreDirectory(Protocol):
    async def lookup(self, store_id: str) -> StoreRecord | None: ...


class PostgresStores:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def lookup(self, store_id: str) -> StoreRecord | None:
        try:
            key = uuid.UUID(store_id)
        except ValueError:
            return None
        try:
            row = await self.pool.fetchrow("SELECT slug, status FROM stores WHERE id = $1", key)
        except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
            raise StoreLookupFailed(f"stores lookup failed: {type(exc).__name__}") from exc
        return None if row is None else StoreRecord(row["slug"], row["status"])
