"""Postgres side of the audit routes: a store's timeline and the whole log answer from
one query over the auditor's `store_events` and the gateway's own `credential_access`
(who viewed a store's credentials, and whether they got them).

Called by `routes_audit` (reads) and `credentials` (records each access). The auditor
owns `store_events`; the gateway only reads it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.gateway.sql import Params

CREDENTIALS_TYPE = "credentials_viewed"


@dataclass(frozen=True)
class AuditQuery:
    store_id: uuid.UUID | None = None
    actor: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: tuple[datetime, str] | None = None
    limit: int = 50
    newest_first: bool = True


def _events_branch(q: AuditQuery, p: Params) -> str:
    where = ["true"]
    if q.store_id is not None:
        where.append(f"e.store_id = {p(str(q.store_id))}")
    if q.actor is not None:
        where.append(f"e.actor = {p(q.actor)}")
    if q.type is not None:
        where.append(f"e.type = {p(q.type)}")
    where += _period("e.occurred_at", q, p)
    return (
        "SELECT 'event' AS kind, e.event_id AS entry_id, e.type, e.store_id, e.actor,"
        " e.occurred_at, e.stream_seq, e.envelope -> 'data' AS data"
        f" FROM store_events e WHERE {' AND '.join(where)}"
    )


def _access_branch(q: AuditQuery, p: Params) -> str:
    where = ["true"]
    if q.store_id is not None:
        where.append(f"c.store_id = {p(q.store_id)}")
    if q.actor is not None:
        where.append(f"c.user_id::text = {p(q.actor)}")
    where += _period("c.accessed_at", q, p)
    return (
        "SELECT 'credentials_access' AS kind, 'credentials-' || c.id AS entry_id,"
        f" '{CREDENTIALS_TYPE}' AS type, c.store_id::text AS store_id, c.user_id::text AS actor,"
        " c.accessed_at AS occurred_at, NULL::bigint AS stream_seq,"
        " jsonb_build_object('outcome', c.outcome, 'correlation_id', c.correlation_id) AS data"
        f" FROM credential_access c WHERE {' AND '.join(where)}"
    )


def _period(column: str, q: AuditQuery, p: Params) -> list[str]:
    where = []
    if q.since is not None:
        where.append(f"{column} >= {p(q.since)}")
    if q.until is not None:
        where.append(f"{column} < {p(q.until)}")
    return where


def audit_sql(q: AuditQuery) -> tuple[str, list[object]]:
    """The union of both sources with the filters pushed into each branch (pure)."""
    p = Params()
    branches = []
    if q.type != CREDENTIALS_TYPE:
        branches.append(_events_branch(q, p))
    if q.type in (None, CREDENTIALS_TYPE):
        branches.append(_access_branch(q, p))
    order = "DESC" if q.newest_first else "ASC"
    where = "true"
    if q.after is not None:
        op = "<" if q.newest_first else ">"
        where = f"(a.occurred_at, a.entry_id) {op} ({p(q.after[0])}, {p(q.after[1])})"
    sql = (
        f"SELECT * FROM ({' UNION ALL '.join(branches)}) a WHERE {where}"
        f" ORDER BY a.occurred_at {order}, a.entry_id {order} LIMIT {p(q.limit)}"
    )
    return sql, p.values


async def audit_entries(pool: asyncpg.Pool, q: AuditQuery) -> list[asyncpg.Record]:
    sql, values = audit_sql(q)
    return list(await pool.fetch(sql, *values))


async def record_access(
    pool: asyncpg.Pool, store_id: uuid.UUID, user_id: str, outcome: str, correlation_id: str
) -> None:
    await pool.execute(
        "INSERT INTO credential_access (store_id, user_id, outcome, correlation_id)"
        " VALUES ($1, $2, $3, $4)",
        store_id,
        uuid.UUID(user_id),
        outcome,
        correlation_id,
    )
