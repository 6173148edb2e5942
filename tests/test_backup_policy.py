"""`shared.backup_policy` and the plans' `backup` policies: when a store's backups are due,
which are kept, and when a store's backups are stale, as the backup scheduler and the
dashboard will see them. Expectations are written out as dates, not computed by the code
under test."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.gateway.settings import GatewaySettings
from shared.backup_policy import (
    Backup,
    BackupKind,
    BackupStatus,
    NaiveTimeError,
    next_due,
    spread_offset,
    stale,
    to_delete,
    to_delete_after_store_deleted,
    to_keep,
)
from shared.plans import DEFAULT_PLANS, BackupPolicy

SMALL = DEFAULT_PLANS["small"].backup
MEDIUM = DEFAULT_PLANS["medium"].backup
# Backs up at 06:17 UTC on the daily plans, 06:17 and 18:17 on the twice-daily one.
STORE = "03333333-3333-4333-b333-333333333333"
HOUR, MINUTE, DAY = timedelta(hours=1), timedelta(minutes=1), timedelta(days=1)
V = BackupStatus.VERIFIED


def at(text: str) -> datetime:
    """`"2025-04-14 07:00"` as a UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def backup(
    started: str | datetime,
    status: BackupStatus = BackupStatus.VERIFIED,
    kind: BackupKind = BackupKind.SCHEDULED,
) -> Backup:
    started_at = at(started) if isinstance(started, str) else started
    return Backup(f"{kind}@{started_at:%Y-%m-%d %H:%M}", kind, status, started_at)


def kept_times(backups: Iterable[Backup], ids: set[str]) -> set[str]:
    return {f"{b.started_at:%Y-%m-%d %H:%M}" for b in backups if b.id in ids}


@dataclass
class Scheduler:
    """What the scheduler will do on each tick: finish backups that ran their 20 minutes,
    start one when `next_due` says so, delete what `to_delete` names."""

    store: str
    policy: BackupPolicy
    failing: set[datetime] = field(default_factory=set)
    backups: dict[str, Backup] = field(default_factory=dict)
    started: list[datetime] = field(default_factory=list)
    ever_verified: bool = False

    def tick(self, now: datetime) -> None:
        for b in list(self.backups.values()):
            if b.status is BackupStatus.RUNNING and now - b.started_at >= 20 * MINUTE:
                outcome = BackupStatus.FAILED if b.started_at in self.failing else V
                self.backups[b.id] = Backup(b.id, b.kind, outcome, b.started_at)
        last = self.started[-1] if self.started else None
        if next_due(self.store, self.policy, last, now) <= now:
            self.started.append(now)
            new = backup(now, BackupStatus.RUNNING)
            self.backups[new.id] = new
        for gone in to_delete(self.backups.values(), self.policy, now):
            del self.backups[gone]

    def run(self, start: datetime, end: datetime, step: timedelta) -> None:
        now = start
        while now < end:
            self.tick(now)
            has_verified = any(b.status is V for b in self.backups.values())
            # Once a store has a verified backup, retention never takes its last one.
            assert has_verified or not self.ever_verified, now
            self.ever_verified = has_verified
            now += step


def test_45_days_of_daily_backups_keep_a_week_of_dailies_and_a_month_of_weeklies() -> None:
    scheduler = Scheduler(STORE, SMALL, failing={at("2025-04-06 07:00"), at("2025-04-10 07:00")})
    scheduler.run(at("2025-03-01 00:00"), at("2025-04-15 00:00"), HOUR)

    # The first backup at once, then one a day at the first tick after 06:17.
    assert scheduler.started[0] == at("2025-03-01 00:00")
    assert scheduler.started[1:] == [at("2025-03-01 07:00") + n * DAY for n in range(45)]
    assert kept_times(scheduler.backups.values(), set(scheduler.backups)) == {
        # the dailies of 04-08 .. 04-14 (04-10 failed)
        "2025-04-08 07:00",
        "2025-04-09 07:00",
        "2025-04-11 07:00",
        "2025-04-12 07:00",
        "2025-04-13 07:00",  # also week 15's newest
        "2025-04-14 07:00",  # also week 16's newest
        # week 14's newest verified: Saturday, since Sunday 04-06 failed
        "2025-04-05 07:00",
        # week 13's newest
        "2025-03-30 07:00",
    }
    assert all(b.status is V for b in scheduler.backups.values())


