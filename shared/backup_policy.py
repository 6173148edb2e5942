"""Backup schedules and retention: when a store's next scheduled backup is due, which of
its backups are kept and which deleted, and whether its backups are stale. The policy
itself is a plan's `backup` (`shared.plans.BackupPolicy`).

Called by the backup scheduler (the reaper's leader) on each pass: `next_due` per store,
publishing `store.backup.requested` for those due; `to_delete` per store, or
`to_delete_after_store_deleted` for a deleted one, deleting what it names. The dashboard
and the stale-backup alert ask `stale`. Emits nothing.

The rules:

- Schedule: a store backs up every `interval_hours` at its own minute, an offset within
  the interval derived from its id (`spread_offset`), so a fleet's backups spread over the
  day instead of all starting at 00:00, and a store keeps its time from day to day.
  However many of its times passed while the scheduler was down, one backup is due, and
  the next after it is at the store's own time again.
- Retention (grandfather-father-son) counts only verified backups: the `keep_last`
  newest; the newest of each of the last `keep_daily` UTC days, of the last `keep_weekly`
  ISO weeks and of the last `keep_monthly` months (the current day, week and month
  included: the windows are calendar periods, not counts of periods that happen to have a
  backup). Every kind counts: an owner's on-demand backup, or a pre-restore one, that is
  the newest of its day is that day's backup, and the scheduled one from earlier that day
  goes once nothing else holds it.
- The newest verified backup is always kept, even when every backup is older than every
  window (a store whose backups have been failing for a month still has one).
- On-demand, pre-restore and pre-upgrade backups that were written (completed or
  verified) are held for `hold_days` from their start, whatever the windows say: an owner's
  backup from an hour ago, or the backup that undoes a restore, never vanishes because a
  newer one took its day.
- Backups that are not verified (running, completed but not yet read back, failed) are
  kept for a day from their start, then deleted; they never fill a slot.
- A deleted store's backups stay as the rules left them at its deletion (windows and holds
  frozen at `deleted_at`) for `deleted_grace_days`, then all go.

Pure: no I/O imports. Every time must be timezone-aware (a naive one is refused) and is
taken in UTC: days, ISO weeks and months are UTC calendar periods, with no daylight
saving time anywhere.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from shared.plans import BackupPolicy

# Slots count from here, so a store's times depend only on its id and its interval.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# How long a backup that is not verified (still running, unchecked, failed) is kept.
UNFINISHED_GRACE = timedelta(days=1)


class NaiveTimeError(ValueError):
    """A datetime without a timezone: which instant it means is a guess, so it is refused."""


class BackupKind(StrEnum):
    SCHEDULED = "scheduled"
    ON_DEMAND = "on_demand"
    PRE_RESTORE = "pre_restore"
    PRE_UPGRADE = "pre_upgrade"


class BackupStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"  # written with its manifest, not yet read back
    VERIFIED = "verified"  # sizes and digests read back and matching
    FAILED = "failed"


# Kinds someone asked for at a moment of their choosing: held for the policy's hold_days.
HELD_KINDS = frozenset({BackupKind.ON_DEMAND, BackupKind.PRE_RESTORE, BackupKind.PRE_UPGRADE})
# A backup with its manifest holds data worth holding.
WRITTEN = frozenset({BackupStatus.COMPLETED, BackupStatus.VERIFIED})


@dataclass(frozen=True)
class Backup:
    """One of a store's backups, as retention sees it."""

    id: str
    kind: BackupKind
    status: BackupStatus
    started_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "started_at", utc(self.started_at, f"backup {self.id} started_at"))


