"""What one backup pass should do, decided from a snapshot of the stores and their backups.

Pure: imports no I/O library. The backup keeper (`services.reaper.backups`) reads the
snapshot (the `store_states` and `backups` rows, the plan catalog) and carries out the
plan; `shared.backup_policy` holds the schedule and retention rules this applies:

- schedule: a `ready` store whose next scheduled backup is due, and that has no backup
  requested or running, gets one (a suspended store never does: its workloads are at zero
  replicas, nothing of it can be backed up). Its id is derived from the store id and the
  slot (the store's scheduled time the backup is for), so two leaders, or a pass repeated
  after a crash, request the same backup with the same event; at most
  `requests_per_pass` are requested per pass, the longest overdue first, so a fleet does
  not start them all at once.
- retention: the backups the policy lets go (`to_delete`, or for a deleted store
  `to_delete_after_store_deleted`) are removed; never one still requested or running.
- stuck work: a backup requested or running without an event for longer than its
  deadline is failed; a store restoring longer than its deadline has its restore failed.
- freshness: per store that has been ready, the age of its newest verified backup and
  the age its schedule allows (the stale-backup alert compares the two); none for a
  deleted store, nor for one suspended, suspending or resuming, which owes no backup.
- orphans: objects in the bucket under a backup the database does not know (or knows as
  deleted), with no manifest, untouched for a day, are removed; unfinished uploads too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from services.reaper.sweep_plan import minutes
from shared.backup_policy import (
    EPOCH,
    Backup,
    BackupKind,
    BackupStatus,
    next_due,
    spread_offset,
    to_delete,
    to_delete_after_store_deleted,
)
from shared.lifecycle import SUSPENSION, Status
from shared.plans import BackupPolicy, Plan

# The namespace of scheduled backups' ids: uuid5(this, "<store id>/<slot>").
SCHEDULED_IDS = uuid.UUID("6c1f4a52-3b7e-5d0a-9e2f-7a4b1c8d9e03")
MANIFEST = "manifest.json"
# Objects of a backup nobody knows are left this long: a backup being written right now
# may not have its row yet.
ORPHAN_AGE = timedelta(days=1)
UNDER_WAY = frozenset({"requested", "running"})
_STATUS = {
    "requested": BackupStatus.RUNNING,
    "running": BackupStatus.RUNNING,
    "completed": BackupStatus.COMPLETED,
    "verified": BackupStatus.VERIFIED,
    "failed": BackupStatus.FAILED,
}

RemovalReason = Literal["retention", "store_deleted", "unfinished"]


@dataclass(frozen=True)
class StoreView:
    """One `store_states` row, as the backup pass sees it."""

    id: str
    plan: str
    status: str
    updated_at: datetime
    ready_at: datetime | None = None
    deleted_at: datetime | None = None
    restore_id: str | None = None
    # When its newest scheduled backup was requested, whatever became of it.
    last_scheduled_at: datetime | None = None


@dataclass(frozen=True)
class BackupRecord:
    """One `backups` row that is not deleted."""

    id: str
    store_id: str
    reason: str | None
    status: str
    requested_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    last_event_seq: int = 0

    def as_policy_backup(self) -> Backup:
        # A row folded before its `requested` event names no reason: held, to be safe.
        kind = BackupKind(self.reason) if self.reason else BackupKind.ON_DEMAND
        return Backup(self.id, kind, _STATUS[self.status], self.started_at or self.requested_at)


@dataclass(frozen=True)
class KeeperPolicy:
    requests_per_pass: int
    backup_deadline: timedelta
    restore_deadline: timedelta


@dataclass(frozen=True)
class BackupRequest:
    store_id: str
    backup_id: str
    slot: datetime  # the store's scheduled time this backup is for
    due: datetime


@dataclass(frozen=True)
class Removal:
    store_id: str
    backup_id: str
    reason: RemovalReason


@dataclass(frozen=True)
class StuckBackup:
    backup: BackupRecord
    why: str


@dataclass(frozen=True)
class StuckRestore:
    store: StoreView
    restore_id: str
    why: str


@dataclass(frozen=True)
class Freshness:
    store_id: str
    plan: str
    age: timedelta  # since the newest verified backup started, or ready if later
    max_age: timedelta  # what the schedule allows: interval plus tolerance


@dataclass(frozen=True)
class BackupPlan:
    requests: tuple[BackupRequest, ...] = ()
    deferred: int = 0  # due, but past this pass's cap
    removals: tuple[Removal, ...] = ()
    stuck_backups: tuple[StuckBackup, ...] = ()
    stuck_restores: tuple[StuckRestore, ...] = ()
    freshness: tuple[Freshness, ...] = ()
    unknown_plans: frozenset[str] = field(default_factory=frozenset)


def plan_backups(
    stores: Iterable[StoreView],
    backups: Iterable[BackupRecord],
    plans: Mapping[str, Plan],
    now: datetime,
    policy: KeeperPolicy,
) -> BackupPlan:
    by_store: dict[str, list[BackupRecord]] = {}
    for backup in backups:
        by_store.setdefault(backup.store_id, []).append(backup)
    due: list[BackupRequest] = []
    removals: list[Removal] = []
    restores: list[StuckRestore] = []
    freshness: list[Freshness] = []
    unknown: set[str] = set()
    for store in stores:
        own = by_store.get(store.id, [])
        plan = plans.get(store.plan)
        if plan is None:
            unknown.add(store.plan)  # scheduled with the defaults, never pruned
        backup_policy = plan.backup if plan else BackupPolicy()
        if (request := _due(store, own, backup_policy, now)) is not None:
            due.append(request)
        if plan is not None:
            removals += _removals(store, own, plan.backup, now)
        if (restore := _stuck_restore(store, now, policy)) is not None:
            restores.append(restore)
        if (fresh := _freshness(store, own, backup_policy, now)) is not None:
            freshness.append(fresh)
    due.sort(key=lambda r: (r.due, r.store_id))
    cap = policy.requests_per_pass
    stuck = [
        StuckBackup(b, _why_stuck(b, now, policy))
        for own in by_store.values()
        for b in own
        if b.status in UNDER_WAY and now - b.updated_at >= policy.backup_deadline
    ]
    return BackupPlan(
        tuple(due[:cap]),
        max(len(due) - cap, 0),
        tuple(removals),
        tuple(stuck),
        tuple(restores),
        tuple(freshness),
        frozenset(unknown),
    )


def slot_of(store_id: str, policy: BackupPolicy, now: datetime) -> datetime:
    """The store's latest scheduled time at or before `now`."""
    interval = timedelta(hours=policy.interval_hours)
    first = EPOCH + spread_offset(store_id, policy)
    return first + ((now - first) // interval) * interval


def scheduled_backup_id(store_id: str, slot: datetime) -> str:
    """The same id for the same store and slot, on every replica and after a restart."""
    return str(uuid.uuid5(SCHEDULED_IDS, f"{store_id}/{slot.astimezone(UTC).isoformat()}"))


def _due(
    store: StoreView, own: list[BackupRecord], policy: BackupPolicy, now: datetime
) -> BackupRequest | None:
    if store.status != Status.READY or any(b.status in UNDER_WAY for b in own):
        return None
    # A new store gets its first backup at its own time after it became ready.
    last = store.last_scheduled_at or store.ready_at
    # When it was wanted, however long ago (not clamped to now): the cap takes the
    # longest overdue first.
    due = next_due(store.id, policy, last, last or now)
    if due > now:
        return None
    slot = slot_of(store.id, policy, now)
    return BackupRequest(store.id, scheduled_backup_id(store.id, slot), slot, due)


def _removals(
    store: StoreView, own: list[BackupRecord], policy: BackupPolicy, now: datetime
) -> list[Removal]:
    backups = [b.as_policy_backup() for b in own]
    if store.status == Status.DELETED and store.deleted_at is not None:
        doomed = to_delete_after_store_deleted(backups, store.deleted_at, policy, now)
        past_grace = now - store.deleted_at >= timedelta(days=policy.deleted_grace_days)
    elif store.status == Status.DELETED:
        return []  # deleted, but when is unknown: the grace cannot be counted
    else:
        doomed, past_grace = to_delete(backups, policy, now), False
    removals = []
    for b in own:
        # One under way is failed first (stuck work), never pulled from under its worker.
        if b.id not in doomed or b.status in UNDER_WAY:
            continue
        reason: RemovalReason = "retention" if b.status == "verified" else "unfinished"
        removals.append(Removal(store.id, b.id, "store_deleted" if past_grace else reason))
    return removals


def _stuck_restore(store: StoreView, now: datetime, policy: KeeperPolicy) -> StuckRestore | None:
    since = now - store.updated_at
    if store.status != Status.RESTORING or since < policy.restore_deadline:
        return None
    if store.restore_id is None:
        return None  # nothing to name in the event; the restore's own worker must end it
    why = (
        f"the restore made no progress for {minutes(since)} "
        f"(deadline {minutes(policy.restore_deadline)}); the reaper gave up on it"
    )
    return StuckRestore(store, store.restore_id, why)


def _why_stuck(backup: BackupRecord, now: datetime, policy: KeeperPolicy) -> str:
    return (
        f"the backup was {backup.status} for {minutes(now - backup.updated_at)} without "
        f"progress (deadline {minutes(policy.backup_deadline)}); the reaper gave up on it"
    )


def _freshness(
    store: StoreView, own: list[BackupRecord], policy: BackupPolicy, now: datetime
) -> Freshness | None:
    if store.status == Status.DELETED or store.status in SUSPENSION:
        return None
    verified = [b.started_at or b.requested_at for b in own if b.status == "verified"]
    # From the later of the newest verified backup and the store's last becoming ready
    # (a resume after a suspension restarts the clock), as the gateway's `stale`.
    since = max([*verified, *([store.ready_at] if store.ready_at else [])], default=None)
    if since is None:
        return None  # never ready: nothing to back up yet
    allowed = timedelta(hours=policy.interval_hours + policy.stale_tolerance_hours)
    return Freshness(store.id, store.plan, now - since, allowed)


# -- Orphans ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredObject:
    """An object or an unfinished upload in the bucket, by its full key."""

    key: str
    last_modified: datetime


@dataclass(frozen=True)
class OrphanBackup:
    store_id: str
    backup_id: str
    why: str


@dataclass(frozen=True)
class OrphanScan:
    remove: tuple[OrphanBackup, ...] = ()
    # A backup with its manifest that the database does not know: a database restored
    # from an older copy, say. Reported, never removed: the data may be someone's only copy.
    unknown: tuple[OrphanBackup, ...] = ()


def backup_of_key(root: str, key: str) -> tuple[str, str, str] | None:
    """(store id, backup id, object name) of a key `<root>stores/<s>/backups/<b>/<name>`."""
    if not key.startswith(root):
        return None
    parts = key[len(root) :].split("/")
    if len(parts) != 5 or parts[0] != "stores" or parts[2] != "backups":
        return None
    return parts[1], parts[3], parts[4]


def plan_orphans(
    root: str,
    objects: Iterable[StoredObject],
    known: Mapping[str, str],
    now: datetime,
) -> OrphanScan:
    """Which backups in the bucket to remove: those whose id has no row, or a `deleted`
    one, with no manifest (unless deleted), and nothing newer than `ORPHAN_AGE`.
    `known` maps the backup ids that have a row to its status."""
    groups: dict[tuple[str, str], list[tuple[str, datetime]]] = {}
    for item in objects:
        parsed = backup_of_key(root, item.key)
        if parsed is not None:
            groups.setdefault(parsed[:2], []).append((parsed[2], item.last_modified))
    remove: list[OrphanBackup] = []
    unknown: list[OrphanBackup] = []
    for (store_id, backup_id), items in sorted(groups.items()):
        status = known.get(backup_id)
        if status is not None and status != "deleted":
            continue
        if now - max(at for _, at in items) < ORPHAN_AGE:
            continue
        has_manifest = any(name == MANIFEST for name, _ in items)
        if status is None and has_manifest:
            why = "a backup with its manifest that the database does not know"
            unknown.append(OrphanBackup(store_id, backup_id, why))
            continue
        why = "left over after its deletion" if status else "objects of a backup never recorded"
        remove.append(OrphanBackup(store_id, backup_id, why))
    return OrphanScan(tuple(remove), tuple(unknown))
