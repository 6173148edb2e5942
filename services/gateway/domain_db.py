"""Postgres side of the domain routes: adding a custom domain writes the gateway's
`domain_requests` row (with a fresh challenge token) and its `outbox` row
(`store.domain.added`) in one transaction; removing one sets `removed_at` and enqueues
`store.domain.removed`. Both take the lock on the store's request row that every store
command takes (`store_db.commanded_store`), so two adds to one store are decided one after
the other and cannot pass the plan's `max_domains` together.

Whether DNS proves the domain is the reaper's verifier's to say (`domain_states`,
migration 0014); it alone decides "verified", behind a unique index, so two stores racing
for one domain cannot both have it. Here a domain another store already holds is refused
early, as a courtesy; the index is what holds. Lists read the `store_domains` view.
The certificate queue (`domain_queue`, admins) reads the verifier's `domain_states` with
its store's name from `store_states`, the order the reaper's issuer takes it in.

Choosing the store's primary domain (`choose_primary`) is an operation like a plan
change: behind the same row lock, only for a ready store with no other change under way
(`operations_db.idle_store`), it writes the gateway's `store_primary_domains` row, a
`store_operations` row (kind `primary`) and `store.domain.primary` through the outbox. Only
an active domain of the store may be chosen; `None` goes back to the platform host.

A store the caller may not see is answered like one that does not exist.
"""

from __future__ import annotations

import uuid

import asyncpg

from services.gateway.accounts import Caller
from services.gateway.errors import ApiError, not_found
from services.gateway.operations_db import idle_store
from services.gateway.store_db import commanded_store, enqueue, visible_store
from shared.domains import CLAIMING, ENDED, DomainState, challenge_name, new_token
from shared.events import DomainAdded, DomainPrimary, DomainRemoved, Envelope, new_event
from shared.lifecycle import DELETION, Status

_SELECT = (
    "SELECT id, store_id, domain, token, state, reason, requested_at, checked_at, verified_at,"
    " issuing_at, not_after FROM store_domains"
)
_QUEUED = (
    "SELECT s.id, s.store_id, st.name AS store_name, s.domain, s.state, s.verified_at,"
    " s.issuing_at FROM domain_states s LEFT JOIN store_states st ON st.id = s.store_id"
)
_CLAIMING = sorted(CLAIMING)
_ENDED = sorted(ENDED)


async def add_domain(
    pool: asyncpg.Pool,
    caller: Caller,
    store_id: uuid.UUID,
    domain: str,
    max_domains: dict[str, int],
    correlation_id: str,
) -> asyncpg.Record:
    """The new pending domain; 409 when the store is going, the domain is taken or already
    added, or the plan allows no more."""
    async with pool.acquire() as conn, conn.transaction():
        store = await commanded_store(conn, caller, store_id)
        if store["status"] in DELETION:
            raise ApiError(409, "store_deleting", "the store is being deleted")
        await _refuse_taken(conn, store_id, domain)
        await _close_ended(conn, store_id, domain)
        allowed = max_domains.get(store["plan"], 0)
        if await _open_count(conn, store_id) >= allowed:
            raise ApiError(
                409, "domain_limit", f"the store's plan allows {allowed} custom domains", "domain"
            )
        domain_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO domain_requests (id, store_id, domain, token, requested_by)"
            " VALUES ($1, $2, $3, $4, $5)",
            domain_id,
            store_id,
            domain,
            new_token(),
            uuid.UUID(caller.id),
        )
        data = DomainAdded(
            domain_id=str(domain_id),
            domain=domain,
            challenge=challenge_name(domain),
            requested_by=caller.id,
        )
        await enqueue(conn, _event("domain.added", store_id, data, caller, correlation_id))
        row: asyncpg.Record = await conn.fetchrow(f"{_SELECT} WHERE id = $1", domain_id)
        return row


async def _refuse_taken(conn: asyncpg.Connection, store_id: uuid.UUID, domain: str) -> None:
    holder = await conn.fetchval(
        "SELECT store_id FROM store_domains WHERE domain = $1 AND state = ANY($2::text[]) LIMIT 1",
        domain,
        _CLAIMING,
    )
    if holder is not None and holder != store_id:
        raise ApiError(409, "domain_taken", "another store holds this domain", "domain")
    open_here = await conn.fetchval(
        "SELECT 1 FROM store_domains WHERE store_id = $1 AND domain = $2"
        " AND removed_at IS NULL AND NOT state = ANY($3::text[])",
        store_id,
        domain,
        _ENDED,
    )
    if open_here:
        raise ApiError(409, "domain_exists", "the store already has this domain", "domain")


async def _close_ended(conn: asyncpg.Connection, store_id: uuid.UUID, domain: str) -> None:
    """A failed or unlinked request of the same domain is closed, so it can start again."""
    await conn.execute(
        "UPDATE domain_requests SET removed_at = now() WHERE store_id = $1 AND domain = $2"
        " AND removed_at IS NULL",
        store_id,
        domain,
    )


async def _open_count(conn: asyncpg.Connection, store_id: uuid.UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM store_domains WHERE store_id = $1 AND removed_at IS NULL"
        " AND NOT state = ANY($2::text[])",
        store_id,
        _ENDED,
    )
    return count


