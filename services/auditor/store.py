"""The auditor's Postgres adapter: one transaction per batch that appends events to
`store_events` (idempotent on the event id) and writes the `store_states` rows that
`services.auditor.projection` computes (the auditor is their only writer); plus the
audit log's questions and the table reset `rebuild` uses.

Called by the auditor's consumer loop and by `rebuild`. Emits SQL only.

Concurrency: several auditor replicas may share the durable consumer. Rows are inserted
in event-id order (two batches holding the same redelivered ids cannot deadlock), and
each store of a batch is serialized by a transaction-scoped advisory lock taken in a
fixed order before its row is read, so two batches never fold the same store at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from services.auditor import backup_store
from services.auditor.projection import (
    AuditEvent,
    Projected,
    StoreRow,
    needs_history,
    project,
)
from shared.events import parse_event

log = structlog.get_logger(__name__)

# Why a row was left out of the projection: another live store has its slug.
SLUG_TAKEN = "slug_taken"

# Namespaces the advisory lock keys of store ids (hashtextextended's seed).
STORE_LOCK_SEED = 0x5A0D17

INSERT_EVENTS = """
INSERT INTO store_events
    (event_id, store_id, type, subject, actor, occurred_at, envelope, stream_seq)
SELECT e, s, t, sub, a, o, env::jsonb, seq
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
            $6::timestamptz[], $7::text[], $8::bigint[]) AS x(e, s, t, sub, a, o, env, seq)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

# Volatile functions in a target list run after the sort, so the locks are taken in key
# order: two batches sharing stores queue up instead of deadlocking.
LOCK_STORES = """
SELECT count(*) FROM (
    SELECT pg_advisory_xact_lock(k)
    FROM (SELECT DISTINCT hashtextextended(id, $2) AS k FROM unnest($1::text[]) AS id) AS keys
    ORDER BY k
) AS locked
"""

ROW_COLUMNS = (
    "id, owner_id, name, slug, namespace, engine, plan, status, url, error, "
    "created_at, updated_at, ready_at, deleted_at, last_event_seq, attempt, restore_id, "
    "operation_id, engine_version"
)

READ_ROWS = """
SELECT id::text AS id, owner_id::text AS owner_id, name, slug, namespace, engine, plan,
       status, url, error, created_at, updated_at, ready_at, deleted_at, last_event_seq,
       attempt, restore_id::text AS restore_id,
       operation_id::text AS operation_id, engine_version
FROM store_states WHERE id = ANY($1::uuid[]) FOR UPDATE
"""

READ_HISTORY = """
SELECT envelope::text AS body, stream_seq FROM store_events
WHERE store_id = ANY($1::text[]) AND NOT (event_id = ANY($2::text[]))
"""

WRITE_ROWS = f"""
INSERT INTO store_states ({ROW_COLUMNS})
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[],
                     $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::bigint[],
                     $16::integer[], $17::uuid[], $18::uuid[], $19::text[])
ON CONFLICT (id) DO UPDATE SET
    owner_id = EXCLUDED.owner_id, name = EXCLUDED.name, slug = EXCLUDED.slug,
    namespace = EXCLUDED.namespace, engine = EXCLUDED.engine, plan = EXCLUDED.plan,
    created_at = EXCLUDED.created_at, status = EXCLUDED.status, url = EXCLUDED.url,
    error = EXCLUDED.error,
    updated_at = EXCLUDED.updated_at, ready_at = EXCLUDED.ready_at,
    deleted_at = EXCLUDED.deleted_at, last_event_seq = EXCLUDED.last_event_seq,
    attempt = EXCLUDED.attempt, restore_id = EXCLUDED.restore_id,
    operation_id = EXCLUDED.operation_id, engine_version = EXCLUDED.engine_version
"""

# "Who created store X, and when did it become ready?": one query on the
# store_events_store index (store_id, type, occurred_at).
CREATED_AND_READY = """
SELECT
    (array_agg(actor ORDER BY occurred_at) FILTER (WHERE type = 'requested'))[1] AS created_by,
    min(occurred_at) FILTER (WHERE type = 'requested') AS created_at,
    min(occurred_at) FILTER (WHERE type = 'ready') AS ready_at
FROM store_events
WHERE store_id = $1 AND type IN ('requested', 'ready')
"""

TIMELINE = """
SELECT stream_seq, type, actor, occurred_at FROM store_events
WHERE store_id = $1 ORDER BY stream_seq
"""


@dataclass(frozen=True)
class BatchResult:
    """What one committed batch did."""

    stored: int
    duplicates: int
    rows_written: int
    unprojected: dict[str, str]


class SlugConflict(Exception):
    """Two live stores in one batch's projection share a slug; retry the batch carefully."""


async def store_batch(
    conn: asyncpg.Connection, events: Sequence[AuditEvent], *, careful: bool = False
) -> BatchResult:
    """Append `events` and advance the projection, all in one transaction.

    With `careful`, each row is written in its own savepoint and a row that breaks the
    live-slug unique index is left out (and named in `unprojected`) instead of failing
    the batch; the consumer retries a batch carefully after `SlugConflict`.
    """
    unique = _first_of_each_id(events)
    async with conn.transaction():
        inserted = await _insert_events(conn, unique)
        fresh = [e for e in unique if e.event_id in inserted]
        projected = await _project(conn, fresh)
        await backup_store.advance(conn, fresh)
        skipped = dict(projected.unprojected)
        if careful:
            skipped |= await _write_rows_one_by_one(conn, projected.rows)
        else:
            try:
                await _write_rows(conn, projected.rows)
            except asyncpg.UniqueViolationError as exc:
                raise SlugConflict(str(exc)) from exc
    written = len(projected.rows) - sum(1 for r in projected.rows if r.id in skipped)
    return BatchResult(len(fresh), len(events) - len(fresh), written, skipped)