def test_45_days_of_twice_daily_backups_keep_what_the_medium_plan_says() -> None:
    failing = {at("2025-04-13 19:00"), at("2025-04-14 19:00")}
    scheduler = Scheduler(STORE, MEDIUM, failing=failing)
    scheduler.run(at("2025-03-01 00:00"), at("2025-04-15 00:00"), HOUR)

    assert scheduler.started[1:3] == [at("2025-03-01 07:00"), at("2025-03-01 19:00")]
    assert len(scheduler.started) == 1 + 45 * 2
    assert kept_times(scheduler.backups.values(), set(scheduler.backups)) == {
        # keep_last 4: 04-14 07:00, 04-13 07:00, 04-12 19:00, 04-12 07:00
        "2025-04-12 07:00",
        # the failure of four hours ago, kept for its day
        "2025-04-14 19:00",
        # daily, 04-01 .. 04-14 (the 19:00 of 04-13 failed)
        "2025-04-14 07:00",
        "2025-04-13 07:00",
        *(f"2025-04-{day:02} 19:00" for day in range(1, 13)),
        # weekly: the Sundays of ISO weeks 9 .. 14 (weeks 15 and 16 above)
        "2025-03-02 19:00",
        "2025-03-09 19:00",
        "2025-03-16 19:00",
        "2025-03-23 19:00",
        "2025-03-30 19:00",
        # monthly: March (April above)
        "2025-03-31 19:00",
    }


def test_after_a_three_day_outage_one_backup_is_due_not_three() -> None:
    scheduler = Scheduler(STORE, SMALL)
    scheduler.started.append(at("2025-03-01 06:17"))
    scheduler.backups = {b.id: b for b in [backup("2025-03-01 06:17")]}

    assert next_due(STORE, SMALL, at("2025-03-01 06:17"), at("2025-03-04 10:00")) == at(
        "2025-03-04 10:00"
    )
    scheduler.run(at("2025-03-04 10:00"), at("2025-03-06 00:00"), MINUTE)
    # Back at the store's own time the next day.
    assert scheduler.started == [
        at(t) for t in ("2025-03-01 06:17", "2025-03-04 10:00", "2025-03-05 06:17")
    ]


def test_a_store_that_became_ready_waits_for_its_own_time_when_told_so() -> None:
    assert next_due(STORE, SMALL, None, at("2025-03-01 10:00")) == at("2025-03-01 10:00")
    ready = at("2025-03-01 10:00")
    assert next_due(STORE, SMALL, ready, at("2025-03-01 11:00")) == at("2025-03-02 06:17")


def test_a_stores_backup_time_is_fixed_by_its_id_alone() -> None:
    assert spread_offset(STORE, SMALL) == timedelta(hours=6, minutes=17)
    assert spread_offset(STORE.upper(), BackupPolicy()) == timedelta(hours=6, minutes=17)
    assert spread_offset(STORE, MEDIUM) == timedelta(hours=6, minutes=17)
    assert next_due(STORE, MEDIUM, at("2025-03-01 06:17"), at("2025-03-01 07:00")) == at(
        "2025-03-01 18:17"
    )


