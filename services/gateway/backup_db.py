"""Postgres side of the backup routes: an on-demand backup and a restore each write the
gateway's request row (`backup_requests`, `restore_requests`; migration 0011) and its
`outbox` row in one transaction, behind the lock on the store's request row that every
store command takes (`store_db.commanded_store`), so two requests for one store are
decided one after the other. Also lists a store's backups, with when its newest verified
one started (what staleness is counted from), and finds the backup a clone starts from.

The `backups` table is the auditor's and lags the outbox: a request the gateway has
accepted is in it only once its event went through the stream and the auditor. So "under
way" reads both: the auditor's rows that are `requested` or `running`, and this
gateway's requests the auditor has not folded yet (for `UNFOLDED_WINDOW`). A restore is
under way while the store's projection is `restoring`, or a restore request has no
`restore.completed` or `restore.failed` event in the audit log yet.

A backup of a store the caller may not see is answered like one that does not exist.
Emits `store.backup.requested` and `store.restore.requested` events (via the outbox).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.gateway.accounts import Caller
from services.gateway.errors import ApiError, not_found, unprocessable
from services.gateway.rules import (
    BACKUP_UNDER_WAY,
    RESTORABLE_BACKUP,
    UNFOLDED_WINDOW,
    BackupSource,
    backup_restorable,
)
from services.gateway.sql import Params
from services.gateway.store_db import commanded_store, enqueue, visible_store
from shared.events import BackupRequested, RestoreRequested, new_event
from shared.lifecycle import Status, can_restore

_SELECT = (
    "SELECT id, store_id, reason, status, requested_by, requested_at, started_at,"
    " completed_at, verified_at, size_bytes, engine, engine_version, orders, error"
    " FROM store_backups"
)
_RESTORE_ENDS = ["restore.completed", "restore.failed"]


async def request_backup(
    pool: asyncpg.Pool, caller: Caller, store_id: uuid.UUID, key: str | None, correlation_id: str
) -> tuple[asyncpg.Record, bool]:
    """The new backup (and True), or the one this key already asked for (and False)."""
    async with pool.acquire() as conn, conn.transaction():
        store = await commanded_store(conn, caller, store_id)
        if key is not None:
            earlier = await _keyed_request(conn, caller, store_id, key)
            if earlier is not None:
                return earlier, False
        if store["status"] != Status.READY:
            raise ApiError(
                409,
                "store_not_ready",
                f"only a ready store can be backed up; this one is {store['status']}",
            )
        if await _backup_under_way(conn, store_id):
            raise ApiError(
                409, "backup_in_progress", "a backup of this store is under way; wait for it"
            )
        backup_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO backup_requests (id, store_id, requested_by, idempotency_key)"
            " VALUES ($1, $2, $3, $4)",
            backup_id,
            store_id,
            uuid.UUID(caller.id),
            key,
        )
        data = BackupRequested(backup_id=str(backup_id), reason="on_demand", requested_by=caller.id)
        event = new_event(
            "backup.requested",
            str(store_id),
            data,
            actor=caller.id,
            correlation_id=correlation_id,
        )
        await enqueue(conn, event)
        return await _backup(conn, backup_id), True


async def _keyed_request(
    conn: asyncpg.Connection, caller: Caller, store_id: uuid.UUID, key: str
) -> asyncpg.Record | None:
    earlier = await conn.fetchrow(
        "SELECT id, store_id FROM backup_requests WHERE requested_by = $1 AND idempotency_key = $2",
        uuid.UUID(caller.id),
        key,
    )
    if earlier is None:
        return None
    if earlier["store_id"] != store_id:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request",
            "Idempotency-Key",
        )
    return await _backup(conn, earlier["id"])


async def _backup(conn: asyncpg.Connection, backup_id: uuid.UUID) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(f"{_SELECT} WHERE id = $1", backup_id)
    return row


async def _backup_under_way(conn: asyncpg.Connection, store_id: uuid.UUID) -> bool:
    under_way: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM backups WHERE store_id = $1 AND status = ANY($2::text[]))"
        " OR EXISTS (SELECT 1 FROM backup_requests r WHERE r.store_id = $1"
        " AND r.requested_at > now() - $3::interval"
        " AND NOT EXISTS (SELECT 1 FROM backups b WHERE b.id = r.id))",
        store_id,
        list(BACKUP_UNDER_WAY),
        UNFOLDED_WINDOW,
    )
    return under_way


@dataclass(frozen=True)
class BackupListing:
    store: asyncpg.Record  # a `stores` row: its plan, status and ready_at
    rows: list[asyncpg.Record]  # `store_backups` rows, newest first
    last_verified_at: datetime | None  # start of its newest verified backup, on any page


async def list_backups(
    pool: asyncpg.Pool,
    caller: Caller,
    store_id: uuid.UUID,
    *,
    include_deleted: bool,
    after: tuple[datetime, str] | None,
    limit: int,
) -> BackupListing:
    """The store's backups, newest first; 404 when the caller may not see the store."""
    store = await visible_store(pool, caller, store_id)
    p = Params()
    clauses = [f"store_id = {p(store_id)}"]
    if not include_deleted:
        clauses.append("status <> 'deleted'")
    if after is not None:
        clauses.append(f"(requested_at, id) < ({p(after[0])}, {p(_uuid_or_nil(after[1]))})")
    sql = (
        f"{_SELECT} WHERE {' AND '.join(clauses)}"
        f" ORDER BY requested_at DESC, id DESC LIMIT {p(limit)}"
    )
    rows = list(await pool.fetch(sql, *p.values))
    return BackupListing(store, rows, await _last_verified_at(pool, store_id))