def utc(moment: datetime, what: str) -> datetime:
    """`moment` in UTC; a naive datetime raises `NaiveTimeError` naming `what`."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveTimeError(f"{what} must be timezone-aware (UTC), got naive {moment}")
    return moment.astimezone(UTC)


def spread_offset(store_id: str, policy: BackupPolicy) -> timedelta:
    """Where in each interval the store backs up: a whole minute from the store id's
    SHA-256, the same on every replica and release. With the daily interval, the store's
    UTC time of day."""
    digest = hashlib.sha256(uuid.UUID(store_id).bytes).digest()
    return timedelta(minutes=int.from_bytes(digest[:8], "big") % (policy.interval_hours * 60))


def next_due(
    store_id: str, policy: BackupPolicy, last_started_at: datetime | None, now: datetime
) -> datetime:
    """When the store's next scheduled backup is due: its first time after
    `last_started_at`, or `now` when that time has passed (however many have: one backup,
    not one per missed time) or the store has never been backed up.

    `last_started_at` is the start of the store's last scheduled backup, whatever its
    outcome (a failed one is retried at the next time; `stale` reports it). To give a new
    store its first backup at its own time rather than at once, pass when it became ready.
    """
    now = utc(now, "now")
    if last_started_at is None:
        return now
    last = utc(last_started_at, "last_started_at")
    interval = timedelta(hours=policy.interval_hours)
    first = EPOCH + spread_offset(store_id, policy)
    following = first + ((last - first) // interval + 1) * interval
    return max(following, now)


def stale(last_verified_at: datetime | None, policy: BackupPolicy, now: datetime) -> bool:
    """Whether the store's newest verified backup is older than its schedule allows: one
    interval plus the policy's tolerance (time for the backup to run and be verified).

    `last_verified_at` is when that backup started (the age of its data); None, a store
    with no verified backup, is stale. To give a new store one interval of grace, pass
    when it became ready.
    """
    if last_verified_at is None:
        return True
    allowed = timedelta(hours=policy.interval_hours + policy.stale_tolerance_hours)
    return utc(now, "now") - utc(last_verified_at, "last_verified_at") > allowed


def to_keep(backups: Iterable[Backup], policy: BackupPolicy, now: datetime) -> set[str]:
    """The ids of the backups the policy keeps at `now` (see the module's rules)."""
    now = utc(now, "now")
    return _kept(list(backups), policy, as_of=now, now=now)


def to_delete(backups: Iterable[Backup], policy: BackupPolicy, now: datetime) -> set[str]:
    """The ids of the backups the policy lets go at `now`: all that `to_keep` does not keep."""
    backups = list(backups)
    return {b.id for b in backups} - to_keep(backups, policy, now)


def to_delete_after_store_deleted(
    backups: Iterable[Backup], deleted_at: datetime, policy: BackupPolicy, now: datetime
) -> set[str]:
    """The ids to delete of a deleted store's backups: during its grace period, those
    retention would not have kept at its deletion (and unfinished ones after their day);
    after it, all of them."""
    backups = list(backups)
    deleted_at, now = utc(deleted_at, "deleted_at"), utc(now, "now")
    everything = {b.id for b in backups}
    if now - deleted_at >= timedelta(days=policy.deleted_grace_days):
        return everything
    return everything - _kept(backups, policy, as_of=deleted_at, now=now)


def _kept(backups: list[Backup], policy: BackupPolicy, as_of: datetime, now: datetime) -> set[str]:
    """Slots and holds as of `as_of`; the day an unfinished backup is given, as of `now`."""
    verified = sorted(
        (b for b in backups if b.status is BackupStatus.VERIFIED),
        key=lambda b: (b.started_at, b.id),
        reverse=True,
    )
    keep = {b.id for b in verified[: max(policy.keep_last, 1)]}  # the newest, always
    keep |= _newest_per_period(verified, _day, policy.keep_daily, as_of)
    keep |= _newest_per_period(verified, _week, policy.keep_weekly, as_of)
    keep |= _newest_per_period(verified, _month, policy.keep_monthly, as_of)
    hold = timedelta(days=policy.hold_days)
    for b in backups:
        held = b.kind in HELD_KINDS and b.status in WRITTEN and as_of - b.started_at < hold
        young = b.status is not BackupStatus.VERIFIED and now - b.started_at < UNFINISHED_GRACE
        if held or young:
            keep.add(b.id)
    return keep


def _newest_per_period(
    newest_first: list[Backup], period: Callable[[datetime], int], count: int, as_of: datetime
) -> set[str]:
    """The newest backup of each of the `count` periods up to and including `as_of`'s.
    A backup from after `as_of` (a clock ahead) counts toward its own period."""
    if count == 0:
        return set()
    oldest = period(as_of) - count + 1
    chosen: dict[int, str] = {}
    for b in newest_first:
        index = period(b.started_at)
        if index >= oldest:
            chosen.setdefault(index, b.id)
    return set(chosen.values())


def _day(moment: datetime) -> int:
    return moment.date().toordinal()


def _week(moment: datetime) -> int:
    # Day 1 of the proleptic calendar (0001-01-01) is a Monday, so this counts ISO weeks.
    return (moment.date().toordinal() - 1) // 7


def _month(moment: datetime) -> int:
    return moment.year * 12 + moment.month - 1
