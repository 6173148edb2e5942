"""Who owns which store, cached: the live stream checks every event it relays against
the caller, and an owner never changes, so each store is looked up in Postgres once.

Called by `sse` (per event) and nowhere else. Bounded: the oldest entries go first.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict

import asyncpg


class OwnerCache:
    def __init__(self, pool: asyncpg.Pool, size: int = 50_000) -> None:
        self._pool = pool
        self._size = size
        self._owners: OrderedDict[str, str | None] = OrderedDict()

    async def owner_of(self, store_id: str) -> str | None:
        """The owner's user id, or None for a store this database does not know."""
        if store_id in self._owners:
            self._owners.move_to_end(store_id)
            return self._owners[store_id]
        try:
            key = uuid.UUID(store_id)
        except ValueError:
            return None
        owner = await self._pool.fetchval("SELECT owner_id FROM stores WHERE id = $1", key)
        if owner is None:
            return None  # not cached: the row may commit in a moment
        self._remember(store_id, str(owner))
        return str(owner)

    def _remember(self, store_id: str, owner: str) -> None:
        self._owners[store_id] = owner
        if len(self._owners) > self._size:
            self._owners.popitem(last=False)
