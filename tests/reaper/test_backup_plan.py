"""The backup pass's decisions, pure: which stores are due and under which id, the cap,
what is never removed, stuck work, and what a store on a plan the catalog lacks gets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.reaper.backup_plan import (
    BackupRecord,
    KeeperPolicy,
    StoreView,
    plan_backups,
    scheduled_backup_id,
    slot_of,
)
from shared.plans import DEFAULT_PLANS

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
POLICY = KeeperPolicy(10, timedelta(hours=2), timedelta(hours=2))
SMALL = DEFAULT_PLANS["small"].backup


def ready_store(ready_days_ago: float = 3, plan: str = "small", **fields: object) -> StoreView:
    at = NOW - timedelta(days=ready_days_ago)
    values: dict[str, object] = {"status": "ready", "updated_at": at, "ready_at": at}
    return StoreView(str(uuid.uuid4()), plan, **{**values, **fields})  # type: ignore[arg-type]


def record(
    store: StoreView, status: str, hours_ago: float, reason: str = "scheduled"
) -> BackupRecord:
    at = NOW - timedelta(hours=hours_ago)
    return BackupRecord(str(uuid.uuid4()), store.id, reason, status, at, at, at)


def test_a_due_store_gets_the_id_of_its_slot_whenever_in_the_slot_the_pass_runs() -> None:
    store = ready_store()
    slot = slot_of(store.id, SMALL, NOW)
    early = plan_backups([store], [], DEFAULT_PLANS, slot + timedelta(seconds=1), POLICY)
    late = plan_backups([store], [], DEFAULT_PLANS, slot + timedelta(hours=23), POLICY)

    assert [r.backup_id for r in early.requests] == [r.backup_id for r in late.requests]
    assert early.requests[0].backup_id == scheduled_backup_id(store.id, slot)
    assert scheduled_backup_id(store.id, slot + timedelta(days=1)) != early.requests[0].backup_id


def test_the_cap_takes_the_longest_overdue_first_and_counts_the_rest() -> None:
    stores = [ready_store(), ready_store(), ready_store()]
    recent = [
        StoreView(s.id, s.plan, s.status, s.updated_at, s.ready_at, last_scheduled_at=NOW - age)
        for s, age in zip(
            stores, (timedelta(days=1), timedelta(days=5), timedelta(days=3)), strict=True
        )
    ]
    plan = plan_backups(
        recent,
        [],
        DEFAULT_PLANS,
        NOW,
        KeeperPolicy(2, POLICY.backup_deadline, POLICY.restore_deadline),
    )

    assert [r.store_id for r in plan.requests] == [stores[1].id, stores[2].id]
    assert plan.deferred == 1


def test_a_backup_under_way_is_never_removed_nor_joined_by_another() -> None:
    store = ready_store(ready_days_ago=60)
    running = record(store, "running", hours_ago=30)
    plan = plan_backups([store], [running], DEFAULT_PLANS, NOW, POLICY)

    assert plan.requests == () and plan.removals == ()
    assert [s.backup.id for s in plan.stuck_backups] == [running.id]


def test_a_store_on_a_plan_the_catalog_lacks_is_backed_up_but_never_pruned() -> None:
    store = ready_store(ready_days_ago=90, plan="gone")
    old = [record(store, "verified", hours_ago=24 * d) for d in (80, 70, 60, 2)]
    plan = plan_backups([store], old, DEFAULT_PLANS, NOW, POLICY)

    assert plan.unknown_plans == {"gone"}
    assert plan.removals == ()
    assert [r.store_id for r in plan.requests] == [store.id]


def test_a_store_not_ready_is_never_scheduled_and_never_ready_has_no_age() -> None:
    failed = ready_store(status="failed")
    new = StoreView(str(uuid.uuid4()), "small", "provisioning", NOW)
    plan = plan_backups([failed, new], [], DEFAULT_PLANS, NOW, POLICY)

    assert plan.requests == ()
    assert [f.store_id for f in plan.freshness] == [failed.id]


def test_a_suspended_store_or_one_on_its_way_there_or_back_is_never_scheduled_nor_aged() -> None:
    # Ready long ago, last backed up past what its plan allows: due, and stale were it ready.
    ready = ready_store(ready_days_ago=10)
    old = [record(ready, "verified", hours_ago=24 * 5)]
    resting = [
        ready_store(ready_days_ago=10, status=s) for s in ("suspending", "suspended", "resuming")
    ]
    for store in resting:
        old.append(record(store, "verified", hours_ago=24 * 5))
    plan = plan_backups([ready, *resting], old, DEFAULT_PLANS, NOW, POLICY)

    assert [r.store_id for r in plan.requests] == [ready.id]
    assert [f.store_id for f in plan.freshness] == [ready.id]
    assert plan.freshness[0].age > plan.freshness[0].max_age
