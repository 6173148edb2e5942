"""The auditor folds `backup.*` events into the `backups` table (real Postgres, through
`store_batch`): the status only moves up, the earlier of verified and failed wins, each
column comes from its own event, and redelivery or arrival order change nothing."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.auditor.projection import AuditEvent
from services.auditor.store import store_batch
from shared.events import new_event
from tests.auditor.lifecycle import lifecycle, store_id

SHA = "5d" * 32


def backup_events(sid: str, bid: str, *, verified: bool = True) -> list[AuditEvent]:
    t0 = datetime(2026, 12, 6, 12, tzinfo=UTC)
    steps: list[tuple[str, dict[str, Any]]] = [
        ("backup.requested", {"reason": "on_demand", "requested_by": "owner-1"}),
        ("backup.started", {"worker": "provisioner-0", "attempt": 2}),
        (
            "backup.completed",
            {
                "engine": "medusa",
                "engine_version": "2.8.8",
                "plan": "small",
                "size": 42,
                "objects": {
                    "database": {"size": 40, "sha256": SHA},
                    "files": {"size": 2, "sha256": SHA},
                },
                "manifest": f"sf/stores/{sid}/backups/{bid}/manifest.json",
                "seconds": 3.5,
            },
        ),
        (
            "backup.verified",
            {
                "ok": verified,
                "orders": 7 if verified else None,
                "reason": "" if verified else "pg_restore: bad",
                "seconds": 9.0,
            },
        ),
    ]
    events = []
    for i, (kind, data) in enumerate(steps):
        env = new_event(
            kind,
            sid,
            {"backup_id": bid, **data},
            actor="provisioner",
            correlation_id="c",
            occurred_at=t0 + timedelta(seconds=i),
        )
        events.append(AuditEvent.from_envelope(env, 100 + i, env.model_dump_json()))
    return events


async def row_of(pool: asyncpg.Pool, bid: str) -> dict[str, Any]:
    row = await pool.fetchrow("SELECT * FROM backups WHERE id = $1", bid)
    assert row is not None
    return dict(row)


async def test_a_backups_events_fill_its_row_whatever_order_they_arrive_in(
    pool: asyncpg.Pool,
) -> None:
    sid, bid = store_id(), str(uuid.uuid4())
    events = backup_events(sid, bid)
    shuffled = random.Random(7).sample(events, len(events))
    async with pool.acquire() as conn:
        for event in shuffled:
            await store_batch(conn, [event])
        await store_batch(conn, events)  # redelivered: nothing changes

    row = await row_of(pool, bid)
    assert (row["status"], row["reason"], row["requested_by"], row["attempt"]) == (
        "verified",
        "on_demand",
        "owner-1",
        2,
    )
    assert (row["size_bytes"], row["orders"], row["engine"], row["error"]) == (
        42,
        7,
        "medusa",
        None,
    )
    assert json.loads(row["objects"])["database"] == {"size": 40, "sha256": SHA}
    assert row["requested_at"] == events[0].occurred_at
    assert row["completed_at"] == events[2].occurred_at
    assert str(row["store_id"]) == sid


async def test_a_failed_verification_marks_the_backup_failed_and_a_late_start_does_not_revive_it(
    pool: asyncpg.Pool,
) -> None:
    sid, bid = store_id(), str(uuid.uuid4())
    events = backup_events(sid, bid, verified=False)
    late = new_event(
        "backup.started",
        sid,
        {"backup_id": bid, "worker": "w", "attempt": 3},
        actor="p",
        correlation_id="c",
    )
    async with pool.acquire() as conn:
        await store_batch(conn, events)
        await store_batch(conn, [AuditEvent.from_envelope(late, 200, late.model_dump_json())])

    row = await row_of(pool, bid)
    assert row["status"] == "failed"
    assert row["error"] == "verification failed: pg_restore: bad"


async def test_of_verified_and_failed_the_earlier_in_the_stream_wins(pool: asyncpg.Pool) -> None:
    sid, bid = store_id(), str(uuid.uuid4())
    events = backup_events(sid, bid)
    failed = new_event(
        "backup.failed",
        sid,
        {"backup_id": bid, "code": "stuck", "reason": "no progress"},
        actor="reaper",
        correlation_id="c",
    )
    async with pool.acquire() as conn:
        # The failure was published later (higher sequence) but arrives first.
        await store_batch(conn, [AuditEvent.from_envelope(failed, 300, failed.model_dump_json())])
        await store_batch(conn, events)

    row = await row_of(pool, bid)
    assert (row["status"], row["error"]) == ("verified", None)


async def test_backup_events_leave_the_store_as_it_is_and_a_deletion_comes_last(
    pool: asyncpg.Pool,
) -> None:
    sid, bid = store_id(), str(uuid.uuid4())
    created = [
        AuditEvent.from_envelope(e, i + 1, e.model_dump_json())
        for i, e in enumerate(lifecycle(sid, delete=False))
    ]
    deleted = new_event(
        "backup.deleted",
        sid,
        {"backup_id": bid, "reason": "retention"},
        actor="reaper",
        correlation_id="c",
    )
    async with pool.acquire() as conn:
        await store_batch(conn, created)
        await store_batch(
            conn,
            [
                *backup_events(sid, bid),
                AuditEvent.from_envelope(deleted, 500, deleted.model_dump_json()),
            ],
        )

    assert await pool.fetchval("SELECT status FROM store_states WHERE id = $1", sid) == "ready"
    row = await row_of(pool, bid)
    assert row["status"] == "deleted"
    assert row["deleted_at"] is not None
