"""What the reaper reads about stores: the auditor's `store_states` projection in Postgres
(the reaper never writes it), and, for stores the database does not know yet, the last
messages the stream holds on their subjects.

Called by the deletion handler (a store's namespace name, whether its `deleted` is
already recorded) and the sweeper (rows of the stores its namespaces belong to, stores in
a transitional status, stream facts). Emits nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import timedelta

import asyncpg
import structlog
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from services.reaper.sweep_plan import SWEPT, StoreRecord, StreamFacts
from shared.subjects import subject_for

log = structlog.get_logger(__name__)

_STORE_COLUMNS = (
    "id::text AS id, status, namespace, updated_at, last_event_seq,"
    " operation_id::text AS operation_id"
)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class Records:
    def __init__(self, pool: asyncpg.Pool, js: JetStreamContext, stream: str) -> None:
        self._pool = pool
        self._js = js
        self._stream = stream

    async def namespace_of(self, store_id: str) -> str | None:
        """The store's namespace name: from its row, else from its `requested` event."""
        if _is_uuid(store_id):
            try:
                name = await self._pool.fetchval(
                    "SELECT namespace FROM store_states WHERE id = $1", store_id
                )
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                # Deleting goes on without Postgres: the stream knows the name too.
                log.warning("cannot read the store row; asking the stream", error=str(exc))
                name = None
            if name:
                return str(name)
        body = await self._last_body("requested", store_id)
        if body is None:
            return None
        namespace = json.loads(body).get("data", {}).get("namespace")
        return str(namespace) if namespace else None

    async def deleted_in_stream(self, store_id: str) -> bool:
        return await self._last_body("deleted", store_id) is not None

    async def stream_facts(self, store_id: str) -> StreamFacts:
        return StreamFacts(
            requested=await self._last_body("requested", store_id) is not None,
            deleted=await self.deleted_in_stream(store_id),
        )

    async def _last_body(self, event_type: str, store_id: str) -> bytes | None:
        try:
            msg = await self._js.get_last_msg(self._stream, subject_for(event_type, store_id))
        except NotFoundError:
            return None
        return msg.data

    async def stores(self, ids: Iterable[str]) -> dict[str, StoreRecord]:
        wanted = [i for i in ids if _is_uuid(i)]
        if not wanted:
            return {}
        rows = await self._pool.fetch(
            f"SELECT {_STORE_COLUMNS} FROM store_states WHERE id = ANY($1::uuid[])", wanted
        )
        return {r["id"]: StoreRecord(**dict(r)) for r in rows}

    async def in_transition(self, older_than: timedelta) -> list[StoreRecord]:
        """Stores in a status the sweep acts on (`SWEPT`) whose last change is older than
        `older_than`, oldest first."""
        rows = await self._pool.fetch(
            f"SELECT {_STORE_COLUMNS} FROM store_states"
            " WHERE status = ANY($2::text[]) AND updated_at < now() - $1::interval"
            " ORDER BY updated_at LIMIT 1000",
            older_than,
            list(SWEPT),
        )
        return [StoreRecord(**dict(r)) for r in rows]
