"""Postgres side of the store routes: each command (create, delete, retry) writes the
gateway's `store_requests` row and its `outbox` row in one transaction, so an event is
published if and only if the change committed; the relay (`outbox.py`) sends it later.

The gateway never writes a status: the auditor folds the events into `store_states`, and
the `stores` view shows the projection's status unless a command recorded here is further
along (`shared.lifecycle.shown`; migration 0004).

The per-user quota and the `Idempotency-Key` are settled inside the create transaction
behind a lock on the user's row, so concurrent creates cannot pass the quota nor make
two stores for one key; a slug is claimed behind an advisory lock on it. A clone records
the backup it starts from, and every `requested` event of it (a retry too) carries it.
Emits `store.requested` and `store.delete` events (via the outbox).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.gateway.accounts import Caller
from services.gateway.errors import ApiError, not_found
from services.gateway.rules import (
    DeleteDecision,
    StoreRequest,
    decide_delete,
    quota_allows,
)
from services.gateway.sql import Params
from shared.events import BackupRef, Delete, Envelope, Requested, new_event
from shared.lifecycle import LIVE, Status, can_retry
from shared.namespaces import namespace_for

_SELECT = (
    "SELECT s.id, s.owner_id, s.name, s.slug, s.namespace, s.engine, s.plan, s.status, s.url,"
    " s.error, s.idempotency_key, s.created_at, s.updated_at, s.ready_at, s.deleted_at,"
    " s.from_store_id, s.from_backup_id, s.engine_version,"
    " p.domain_id AS primary_domain_id, p.domain AS primary_domain,"
    " coalesce(u.username, '') AS username FROM stores s LEFT JOIN users u ON u.id = s.owner_id"
    " LEFT JOIN store_primary p ON p.store_id = s.id"
)
_VISIBLE = "s.id = $1 AND (s.owner_id = $2 OR $3)"
_LIVE = sorted(LIVE)
ADMIN_DELETE_REASON = "deleted by an administrator"
# Serializes creates of one slug (hashtextextended's seed), so two cannot both find it free.
_SLUG_LOCK_SEED = 0x51A6


async def enqueue(conn: asyncpg.Connection, event: Envelope) -> None:
    await conn.execute(
        "INSERT INTO outbox (event_id, subject, envelope) VALUES ($1, $2, $3)",
        event.id,
        event.subject,
        event.model_dump(mode="json"),
    )


def _requested(row: asyncpg.Record, attempt: int, actor: str, correlation_id: str) -> Envelope:
    data = Requested(
        name=row["name"],
        slug=row["slug"],
        engine=row["engine"],
        plan=row["plan"],
        owner=str(row["owner_id"]),
        namespace=row["namespace"],
        attempt=attempt,
        from_backup=_clone_source(row),
        engine_version=row["engine_version"],
    )
    return new_event("requested", str(row["id"]), data, actor=actor, correlation_id=correlation_id)


def _clone_source(row: asyncpg.Record) -> BackupRef | None:
    if row["from_backup_id"] is None:
        return None
    return BackupRef(store_id=str(row["from_store_id"]), backup_id=str(row["from_backup_id"]))


async def create_store(
    pool: asyncpg.Pool,
    caller: Caller,
    request: StoreRequest,
    key: str | None,
    correlation_id: str,
    default_max: int,
) -> tuple[asyncpg.Record, bool]:
    """The new store (and True), or the one this key already made (and False)."""
    owner = uuid.UUID(caller.id)
    async with pool.acquire() as conn, conn.transaction():
        max_stores = await conn.fetchval(
            "SELECT coalesce(max_stores, $2) FROM users WHERE id = $1 FOR UPDATE",
            owner,
            default_max,
        )
        if key is not None:
            earlier_id = await conn.fetchval(
                "SELECT id FROM store_requests WHERE owner_id = $1 AND idempotency_key = $2",
                owner,
                key,
            )
            if earlier_id is not None:
                earlier = await conn.fetchrow(f"{_SELECT} WHERE s.id = $1", earlier_id)
                _same_request(earlier, request)
                return earlier, False
        used = await conn.fetchval(
            "SELECT count(*) FROM stores WHERE owner_id = $1 AND status = ANY($2::text[])",
            owner,
            _LIVE,
        )
        if not quota_allows(used, max_stores):
            raise ApiError(
                403,
                "quota_exceeded",
                f"you have {used} of your {max_stores} stores; delete one first",
            )
        await _claim_slug(conn, request.slug)
        row = await _insert(conn, owner, request, key)
        await enqueue(conn, _requested(row, 1, caller.id, correlation_id))
        return row, True


def _same_request(earlier: asyncpg.Record, request: StoreRequest) -> None:
    source = request.from_backup
    same = (earlier["name"], earlier["engine"], earlier["plan"], earlier["from_backup_id"]) == (
        request.name,
        request.engine,
        request.plan,
        uuid.UUID(source.backup_id) if source else None,
    )
    if not same:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request",
            "Idempotency-Key",
        )


async def _claim_slug(conn: asyncpg.Connection, slug: str) -> None:
    """409 when a live store has `slug`; holds the slug's lock until the transaction ends."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, $2))", slug, _SLUG_LOCK_SEED
    )
    taken = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM stores WHERE slug = $1 AND status = ANY($2::text[]))",
        slug,
        _LIVE,
    )
    if taken:
        raise ApiError(
            409, "slug_taken", f"a store called {slug!r} exists; choose another name", "name"
        )