@pytest.mark.parametrize("interval_hours", [24, 12, 6, 1])
def test_five_thousand_stores_spread_their_backups_over_the_interval(interval_hours: int) -> None:
    policy = BackupPolicy(interval_hours=interval_hours, keep_last=24)
    rng = random.Random(14)
    stores = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(5000)]
    minutes = interval_hours * 60
    per_minute = [0] * minutes
    for store in stores:
        per_minute[spread_offset(store, policy) // MINUTE] += 1

    share = 5000 * 10 / minutes
    windows = [sum(per_minute[(m + k) % minutes] for k in range(10)) for m in range(minutes)]
    assert max(windows) <= 3 * share
    assert min(windows) >= share / 3


def test_backup_times_stay_in_utc_across_a_daylight_saving_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    scheduler = Scheduler(STORE, SMALL)
    scheduler.started.append(at("2025-03-28 06:17"))
    now = datetime(2025, 3, 28, 12, 0, tzinfo=berlin)
    while now < datetime(2025, 4, 1, tzinfo=berlin):
        scheduler.tick(now)
        now += MINUTE
    # 07:17 in Berlin before the change on 03-30, 08:17 after it: 24 hours apart.
    assert [t.astimezone(UTC) for t in scheduler.started[1:]] == [
        at("2025-03-29 06:17"),
        at("2025-03-30 06:17"),
        at("2025-03-31 06:17"),
    ]


def test_days_are_utc_days_whatever_timezone_the_times_come_in() -> None:
    new_york = ZoneInfo("America/New_York")
    # 19:30 and 20:30 on 03-10 in New York, but two UTC days.
    evening = Backup("a", BackupKind.SCHEDULED, V, datetime(2025, 3, 10, 19, 30, tzinfo=new_york))
    later = Backup("b", BackupKind.SCHEDULED, V, datetime(2025, 3, 10, 20, 30, tzinfo=new_york))
    morning = backup("2025-03-10 10:00")
    policy = BackupPolicy(keep_daily=2, keep_weekly=0)
    assert to_keep([morning, evening, later], policy, at("2025-03-11 12:00")) == {"a", "b"}


def test_the_newest_verified_backup_survives_when_all_are_older_than_every_window() -> None:
    backups = [
        backup("2025-01-10 06:17"),
        backup("2025-01-11 06:17"),
        backup("2025-01-12 06:17", BackupStatus.FAILED),
    ]
    assert to_keep(backups, SMALL, at("2025-04-14 12:00")) == {backups[1].id}


@pytest.mark.parametrize(
    ("demand_time", "kept_that_day"),
    [("2025-03-10 15:00", "2025-03-10 15:00"), ("2025-03-10 01:00", "2025-03-10 06:17")],
)
def test_an_on_demand_backup_takes_its_days_slot_when_it_is_the_days_newest(
    demand_time: str, kept_that_day: str
) -> None:
    """Decided: any verified backup counts toward the slots, whatever its kind; its hold
    only keeps it longer."""
    policy = BackupPolicy(keep_daily=7, keep_weekly=0, hold_days=1)
    demand = backup(demand_time, kind=BackupKind.ON_DEMAND)
    that_day = [backup("2025-03-10 06:17"), demand]
    assert demand.id in to_keep(that_day, policy, at("2025-03-10 23:00"))  # held, newest or not

    backups = [*that_day, backup("2025-03-11 06:17")]
    kept = to_keep(backups, policy, at("2025-03-12 12:00"))
    assert kept_times(backups, kept) == {kept_that_day, "2025-03-11 06:17"}


@pytest.mark.parametrize("kind", [BackupKind.PRE_RESTORE, BackupKind.PRE_UPGRADE])
def test_a_pre_change_backup_is_kept_for_its_hold_even_when_a_newer_one_took_its_day(
    kind: BackupKind,
) -> None:
    policy = BackupPolicy(keep_daily=1, keep_weekly=0, hold_days=3)
    pre_change = backup("2025-03-10 10:00", BackupStatus.COMPLETED, kind)
    backups = [pre_change, backup("2025-03-10 23:00"), backup("2025-03-13 06:17")]
    assert pre_change.id in to_keep(backups, policy, at("2025-03-13 09:59"))
    assert pre_change.id in to_delete(backups, policy, at("2025-03-13 10:00"))


def test_a_failed_pre_restore_backup_is_not_held() -> None:
    failed = backup("2025-03-10 10:00", BackupStatus.FAILED, BackupKind.PRE_RESTORE)
    backups = [failed, backup("2025-03-10 06:17")]
    assert to_delete(backups, SMALL, at("2025-03-11 10:00")) == {failed.id}


@pytest.mark.parametrize(
    "status", [BackupStatus.RUNNING, BackupStatus.COMPLETED, BackupStatus.FAILED]
)
def test_a_backup_not_verified_within_a_day_is_deleted_and_fills_no_slot(
    status: BackupStatus,
) -> None:
    unverified = backup("2025-03-10 06:17", status)
    backups = [backup("2025-03-09 06:17"), unverified]
    assert to_delete(backups, SMALL, at("2025-03-11 06:16")) == set()
    assert to_delete(backups, SMALL, at("2025-03-11 06:17")) == {unverified.id}


def test_a_deleted_stores_backups_stay_as_they_were_for_the_grace_period_then_all_go() -> None:
    policy = BackupPolicy(keep_daily=2, keep_weekly=0, deleted_grace_days=14)
    backups = [backup(f"2025-03-{day:02} 06:17") for day in range(1, 11)]
    running = backup("2025-03-10 12:00", BackupStatus.RUNNING)
    backups.append(running)
    deleted_at = at("2025-03-10 12:05")

    during = to_delete_after_store_deleted(backups, deleted_at, policy, at("2025-03-24 12:04"))
    assert kept_times(backups, {b.id for b in backups} - during) == {
        "2025-03-09 06:17",
        "2025-03-10 06:17",
    }
    assert running.id in during
    after = to_delete_after_store_deleted(backups, deleted_at, policy, at("2025-03-24 12:05"))
    assert after == {b.id for b in backups}


def test_a_store_is_stale_once_its_newest_verified_backup_outlives_interval_and_tolerance() -> None:
    verified = at("2025-03-01 06:17")
    assert not stale(verified, SMALL, at("2025-03-02 12:17"))  # 24 h + 6 h tolerance
    assert stale(verified, SMALL, at("2025-03-02 12:18"))
    assert not stale(verified, MEDIUM, at("2025-03-01 22:17"))  # 12 h + 4 h
    assert stale(verified, MEDIUM, at("2025-03-01 22:18"))
    assert stale(None, SMALL, at("2025-03-01 00:00"))


def test_one_failed_daily_backup_makes_the_store_stale_within_the_tolerance() -> None:
    scheduler = Scheduler(STORE, SMALL, failing={at("2025-03-03 06:17")})
    scheduler.started.append(at("2025-03-01 06:17"))
    scheduler.run(at("2025-03-01 06:17"), at("2025-03-03 13:00"), MINUTE)
    newest = max(b.started_at for b in scheduler.backups.values() if b.status is V)
    assert newest == at("2025-03-02 06:17")
    assert [b.status for b in scheduler.backups.values()] == [V, BackupStatus.FAILED]
    assert not stale(newest, SMALL, at("2025-03-03 12:17"))
    assert stale(newest, SMALL, at("2025-03-03 12:18"))


NAIVE = datetime(2025, 3, 1, 12, 0)
AWARE = at("2025-03-01 12:00")


@pytest.mark.parametrize(
    "call",
    [
        lambda: next_due(STORE, SMALL, NAIVE, AWARE),
        lambda: next_due(STORE, SMALL, None, NAIVE),
        lambda: stale(NAIVE, SMALL, AWARE),
        lambda: to_keep([], SMALL, NAIVE),
        lambda: Backup("x", BackupKind.SCHEDULED, V, NAIVE),
        lambda: to_delete_after_store_deleted([], NAIVE, SMALL, AWARE),
    ],
)
def test_a_naive_time_is_refused(call: object) -> None:
    with pytest.raises(NaiveTimeError, match="timezone-aware"):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"keep_daily": 0, "keep_weekly": 0}, "must keep something"),
        ({"interval_hours": 5}, "must divide a day"),
        ({"interval_hours": 0}, "greater than or equal to 1"),
        ({"interval_hours": 48}, "less than or equal to 24"),
        ({"interval_hours": 6}, "keep_last"),
        ({"hold_days": 0}, "greater than or equal to 1"),
        ({"keep_daily": -1}, "greater than or equal to 0"),
        ({"keep_yearly": 3}, "Extra inputs are not permitted"),
    ],
)
def test_a_nonsense_backup_policy_is_refused_with_the_reason(
    options: dict[str, int], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        BackupPolicy(**options)


def test_the_larger_plan_keeps_at_least_as_much_for_at_least_as_long() -> None:
    assert SMALL.interval_hours == 24
    assert (SMALL.keep_daily, SMALL.keep_weekly, SMALL.keep_monthly) == (7, 4, 0)
    for name in ("keep_last", "keep_daily", "keep_weekly", "keep_monthly", "hold_days"):
        assert getattr(MEDIUM, name) >= getattr(SMALL, name), name
    assert MEDIUM.deleted_grace_days >= SMALL.deleted_grace_days
    assert MEDIUM.interval_hours <= SMALL.interval_hours


def test_the_plans_setting_carries_each_plans_backup_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "STOREFLEET_PLANS",
        '{"tiny": {}, "big": {"backup": {"interval_hours": 24, "keep_daily": 30,'
        ' "keep_monthly": 12, "deleted_grace_days": 90}}}',
    )
    monkeypatch.setenv("STOREFLEET_DEFAULT_PLAN", "tiny")
    plans = GatewaySettings().plans
    assert plans["tiny"].backup == BackupPolicy()
    assert (plans["big"].backup.keep_daily, plans["big"].backup.keep_monthly) == (30, 12)

    monkeypatch.setenv(
        "STOREFLEET_PLANS", '{"tiny": {"backup": {"keep_daily": 0, "keep_weekly": 0}}}'
    )
    with pytest.raises(ValidationError, match="must keep something"):
        GatewaySettings()