def _first_of_each_id(events: Sequence[AuditEvent]) -> list[AuditEvent]:
    """One event per id (the earliest in the stream): a re-publish outside the stream's
    duplicate window is the same event."""
    seen: dict[str, AuditEvent] = {}
    for event in sorted(events, key=lambda e: e.stream_seq):
        seen.setdefault(event.event_id, event)
    return list(seen.values())


async def _insert_events(conn: asyncpg.Connection, events: Sequence[AuditEvent]) -> set[str]:
    if not events:
        return set()
    ordered = sorted(events, key=lambda e: e.event_id)
    columns = [
        [e.event_id for e in ordered],
        [e.store_id for e in ordered],
        [e.type for e in ordered],
        [e.subject for e in ordered],
        [e.actor for e in ordered],
        [e.occurred_at for e in ordered],
        [e.body for e in ordered],
        [e.stream_seq for e in ordered],
    ]
    return {r["event_id"] for r in await conn.fetch(INSERT_EVENTS, *columns)}


async def _project(conn: asyncpg.Connection, fresh: Sequence[AuditEvent]) -> Projected:
    store_ids = sorted({e.store_id for e in fresh if e.projectable})
    if not store_ids:
        return Projected([], {})
    await conn.fetchval(LOCK_STORES, store_ids, STORE_LOCK_SEED)
    current = {r["id"]: StoreRow(**dict(r)) for r in await conn.fetch(READ_ROWS, store_ids)}
    history = await _read_history(conn, needs_history(current, fresh), fresh)
    return project(current, history, fresh)


async def _read_history(
    conn: asyncpg.Connection, store_ids: set[str], fresh: Sequence[AuditEvent]
) -> dict[str, list[AuditEvent]]:
    history: dict[str, list[AuditEvent]] = {store_id: [] for store_id in store_ids}
    if not store_ids:
        return history
    rows = await conn.fetch(READ_HISTORY, sorted(store_ids), [e.event_id for e in fresh])
    for row in rows:
        event = AuditEvent.from_envelope(parse_event(row["body"]), row["stream_seq"], row["body"])
        history[event.store_id].append(event)
    return history


def _row_columns(rows: Sequence[StoreRow]) -> list[list[Any]]:
    return [
        [r.id for r in rows],
        [r.owner_id for r in rows],
        [r.name for r in rows],
        [r.slug for r in rows],
        [r.namespace for r in rows],
        [r.engine for r in rows],
        [r.plan for r in rows],
        [r.status for r in rows],
        [r.url for r in rows],
        [r.error for r in rows],
        [r.created_at for r in rows],
        [r.updated_at for r in rows],
        [r.ready_at for r in rows],
        [r.deleted_at for r in rows],
        [r.last_event_seq for r in rows],
        [r.attempt for r in rows],
        [r.restore_id for r in rows],
        [r.operation_id for r in rows],
        [r.engine_version for r in rows],
    ]


async def _write_rows(conn: asyncpg.Connection, rows: Sequence[StoreRow]) -> None:
    if rows:
        await conn.execute(WRITE_ROWS, *_row_columns(rows))


async def _write_rows_one_by_one(
    conn: asyncpg.Connection, rows: Sequence[StoreRow]
) -> dict[str, str]:
    skipped: dict[str, str] = {}
    for row in rows:
        try:
            async with conn.transaction():
                await _write_rows(conn, [row])
        except asyncpg.UniqueViolationError as exc:
            skipped[row.id] = SLUG_TAKEN
            log.warning(
                "store not projected: its slug belongs to a live store",
                store_id=row.id,
                slug=row.slug,
                error=str(exc),
            )
    return skipped


@dataclass(frozen=True)
class CreatedAndReady:
    created_by: str | None
    created_at: datetime | None
    ready_at: datetime | None


async def created_and_ready(conn: asyncpg.Connection, store_id: str) -> CreatedAndReady:
    """Who created the store and when it first became ready, from the audit log."""
    row = await conn.fetchrow(CREATED_AND_READY, store_id)
    return CreatedAndReady(row["created_by"], row["created_at"], row["ready_at"])


async def timeline(conn: asyncpg.Connection, store_id: str) -> list[asyncpg.Record]:
    """Every event of one store, in stream order."""
    return list(await conn.fetch(TIMELINE, store_id))


async def is_empty(conn: asyncpg.Connection) -> bool:
    return not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM store_events) OR EXISTS (SELECT 1 FROM store_states)"
    )


async def reset_for_replay(conn: asyncpg.Connection) -> int:
    """Empty the audit log and mark every `store_states` row to be refolded by the replay.

    Rows stay (other tables, such as the gateway's, reference them); the first replayed
    event of each store refolds its row from the log. Returns the rows marked.
    """
    async with conn.transaction():
        await conn.execute("TRUNCATE store_events")
        status = await conn.execute("UPDATE store_states SET last_event_seq = -1")
    return int(status.split()[-1])


async def finish_replay(conn: asyncpg.Connection) -> int:
    """Unmark rows the replay never reached (their events have left the stream); they
    keep their columns. Returns how many."""
    status = await conn.execute(
        "UPDATE store_states SET last_event_seq = 0 WHERE last_event_seq < 0"
    )
    return int(status.split()[-1])