async def _last_verified_at(pool: asyncpg.Pool, store_id: uuid.UUID) -> datetime | None:
    """When the newest verified backup started, as the reaper's freshness metric counts it
    (the request time when its start is unknown); by the index on (store_id, requested_at)."""
    last: datetime | None = await pool.fetchval(
        "SELECT max(coalesce(started_at, requested_at)) FROM backups"
        " WHERE store_id = $1 AND status = $2",
        store_id,
        RESTORABLE_BACKUP,
    )
    return last


async def request_restore(
    pool: asyncpg.Pool,
    caller: Caller,
    store_id: uuid.UUID,
    backup_id: uuid.UUID,
    correlation_id: str,
) -> uuid.UUID:
    """The new restore's id, once its request and event are committed."""
    async with pool.acquire() as conn, conn.transaction():
        store = await commanded_store(conn, caller, store_id)
        status = await conn.fetchval(
            "SELECT status FROM store_backups WHERE id = $1 AND store_id = $2", backup_id, store_id
        )
        if status is None:
            raise not_found("backup")
        if not backup_restorable(status):
            raise ApiError(
                409,
                "backup_not_restorable",
                f"only a verified backup can be restored; this one is {status}",
                "backup_id",
            )
        if store["status"] == Status.RESTORING or await _restore_under_way(conn, store_id):
            raise ApiError(409, "restore_in_progress", "a restore of this store is under way")
        if not can_restore(store["status"]):
            raise ApiError(
                409,
                "store_not_restorable",
                f"a {store['status']} store cannot be restored; only a ready or failed one",
            )
        restore_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO restore_requests (id, store_id, backup_id, requested_by)"
            " VALUES ($1, $2, $3, $4)",
            restore_id,
            store_id,
            backup_id,
            uuid.UUID(caller.id),
        )
        data = RestoreRequested(
            restore_id=str(restore_id), backup_id=str(backup_id), requested_by=caller.id
        )
        event = new_event(
            "restore.requested", str(store_id), data, actor=caller.id, correlation_id=correlation_id
        )
        await enqueue(conn, event)
        return restore_id


async def _restore_under_way(conn: asyncpg.Connection, store_id: uuid.UUID) -> bool:
    under_way: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM restore_requests r WHERE r.store_id = $1"
        " AND r.requested_at > now() - $2::interval"
        " AND NOT EXISTS (SELECT 1 FROM store_events e WHERE e.store_id = $4"
        " AND e.type = ANY($3::text[]) AND e.envelope -> 'data' ->> 'restore_id' = r.id::text))",
        store_id,
        UNFOLDED_WINDOW,
        _RESTORE_ENDS,
        str(store_id),
    )
    return under_way


async def clone_source(pool: asyncpg.Pool, caller: Caller, backup_id: str) -> BackupSource:
    """The verified backup a new store starts from, of a store the caller may see, deleted
    or not; a backup they may not see is answered like one that does not exist."""
    row = await pool.fetchrow(
        "SELECT b.store_id, b.status, b.engine FROM store_backups b"
        " JOIN stores s ON s.id = b.store_id WHERE b.id = $1 AND (s.owner_id = $2 OR $3)",
        uuid.UUID(backup_id),
        uuid.UUID(caller.id),
        caller.is_admin,
    )
    if row is None:
        raise unprocessable("from_backup", "no such backup", "backup_not_found")
    if not backup_restorable(row["status"]) or row["engine"] is None:
        raise ApiError(
            409,
            "backup_not_restorable",
            f"only a verified backup can be cloned; this one is {row['status']}",
            "from_backup",
        )
    return BackupSource(store_id=str(row["store_id"]), backup_id=backup_id, engine=row["engine"])


def _uuid_or_nil(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        return uuid.UUID(int=0)
