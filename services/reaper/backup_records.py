"""What the backup keeper reads: the auditor's `store_states` and `backups` rows (the
reaper only reads them), and, for a stuck restore, which backup it restores (from the
restore's last event on the stream, as `store_states` keeps only the restore's id).

Called by `services.reaper.backups` once per pass. Emits nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import asyncpg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from services.reaper.backup_plan import BackupRecord, StoreView
from shared.subjects import subject_for

NOT_DELETED = ["requested", "running", "completed", "verified", "failed"]

# Live stores, and deleted ones that still have backups to remove.
STORES = """
SELECT s.id::text AS id, s.plan, s.status, s.updated_at, s.ready_at, s.deleted_at,
       s.restore_id::text AS restore_id,
       (SELECT max(b.requested_at) FROM backups b
        WHERE b.store_id = s.id AND b.reason = 'scheduled') AS last_scheduled_at
FROM store_states s
WHERE s.status <> 'deleted'
   OR EXISTS (SELECT 1 FROM backups b WHERE b.store_id = s.id AND b.status = ANY($1::text[]))
"""

BACKUPS = """
SELECT id::text AS id, store_id::text AS store_id, reason, status,
       coalesce(requested_at, updated_at) AS requested_at, updated_at, started_at,
       last_event_seq
FROM backups WHERE status = ANY($1::text[])
"""

STATUSES = "SELECT id::text AS id, status FROM backups WHERE id = ANY($1::uuid[])"


class BackupRecords:
    def __init__(self, pool: asyncpg.Pool, js: JetStreamContext, stream: str) -> None:
        self._pool = pool
        self._js = js
        self._stream = stream

    async def stores(self) -> list[StoreView]:
        rows = await self._pool.fetch(STORES, NOT_DELETED)
        return [StoreView(**dict(r)) for r in rows]

    async def backups(self) -> list[BackupRecord]:
        rows = await self._pool.fetch(BACKUPS, NOT_DELETED)
        return [BackupRecord(**dict(r)) for r in rows]

    async def statuses(self, backup_ids: Iterable[str]) -> dict[str, str]:
        """The status of each of these backups that has a row."""
        rows = await self._pool.fetch(STATUSES, list(set(backup_ids)))
        return {r["id"]: r["status"] for r in rows}

    async def restored_backup(self, store_id: str, restore_id: str) -> str | None:
        """The backup the store's restore `restore_id` restores, from its last `started`
        or `requested` event; None when the stream holds neither."""
        for event_type in ("restore.started", "restore.requested"):
            try:
                msg = await self._js.get_last_msg(self._stream, subject_for(event_type, store_id))
            except NotFoundError:
                continue
            data = json.loads(msg.data or b"{}").get("data", {})
            if data.get("restore_id") == restore_id and data.get("backup_id"):
                return str(data["backup_id"])
        return None