async def list_domains(
    pool: asyncpg.Pool, caller: Caller, store_id: uuid.UUID
) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
    """The store and its domains not removed by their owner, oldest first."""
    store = await visible_store(pool, caller, store_id)
    rows = await pool.fetch(
        f"{_SELECT} WHERE store_id = $1 AND removed_at IS NULL ORDER BY requested_at, id",
        store_id,
    )
    return store, list(rows)


async def remove_domain(
    pool: asyncpg.Pool, caller: Caller, store_id: uuid.UUID, domain: str, correlation_id: str
) -> None:
    """Close the store's request for `domain`; 404 when it has none open."""
    async with pool.acquire() as conn, conn.transaction():
        await commanded_store(conn, caller, store_id)
        domain_id = await conn.fetchval(
            "UPDATE domain_requests SET removed_at = now() WHERE store_id = $1 AND domain = $2"
            " AND removed_at IS NULL RETURNING id",
            store_id,
            domain,
        )
        if domain_id is None:
            raise not_found("domain")
        data = DomainRemoved(
            domain_id=str(domain_id), domain=domain, reason="owner", requested_by=caller.id
        )
        await enqueue(conn, _event("domain.removed", store_id, data, caller, correlation_id))


async def domain_queue(
    pool: asyncpg.Pool, limit: int
) -> tuple[list[asyncpg.Record], list[asyncpg.Record], asyncpg.Record]:
    """Up to `limit` rows: the verified in queue order, then the issuing by when they
    started; and how many of each there are. One snapshot, so positions and counts agree."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        queued = await conn.fetch(
            f"{_QUEUED} WHERE s.state = 'verified' ORDER BY s.verified_at, s.id LIMIT $1", limit
        )
        issuing = await conn.fetch(
            f"{_QUEUED} WHERE s.state = 'issuing' ORDER BY s.issuing_at, s.id LIMIT $1",
            limit - len(queued),
        )
        counts: asyncpg.Record = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE state = 'verified') AS queued,"
            " count(*) FILTER (WHERE state = 'issuing') AS issuing FROM domain_states"
        )
        return list(queued), list(issuing), counts


async def choose_primary(
    pool: asyncpg.Pool,
    caller: Caller,
    store_id: uuid.UUID,
    domain_id: uuid.UUID | None,
    correlation_id: str,
) -> tuple[uuid.UUID, asyncpg.Record | None]:
    """The change's operation id and the domain chosen (None: the platform host), once
    its records and `domain.primary` are committed."""
    async with pool.acquire() as conn, conn.transaction():
        store = await idle_store(conn, caller, store_id)
        if store["status"] != Status.READY:
            raise ApiError(
                409,
                "store_not_ready",
                f"a {store['status']} store cannot change its address; only a ready one",
            )
        # Asking for the primary the store has is no refusal: it applies it again (after
        # a `url.failed`, say).
        domain = None if domain_id is None else await _active_domain(conn, store_id, domain_id)
        operation_id = uuid.uuid4()
        await _record_choice(conn, caller, store_id, domain_id, operation_id)
        data = DomainPrimary(
            operation_id=str(operation_id),
            domain_id=str(domain_id) if domain_id else None,
            domain=domain["domain"] if domain else None,
            tls=domain is None or domain["not_after"] is not None,
            reason="owner",
            requested_by=caller.id,
        )
        await enqueue(conn, _event("domain.primary", store_id, data, caller, correlation_id))
        return operation_id, domain


async def _active_domain(
    conn: asyncpg.Connection, store_id: uuid.UUID, domain_id: uuid.UUID
) -> asyncpg.Record:
    """The store's open domain `domain_id`: 404 when it has none such, 409 unless active."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"{_SELECT} WHERE id = $1 AND store_id = $2 AND removed_at IS NULL", domain_id, store_id
    )
    if row is None:
        raise not_found("domain")
    if row["state"] != DomainState.ACTIVE:
        raise ApiError(
            409,
            "domain_not_active",
            f"only an active domain can be the store's primary; {row['domain']} is {row['state']}",
            "domain_id",
        )
    return row


async def _record_choice(
    conn: asyncpg.Connection,
    caller: Caller,
    store_id: uuid.UUID,
    domain_id: uuid.UUID | None,
    operation_id: uuid.UUID,
) -> None:
    requested_by = uuid.UUID(caller.id)
    await conn.execute(
        "INSERT INTO store_operations (id, store_id, kind, requested_by)"
        " VALUES ($1, $2, 'primary', $3)",
        operation_id, store_id, requested_by,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO store_primary_domains (store_id, domain_id, operation_id, requested_by)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (store_id) DO UPDATE SET"
        " domain_id = $2, operation_id = $3, requested_by = $4, requested_at = now()",
        store_id, domain_id, operation_id, requested_by,
    )  # fmt: skip


def _event(
    event_type: str,
    store_id: uuid.UUID,
    data: DomainAdded | DomainRemoved | DomainPrimary,
    caller: Caller,
    correlation_id: str,
) -> Envelope:
    return new_event(
        event_type, str(store_id), data, actor=caller.id, correlation_id=correlation_id
    )