async def _insert(
    conn: asyncpg.Connection, owner: uuid.UUID, request: StoreRequest, key: str | None
) -> asyncpg.Record:
    store_id = uuid.uuid4()
    source = request.from_backup
    await conn.execute(
        "INSERT INTO store_requests (id, owner_id, name, slug, namespace, engine, plan,"
        " idempotency_key, from_store_id, from_backup_id, engine_version)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        store_id,
        owner,
        request.name,
        request.slug,
        namespace_for(request.slug, str(store_id)),
        request.engine,
        request.plan,
        key,
        uuid.UUID(source.store_id) if source else None,
        uuid.UUID(source.backup_id) if source else None,
        request.engine_version,
    )
    row: asyncpg.Record = await conn.fetchrow(f"{_SELECT} WHERE s.id = $1", store_id)
    return row


async def visible_store(
    pool: asyncpg.Pool | asyncpg.Connection,
    caller: Caller,
    store_id: uuid.UUID,
) -> asyncpg.Record:
    """The store if the caller may see it; 404 otherwise, whether it exists or not."""
    row: asyncpg.Record | None = await pool.fetchrow(
        f"{_SELECT} WHERE {_VISIBLE}", store_id, uuid.UUID(caller.id), caller.is_admin
    )
    if row is None:
        raise not_found()
    return row


async def commanded_store(
    conn: asyncpg.Connection, caller: Caller, store_id: uuid.UUID
) -> asyncpg.Record:
    """The visible store, its request row locked until the transaction ends. A store known
    only from its events gets a request row first, so its commands are recorded too."""
    await visible_store(conn, caller, store_id)
    await conn.execute(
        "INSERT INTO store_requests (id, owner_id, name, slug, namespace, engine, plan,"
        " attempt, created_at, engine_version) SELECT id, owner_id, name, slug, namespace,"
        " engine, plan, attempt, created_at, engine_version FROM store_states WHERE id = $1"
        " ON CONFLICT (id) DO NOTHING",
        store_id,
    )
    await conn.execute("SELECT 1 FROM store_requests WHERE id = $1 FOR UPDATE", store_id)
    locked: asyncpg.Record = await conn.fetchrow(f"{_SELECT} WHERE s.id = $1", store_id)
    return locked


async def request_delete(
    pool: asyncpg.Pool, caller: Caller, store_id: uuid.UUID, correlation_id: str
) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        row = await commanded_store(conn, caller, store_id)
        if decide_delete(row["status"]) is DeleteDecision.ALREADY:
            return row
        await conn.execute(
            "UPDATE store_requests SET delete_requested_at = now(), updated_at = now()"
            " WHERE id = $1",
            store_id,
        )
        # The owner reads this reason: who the administrator was stays in `requested_by`
        # (a user id) and the audit log, never their username.
        reason = "" if str(row["owner_id"]) == caller.id else ADMIN_DELETE_REASON
        event = new_event(
            "delete",
            str(store_id),
            Delete(requested_by=caller.id, reason=reason),
            actor=caller.id,
            correlation_id=correlation_id,
        )
        await enqueue(conn, event)
        updated: asyncpg.Record = await conn.fetchrow(f"{_SELECT} WHERE s.id = $1", store_id)
        return updated


async def request_retry(
    pool: asyncpg.Pool, caller: Caller, store_id: uuid.UUID, correlation_id: str
) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        row = await commanded_store(conn, caller, store_id)
        if not can_retry(row["status"]):
            raise ApiError(
                409,
                "not_failed",
                f"only a failed store can be retried; this one is {row['status']}",
            )
        attempt = await conn.fetchval(
            "UPDATE store_requests SET attempt = attempt + 1, updated_at = now()"
            " WHERE id = $1 RETURNING attempt",
            store_id,
        )
        updated: asyncpg.Record = await conn.fetchrow(f"{_SELECT} WHERE s.id = $1", store_id)
        await enqueue(conn, _requested(updated, attempt, caller.id, correlation_id))
        return updated


async def list_stores(
    pool: asyncpg.Pool,
    caller: Caller,
    *,
    owner: uuid.UUID | None,
    status: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Newest first; users see their own, admins everyone's unless `owner` narrows it."""
    p = Params()
    clauses = []
    if not caller.is_admin:
        clauses.append(f"s.owner_id = {p(uuid.UUID(caller.id))}")
    if owner is not None:
        clauses.append(f"s.owner_id = {p(owner)}")
    if status is not None:
        clauses.append(f"s.status = {p(status)}")
    else:
        clauses.append(f"s.status <> {p(Status.DELETED.value)}")
    if after is not None:
        clauses.append(f"(s.created_at, s.id) < ({p(after[0])}, {p(_uuid_or_nil(after[1]))})")
    sql = (
        f"{_SELECT} WHERE {' AND '.join(clauses)}"
        f" ORDER BY s.created_at DESC, s.id DESC LIMIT {p(limit)}"
    )
    return list(await pool.fetch(sql, *p.values))


def _uuid_or_nil(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        return uuid.UUID(int=0)
