"""The reaper's backup passes against real Postgres (rows folded by the real auditor from
real events), real NATS and the real S3-compatible server: a month of passes keeps
exactly what the policy says, in the table and in the bucket; a second leader publishes
nothing new; stuck backups and restores are failed; a deleted store's backups go after
its grace; the age gauges, none while a store is suspended; and a pass while the object
storage is down."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from prometheus_client import REGISTRY

from services.reaper.backup_plan import KeeperPolicy, StoredObject, plan_orphans, slot_of
from services.reaper.backup_records import BackupRecords
from services.reaper.backups import BackupKeeper
from services.reaper.deletion import Publish
from services.reaper.sweeper import BACKUP_LOCK_KEY, SweeperLock
from shared import backup_keys, backup_policy
from shared.backup_policy import Backup, BackupKind, BackupStatus
from shared.objectstore import ObjectStore
from shared.plans import BackupPolicy, Plan
from tests.auditor.lifecycle import running_auditor, status_is
from tests.fixtures.nats import TestStream
from tests.fixtures.objectstore import S3Server
from tests.reaper.backups_harness import (
    Shop,
    backups_in_bucket,
    folded,
    last_seq,
    of_type,
    put_backup,
    stream_events,
)

PLANS = {
    "small": Plan(),  # daily; 7 dailies, 4 weeklies
    "tight": Plan(
        backup=BackupPolicy(
            interval_hours=6, keep_last=3, keep_daily=3, keep_weekly=2, keep_monthly=1
        )
    ),
}
POLICY = KeeperPolicy(
    requests_per_pass=20, backup_deadline=timedelta(hours=2), restore_deadline=timedelta(hours=2)
)

MakeKeeper = Callable[..., BackupKeeper]


@pytest.fixture
async def auditor(
    nc: NATS, js: JetStreamContext, stream: TestStream, pool: asyncpg.Pool
) -> AsyncIterator[None]:
    async with running_auditor(nc, pool, stream.name):
        yield


@pytest.fixture
def make_keeper(
    service_database_urls: dict[str, str],
    reaper_pool: asyncpg.Pool,
    js: JetStreamContext,
    stream: TestStream,
    object_store: ObjectStore,
    publish: Publish,
) -> MakeKeeper:
    """Keepers over this test's database (as the reaper's role), stream and bucket prefix."""

    def make(
        plans: Mapping[str, Plan] = PLANS,
        policy: KeeperPolicy = POLICY,
        storage: ObjectStore = object_store,
    ) -> BackupKeeper:
        lock = SweeperLock(service_database_urls["reaper"], key=BACKUP_LOCK_KEY)
        records = BackupRecords(reaper_pool, js, stream.name)
        return BackupKeeper(
            lock, records, storage, publish, plans, policy, 1, orphan_scan_every=timedelta(0)
        )

    return make


async def test_a_month_of_passes_keeps_exactly_what_the_policy_says_in_the_table_and_the_bucket(
    js: JetStreamContext,
    stream: TestStream,
    pool: asyncpg.Pool,
    object_store: ObjectStore,
    make_keeper: MakeKeeper,
    auditor: None,
) -> None:
    daily, tight = Shop(js, stream.name, "small"), Shop(js, stream.name, "tight")
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for shop in (daily, tight):
        await shop.ready(start)
    await folded(js, stream.name)
    taken: dict[str, list[Backup]] = {daily.id: [], tight.id: []}
    leader, other = make_keeper(), make_keeper()
    now = start
    while now < start + timedelta(days=31):
        now += timedelta(hours=6)
        seq = await last_seq(js, stream.name)
        report = await leader.pass_once(now)
        published = await last_seq(js, stream.name)
        assert published - seq == report.published
        if now.hour == 6:  # now and then, a second leader at the same time, before the fold
            assert (await other.pass_once(now)).published == 0
            assert await last_seq(js, stream.name) == published
        await folded(js, stream.name)
        for request in report.plan.requests:
            shop = daily if request.store_id == daily.id else tight
            await shop.finish(request.backup_id, now + timedelta(minutes=20), object_store)
            started = Backup(request.backup_id, BackupKind.SCHEDULED, BackupStatus.VERIFIED, now)
            taken[shop.id].append(started)
        await folded(js, stream.name)
    # One more pass at the same time: retention sees the last backups, and no slot can fall
    # due between the two passes (a later pass could request a backup no one finishes).
    end = now
    assert (await leader.pass_once(end)).plan.requests == ()
    await folded(js, stream.name)

    events = await stream_events(js, stream.name)
    for shop in (daily, tight):
        policy = PLANS[shop.plan].backup
        kept = backup_policy.to_keep(taken[shop.id], policy, end)
        rows = await pool.fetch(
            "SELECT id::text AS id, status FROM backups WHERE store_id = $1", shop.id
        )
        assert {r["id"] for r in rows if r["status"] != "deleted"} == kept
        assert {r["id"] for r in rows if r["status"] == "deleted"} == {
            b.id for b in taken[shop.id]
        } - kept
        assert await backups_in_bucket(object_store, shop.id) == kept
        requested = of_type([e for e in events if e.store_id == shop.id], "backup.requested")
        assert len(requested) == len({e.data.backup_id for e in requested}) == len(taken[shop.id])  # type: ignore[attr-defined]
        deleted = of_type([e for e in events if e.store_id == shop.id], "backup.deleted")
        assert {e.data.reason for e in deleted} == {"retention"}  # type: ignore[attr-defined]
    assert len(taken[daily.id]) == 31  # one a day, each at the store's own time
    assert len(taken[tight.id]) == 31 * 4
    assert len(kept) >= 5  # the tight plan: 3 newest, days, weeks and a month


async def test_the_same_slot_gets_the_same_backup_id_on_every_leader_and_after_a_restart(
    nc: NATS,
    js: JetStreamContext,
    stream: TestStream,
    pool: asyncpg.Pool,
    make_keeper: MakeKeeper,
) -> None:
    shop = Shop(js, stream.name)
    now = slot_of(shop.id, PLANS["small"].backup, datetime.now(UTC)) + timedelta(minutes=5)
    await shop.ready(now - timedelta(days=2))
    async with running_auditor(nc, pool, stream.name):
        await folded(js, stream.name)
    # The auditor has stopped: the table never learns of the request, as when it lags.
    first = await make_keeper().pass_once(now)
    again = await make_keeper().pass_once(now + timedelta(seconds=50))
    [request] = first.plan.requests
    assert [r.backup_id for r in again.plan.requests] == [request.backup_id]
    assert (first.published, again.published) == (1, 0)
    [event] = of_type(await stream_events(js, stream.name, shop.id), "backup.requested")
    assert event.data.reason == "scheduled"  # type: ignore[attr-defined]
    assert event.data.requested_by == "reaper"  # type: ignore[attr-defined]


async def test_the_cap_spreads_due_backups_over_passes_and_none_starts_while_one_runs(
    js: JetStreamContext,
    stream: TestStream,
    make_keeper: MakeKeeper,
    auditor: None,
) -> None:
    now = datetime.now(UTC)
    shops = [Shop(js, stream.name) for _ in range(3)]
    for shop in shops:
        await shop.ready(now - timedelta(days=2))
    busy = Shop(js, stream.name)
    await busy.ready(now - timedelta(days=2))
    await busy.backup(now - timedelta(minutes=10))
    await folded(js, stream.name)
    keeper = make_keeper(policy=KeeperPolicy(2, timedelta(hours=2), timedelta(hours=2)))

    first = await keeper.pass_once(now)
    await folded(js, stream.name)
    second = await keeper.pass_once(now + timedelta(minutes=1))

    assert (len(first.plan.requests), first.plan.deferred) == (2, 1)
    assert (len(second.plan.requests), second.plan.deferred) == (1, 0)
    asked = {r.store_id for r in first.plan.requests + second.plan.requests}
    assert asked == {shop.id for shop in shops}


async def test_a_stuck_backup_is_failed_and_its_objects_and_uploads_go_after_the_grace(
    js: JetStreamContext,
    stream: TestStream,
    pool: asyncpg.Pool,
    object_store: ObjectStore,
    make_keeper: MakeKeeper,
    auditor: None,
) -> None:
    shop, now = Shop(js, stream.name), datetime.now(UTC)
    await shop.ready(now - timedelta(days=3))
    stuck = await shop.backup(now - timedelta(hours=3))
    await shop.send(
        "backup.started", {"backup_id": stuck, "worker": "w1"}, now - timedelta(hours=3)
    )
    busy = await shop.backup(now - timedelta(minutes=30), backup_id=str(uuid.uuid4()))
    await put_backup(object_store, shop.id, stuck, ["database.dump"])
    await object_store.create_upload(object_store.backup_key(shop.id, stuck, "files.tar"))
    await folded(js, stream.name)
    keeper = make_keeper()

    await keeper.pass_once(now)
    await folded(js, stream.name)
    assert await backup_status(pool, stuck) == "failed"
    assert await backup_status(pool, busy) == "requested"  # not yet past its deadline
    [failed] = of_type(await stream_events(js, stream.name, shop.id), "backup.failed")
    assert failed.data.code == "stuck"  # type: ignore[attr-defined]
    assert "running for 180 min" in failed.data.reason  # type: ignore[attr-defined]
    assert stuck in await backups_in_bucket(object_store, shop.id)  # kept for its day

    await keeper.pass_once(now + timedelta(hours=22))
    await folded(js, stream.name)
    assert await backup_status(pool, stuck) == "deleted"
    assert stuck not in await backups_in_bucket(object_store, shop.id)
    [deleted] = of_type(await stream_events(js, stream.name, shop.id), "backup.deleted")
    assert deleted.data.reason == "unfinished"  # type: ignore[attr-defined]


async def test_a_store_stuck_restoring_has_its_restore_failed(
    js: JetStreamContext,
    stream: TestStream,
    pool: asyncpg.Pool,
    make_keeper: MakeKeeper,
    auditor: None,
) -> None:
    stuck, busy, now = Shop(js, stream.name), Shop(js, stream.name), datetime.now(UTC)
    restores = {}
    for shop, since in ((stuck, timedelta(hours=3)), (busy, timedelta(minutes=20))):
        await shop.ready(now - timedelta(days=1))
        restores[shop.id] = {
            "restore_id": str(uuid.uuid4()),
            "backup_id": str(uuid.uuid4()),
            "pre_restore_backup_id": str(uuid.uuid4()),
        }
        await shop.send("restore.started", restores[shop.id], now - since)
    await folded(js, stream.name)

    await make_keeper().pass_once(now)
    await folded(js, stream.name)

    [failed] = of_type(await stream_events(js, stream.name, stuck.id), "restore.failed")
    assert failed.data.restore_id == restores[stuck.id]["restore_id"]  # type: ignore[attr-defined]
    assert failed.data.backup_id == restores[stuck.id]["backup_id"]  # type: ignore[attr-defined]
    assert failed.data.code == "stuck"  # type: ignore[attr-defined]
    assert await status_is(pool, stuck.id, "failed")
    assert await status_is(pool, busy.id, "restoring")


async def test_a_deleted_stores_backups_all_go_after_its_grace_and_not_before(
    js: JetStreamContext,
    stream: TestStream,
    pool: asyncpg.Pool,
    object_store: ObjectStore,
    make_keeper: MakeKeeper,
    auditor: None,
) -> None:
    now = datetime.now(UTC)
    gone, recent = Shop(js, stream.name), Shop(js, stream.name)
    ids: dict[str, list[str]] = {}
    for shop, deleted_ago in ((gone, 15), (recent, 2)):
        born = now - timedelta(days=deleted_ago + 3)
        await shop.ready(born)
        ids[shop.id] = []
        for day in range(3):
            at = born + timedelta(days=day, hours=1)
            ids[shop.id].append(await shop.backup(at, reason="scheduled"))
            await shop.finish(ids[shop.id][-1], at + timedelta(minutes=10), object_store)
        await shop.delete(now - timedelta(days=deleted_ago))
    await folded(js, stream.name)

    report = await make_keeper().pass_once(now)
    await folded(js, stream.name)

    assert not report.plan.requests  # a deleted store is never backed up
    assert await backups_in_bucket(object_store, gone.id) == set()
    deleted = of_type(await stream_events(js, stream.name, gone.id), "backup.deleted")
    assert {(e.data.backup_id, e.data.reason) for e in deleted} == {  # type: ignore[attr-defined]
        (bid, "store_deleted") for bid in ids[gone.id]
    }
    assert await backups_in_bucket(object_store, recent.id) == set(ids[recent.id])
    statuses = {await backup_status(pool, bid) for bid in ids[recent.id]}
    assert statuses == {"verified"}


async def test_the_age_gauges_of_a_fresh_and_a_stale_store_and_a_gone_one_removed(
    js: JetStreamContext,
    stream: TestStream,
    object_store: ObjectStore,
    make_keeper: MakeKeeper,
    auditor: None,
) -> None:
    now = datetime.now(UTC)
    fresh, stale, never = (
        Shop(js, stream.name),
        Shop(js, stream.name, "tight"),
        Shop(js, stream.name),
    )
    await fresh.ready(now - timedelta(days=5))
    bid = await fresh.backup(now - timedelta(hours=2))
    await fresh.finish(bid, now - timedelta(hours=1), object_store)
    await stale.ready(now - timedelta(hours=40))
    await never.send(
        "requested",
        {"name": "N", "slug": f"n-{never.id[:8]}", "engine": "woocommerce", "plan": "small",
         "owner": str(uuid.uuid4()), "namespace": f"store-n-{never.id[:8]}"},
        now,
    )  # fmt: skip
    await folded(js, stream.name)
    keeper = make_keeper()

    await keeper.pass_once(now)
    assert gauge("storefleet_store_backup_age_seconds", fresh) == pytest.approx(7200, abs=5)
    assert gauge("storefleet_store_backup_max_age_seconds", fresh) == 30 * 3600
    assert gauge("storefleet_store_backup_age_seconds", stale) == pytest.approx(40 * 3600, abs=5)
    assert gauge("storefleet_store_backup_max_age_seconds", stale) == 12 * 3600
    assert gauge("storefleet_store_backup_age_seconds", never) is None  # never ready

    await stale.delete(now + timedelta(minutes=1))
    await folded(js, stream.name)
    await keeper.pass_once(now + timedelta(minutes=2))
    assert gauge("storefleet_store_backup_age_seconds", stale) is None
    assert gauge("storefleet_store_backup_max_age_seconds", stale) is None
    assert gauge("storefleet_store_backup_age_seconds", fresh) == pytest.approx(7320, abs=5)


async def test_a_suspended_store_is_neither_backed_up_nor_aged_until_it_is_resumed(
    js: JetStreamContext,
    stream: TestStream,
    make_keeper: MakeKeeper,
    auditor: None,
) -> None:
    shop = Shop(js, stream.name, "tight")
    # An hour past one of the store's 6-hourly slots: the next one (5 h on) comes after
    # the resume and the pass just after it, and before the pass 13 h on.
    now = slot_of(shop.id, PLANS["tight"].backup, datetime.now(UTC)) + timedelta(hours=1)
    await shop.ready(now - timedelta(hours=40))  # never backed up: due, and stale if ready
    suspension = {"operation_id": str(uuid.uuid4())}
    await shop.send("suspend.started", suspension, now - timedelta(minutes=30))
    await shop.send("suspend.completed", {**suspension, "seconds": 5}, now - timedelta(minutes=29))
    await folded(js, stream.name)
    keeper = make_keeper()

    suspended = await keeper.pass_once(now)

    assert shop.id not in {r.store_id for r in suspended.plan.requests}
    assert gauge("storefleet_store_backup_age_seconds", shop) is None
    assert gauge("storefleet_store_backup_max_age_seconds", shop) is None

    resumption = {"operation_id": str(uuid.uuid4())}
    await shop.send("resume.started", resumption, now + timedelta(minutes=1))
    await shop.send("resume.completed", {**resumption, "seconds": 5}, now + timedelta(minutes=2))
    await folded(js, stream.name)
    # Resumed, it is aged again at once, from the resume (not from before its suspension);
    # its next backup comes at its schedule's next slot after the resume.
    resumed = await keeper.pass_once(now + timedelta(minutes=3))
    assert shop.id not in {r.store_id for r in resumed.plan.requests}
    assert gauge("storefleet_store_backup_age_seconds", shop) == 60
    assert gauge("storefleet_store_backup_max_age_seconds", shop) == 12 * 3600
    due = await keeper.pass_once(now + timedelta(hours=13))
    assert shop.id in {r.store_id for r in due.plan.requests}


def gauge(name: str, shop: Shop) -> float | None:
    return REGISTRY.get_sample_value(name, {"store_id": shop.id, "plan": shop.plan})


async def test_with_the_object_storage_down_a_pass_goes_on_and_records_no_deletion(
    js: JetStreamContext,
    stream: TestStream,
    pool: asyncpg.Pool,
    s3_server: S3Server,
    object_store: ObjectStore,
    make_keeper: MakeKeeper,
    auditor: None,
) -> None:
    if not hasattr(s3_server, "stop"):
        pytest.skip("the object storage is someone else's: it cannot be stopped here")
    now = datetime.now(UTC)
    old, due = Shop(js, stream.name, "tight"), Shop(js, stream.name)
    await old.ready(now - timedelta(days=30))
    await due.ready(now - timedelta(days=2))
    ids = []
    for days_ago in (20, 19, 18, 17, 16, 1):  # all but the newest few are past every window
        at = now - timedelta(days=days_ago)
        ids.append(await old.backup(at, reason="scheduled"))
        await old.finish(ids[-1], at + timedelta(minutes=10), object_store)
    await folded(js, stream.name)
    seq = await last_seq(js, stream.name)
    keeper = make_keeper()

    with restarted_after(s3_server):
        s3_server.stop()
        report = await keeper.pass_once(now)
    await folded(js, stream.name)

    assert report.plan.removals and report.storage_error
    events = await stream_events(js, stream.name, after=seq)
    assert not of_type(events, "backup.deleted")
    assert due.id in {e.store_id for e in of_type(events, "backup.requested")}
    assert await backups_in_bucket(object_store, old.id) == set(ids)

    again = await keeper.pass_once(now + timedelta(minutes=1))
    await folded(js, stream.name)
    doomed = {r.backup_id for r in report.plan.removals}
    assert again.removed == len(doomed) and not again.storage_error
    assert await backups_in_bucket(object_store, old.id) == set(ids) - doomed
    for bid in doomed:
        assert await backup_status(pool, bid) == "deleted"


@contextlib.contextmanager
def restarted_after(server: S3Server) -> Iterator[None]:
    try:
        yield
    finally:
        server.start()  # type: ignore[union-attr]


async def test_objects_of_backups_the_database_never_knew_go_after_a_day_unless_they_look_whole(
    js: JetStreamContext,
    stream: TestStream,
    object_store: ObjectStore,
    make_keeper: MakeKeeper,
    auditor: None,
) -> None:
    shop, now = Shop(js, stream.name), datetime.now(UTC)
    await shop.ready(now - timedelta(days=3))
    known = await shop.backup(now - timedelta(hours=1))
    await shop.finish(known, now, object_store)
    partial, whole = str(uuid.uuid4()), str(uuid.uuid4())
    await put_backup(object_store, shop.id, partial, ["database.dump"])
    await object_store.create_upload(object_store.backup_key(shop.id, partial, "files.tar"))
    await put_backup(object_store, shop.id, whole)
    await folded(js, stream.name)
    keeper = make_keeper()

    soon = await keeper.pass_once(now + timedelta(hours=2))
    assert soon.orphans is not None and not soon.orphans.remove  # a backup may be writing
    later = await keeper.pass_once(now + timedelta(days=2))

    assert later.orphans is not None
    assert [o.backup_id for o in later.orphans.remove] == [partial]
    assert [o.backup_id for o in later.orphans.unknown] == [whole]
    assert await backups_in_bucket(object_store, shop.id) == {known, whole}


def test_objects_outside_the_backup_layout_are_never_taken_for_orphans() -> None:
    now = datetime.now(UTC)
    old = now - timedelta(days=3)
    store, backup = str(uuid.uuid4()), str(uuid.uuid4())
    root = backup_keys.root("p")
    objects = [
        StoredObject(f"{root}stores/{store}/notes.txt", old),
        StoredObject(f"{root}stores/{store}/backups/{backup}/x/y", old),
        StoredObject(f"other/stores/{store}/backups/{backup}/database.dump", old),
    ]
    assert plan_orphans(root, objects, {}, now).remove == ()


async def backup_status(pool: asyncpg.Pool, bid: str) -> str | None:
    return await pool.fetchval("SELECT status FROM backups WHERE id = $1", bid)  # type: ignore[no-any-return]