# -- Properties over random histories ------------------------------------------------------


def random_history(rng: random.Random, end: datetime) -> list[Backup]:
    start = end - timedelta(days=rng.randint(1, 120))
    backups = []
    for n in range(rng.randint(0, 150)):
        started = start + timedelta(minutes=rng.randint(0, int((end - start) / MINUTE)))
        kind = rng.choice(list(BackupKind))
        status = rng.choices(list(BackupStatus), weights=[1, 1, 8, 2])[0]
        backups.append(Backup(f"b{n}", kind, status, started))
    return backups


def random_policy(rng: random.Random) -> BackupPolicy:
    interval = rng.choice([1, 6, 12, 24])
    return BackupPolicy(
        interval_hours=interval,
        keep_last=rng.randint(2 if interval < 24 else 0, 10),
        keep_daily=rng.randint(0, 14),
        keep_weekly=rng.randint(0, 8),
        keep_monthly=rng.randint(0, 6),
        hold_days=rng.randint(1, 14),
        deleted_grace_days=rng.randint(0, 30),
    )


@pytest.mark.parametrize("seed", range(60))
def test_retention_properties_hold_on_random_histories(seed: int) -> None:
    rng = random.Random(seed)
    policy, now = random_policy(rng), at("2025-04-14 12:00")
    backups = random_history(rng, now)
    later = now + timedelta(hours=rng.randint(1, 24 * 60))
    kept = to_keep(backups, policy, now)
    verified = [b for b in backups if b.status is V]

    assert kept | to_delete(backups, policy, now) == {b.id for b in backups}
    assert not kept & to_delete(backups, policy, now)
    if verified:
        assert max(verified, key=lambda b: (b.started_at, b.id)).id in kept
    for b in backups:
        written = b.status in (BackupStatus.COMPLETED, V)
        young = now - b.started_at < timedelta(days=policy.hold_days)
        if b.kind is not BackupKind.SCHEDULED and written and young:
            assert b.id in kept
    slots = policy.keep_last + policy.keep_daily + policy.keep_weekly + policy.keep_monthly
    assert len([b for b in verified if b.id in kept]) <= slots + 1 + sum(
        b.kind is not BackupKind.SCHEDULED for b in verified
    )
    survivors = [b for b in backups if b.id in kept]
    # Running retention again, or less often, deletes exactly the same.
    assert to_keep(survivors, policy, now) == kept
    assert to_keep(survivors, policy, later) == to_keep(backups, policy, later)


@pytest.mark.parametrize("seed", range(30))
def test_a_deleted_stores_verified_backups_do_not_erode_during_its_grace(seed: int) -> None:
    rng = random.Random(seed)
    policy = random_policy(rng)
    deleted_at = at("2025-04-14 12:00")
    backups = random_history(rng, deleted_at)
    verified = {b.id for b in backups if b.status is V}
    grace = timedelta(days=policy.deleted_grace_days)

    if grace > DAY:
        early, late = deleted_at + MINUTE, deleted_at + grace - MINUTE
        assert to_delete_after_store_deleted(backups, deleted_at, policy, late) & verified == (
            to_delete_after_store_deleted(backups, deleted_at, policy, early) & verified
        )
        assert verified - to_delete_after_store_deleted(backups, deleted_at, policy, late) == (
            verified & to_keep(backups, policy, deleted_at)
        )
    everything = to_delete_after_store_deleted(backups, deleted_at, policy, deleted_at + grace)
    assert everything == {b.id for b in backups}
