"""Postgres side of suspend, resume and plan changes: each writes the gateway's record of
the operation (`store_operations`, migration 0012) and its `store.<kind>.requested` event
(via the outbox) in one transaction, with the store's request row locked, so two callers
cannot both start one.

An operation is under way until an event ending it (`<kind>.completed|failed`; a plan's
`plan.changed|failed`; a change of primary domain's `url.changed|failed`, see `domain_db`)
naming it is in the audit log; while one is, no other is accepted
(409). Only a ready store is suspended or moved to another plan, and only a suspended one
resumed (`shared.lifecycle`). An administrator may suspend anyone's store; the owner then
reads "suspended by an administrator" and the administrator's reason, never who they are.
"""

from __future__ import annotations

import uuid
from typing import Literal

import asyncpg

from services.gateway.accounts import Caller
from services.gateway.errors import ApiError
from services.gateway.rules import UNFOLDED_WINDOW
from services.gateway.store_db import commanded_store, enqueue
from shared.events import PlanRequested, ResumeRequested, SuspendRequested, new_event
from shared.lifecycle import Status, can_resume, can_suspend

Kind = Literal["suspend", "resume"]
ADMIN_SUSPEND_REASON = "suspended by an administrator"
_ENDS = [
    *(f"{k}.{end}" for k in ("suspend", "resume") for end in ("completed", "failed")),
    "plan.changed",
    "plan.failed",
    "url.changed",
    "url.failed",
]


async def request_operation(
    pool: asyncpg.Pool,
    caller: Caller,
    store_id: uuid.UUID,
    kind: Kind,
    reason: str,
    correlation_id: str,
) -> uuid.UUID:
    """The new operation's id, once its record and event are committed."""
    async with pool.acquire() as conn, conn.transaction():
        store = await commanded_store(conn, caller, store_id)
        status = store["status"]
        if await _under_way(conn, store_id) or status in (Status.SUSPENDING, Status.RESUMING):
            raise ApiError(
                409, "operation_in_progress", "a suspend or resume of this store is under way"
            )
        allowed = can_suspend(status) if kind == "suspend" else can_resume(status)
        if not allowed:
            wanted = "a ready" if kind == "suspend" else "a suspended"
            raise ApiError(
                409,
                f"store_not_{kind}able",
                f"a {status} store cannot be {kind}d; only {wanted} one",
            )
        if str(store["owner_id"]) != caller.id and kind == "suspend":
            reason = f"{ADMIN_SUSPEND_REASON}: {reason}" if reason else ADMIN_SUSPEND_REASON
        operation_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO store_operations (id, store_id, kind, requested_by, reason)"
            " VALUES ($1, $2, $3, $4, $5)",
            operation_id, store_id, kind, uuid.UUID(caller.id), reason,
        )  # fmt: skip
        data: SuspendRequested | ResumeRequested
        if kind == "suspend":
            data = SuspendRequested(
                operation_id=str(operation_id), requested_by=caller.id, reason=reason
            )
        else:
            data = ResumeRequested(operation_id=str(operation_id), requested_by=caller.id)
        event = new_event(
            f"{kind}.requested", str(store_id), data, actor=caller.id, correlation_id=correlation_id
        )
        await enqueue(conn, event)
        return operation_id


async def request_plan_change(
    pool: asyncpg.Pool, caller: Caller, store_id: uuid.UUID, plan: str, correlation_id: str
) -> tuple[uuid.UUID, str]:
    """The plan change's id and the plan the store was on, once its record and event are
    committed. Whether the store's usage fits the new plan is the provisioner's to say
    (it reads the quota's usage); a refusal comes back as `plan.failed`."""
    async with pool.acquire() as conn, conn.transaction():
        store = await idle_store(conn, caller, store_id)
        if store["status"] != Status.READY:
            raise ApiError(
                409,
                "store_not_ready",
                f"a {store['status']} store cannot change plans; only a ready one",
            )
        previous = str(store["plan"])
        if plan == previous:
            raise ApiError(409, "same_plan", f"the store is on the {plan} plan already", "plan")
        operation_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO store_operations (id, store_id, kind, requested_by, plan)"
            " VALUES ($1, $2, 'plan', $3, $4)",
            operation_id, store_id, uuid.UUID(caller.id), plan,
        )  # fmt: skip
        data = PlanRequested(operation_id=str(operation_id), plan=plan, previous_plan=previous,
                             requested_by=caller.id)  # fmt: skip
        event = new_event(
            "plan.requested", str(store_id), data, actor=caller.id, correlation_id=correlation_id
        )
        await enqueue(conn, event)
        return operation_id, previous


async def idle_store(
    conn: asyncpg.Connection, caller: Caller, store_id: uuid.UUID
) -> asyncpg.Record:
    """The visible store, locked, with no operation under way (409 otherwise)."""
    store = await commanded_store(conn, caller, store_id)
    if await _under_way(conn, store_id) or store["status"] in (Status.SUSPENDING, Status.RESUMING):
        raise ApiError(409, "operation_in_progress", "another change of this store is under way")
    return store


async def _under_way(conn: asyncpg.Connection, store_id: uuid.UUID) -> bool:
    """Whether an operation asked for lately has not ended yet."""
    under_way: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM store_operations o WHERE o.store_id = $1"
        " AND o.requested_at > now() - $2::interval"
        " AND NOT EXISTS (SELECT 1 FROM store_events e WHERE e.store_id = $4"
        " AND e.type = ANY($3::text[]) AND e.envelope -> 'data' ->> 'operation_id' = o.id::text))",
        store_id,
        UNFOLDED_WINDOW,
        _ENDS,
        str(store_id),
    )
    return under_way
