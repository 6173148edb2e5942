"""The reaper's sweeps on a real control plane, with real NATS and Postgres: orphaned
namespaces are deleted (and the sweep says so), a suspended store's never; stuck stores
are failed, their deletion retried, or their suspend or resume failed (with an event
saying why), and one reaper sweeps at a time."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from services.reaper.deletion import DeletionHandler
from services.reaper.namespaces import Namespaces
from services.reaper.sweep_plan import SweepPolicy
from services.reaper.sweeper import SweeperLock
from shared.events import Envelope
from shared.worker import WorkerPool
from tests.auditor.lifecycle import (
    consumer_caught_up,
    event,
    events_of,
    eventually,
    publish_all,
    requested,
    running_auditor,
    status_is,
    store_id,
)
from tests.fixtures.nats import TestStream
from tests.reaper.backups_harness import of_type, stream_events
from tests.reaper.conftest import (
    MakeNamespace,
    MakeSweeper,
    StartReaper,
    kill,
    metrics_of,
    namespace_name,
    store_labels,
)

pytestmark = pytest.mark.cluster

# Orphan grace 5 min; provisioning, deletion, suspend, resume and upgrade deadlines 30, 15,
# 30, 30 and 60 min; Terminating reported after 5 min.
DEADLINES = SweepPolicy(
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(minutes=15),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(minutes=30),
    timedelta(minutes=60),
)
LEADER = "storefleet_reaper_sweeper_leader"
SWEEPS = 'storefleet_reaper_sweeps_total{outcome="ok"}'


@contextlib.asynccontextmanager
async def reaping(
    nc: NATS, stream: TestStream, pool: asyncpg.Pool, handler: DeletionHandler
) -> AsyncIterator[None]:
    """The auditor and the reaper's deletion handler, running in this process."""
    workers = WorkerPool(nc.jetstream(), stream.name, "reaper", handler, fetch_timeout=0.3, grace=5)
    task = asyncio.create_task(workers.run())
    try:
        async with running_auditor(nc, pool, stream.name):
            yield
    finally:
        workers.stop()
        await task


async def test_a_sweep_deletes_namespaces_whose_store_is_deleted_or_unknown_and_says_why(
    nc: NATS,
    js: JetStreamContext,
    stream: TestStream,
    pool: asyncpg.Pool,
    handler: DeletionHandler,
    make_namespace: MakeNamespace,
    namespaces: Namespaces,
    make_sweeper: MakeSweeper,
) -> None:
    deleted, unknown, live, stream_only = store_id(), store_id(), store_id(), store_id()
    names = {
        sid: await make_namespace(namespace_name(), store_labels(sid))
        for sid in (deleted, unknown, live, stream_only)
    }
    await publish_all(
        js,
        stream.name,
        [
            requested(deleted, namespace=names[deleted]),
            event("deleted", deleted),
            requested(live, namespace=names[live]),
            event("ready", live),
            # An owner that is not a uuid: the auditor cannot project it, so only the
            # stream knows this store (as when the database lags behind).
            requested(stream_only, namespace=names[stream_only], owner="legacy-owner"),
        ],
    )

    async with reaping(nc, stream, pool, handler):
        await eventually(lambda: consumer_caught_up(js, stream.name), what="auditor caught up")
        report = await make_sweeper().sweep_once()
        for sid in (deleted, unknown):
            await eventually(
                lambda sid=sid: gone(namespaces, names[sid]),
                within=60,  # type: ignore[misc]
                what=f"namespace of {sid} gone",
            )

    assert {(o.store_id, o.reason) for o in report.plan.orphans} == {
        (deleted, "store_deleted"),
        (unknown, "store_unknown"),
    }
    for sid in (deleted, unknown):
        events = await events_of(js, stream.name, sid)
        at = next(i for i, e in enumerate(events) if e.type == "delete")
        assert events[at].data.reason.startswith(f"orphan sweep: namespace {names[sid]}")  # type: ignore[attr-defined]
        assert [e.type for e in events[at + 1 :]] == ["deleting", "deleted"]
    for sid in (live, stream_only):
        assert await namespaces.exists(names[sid])
    assert await status_is(pool, live, "ready")


async def gone(namespaces: Namespaces, name: str) -> bool:
    return not await namespaces.exists(name)


async def test_a_store_stuck_provisioning_past_its_deadline_is_failed_with_the_reason(
    nc: NATS,
    js: JetStreamContext,
    stream: TestStream,
    pool: asyncpg.Pool,
    handler: DeletionHandler,
    namespaces: Namespaces,
    make_sweeper: MakeSweeper,
) -> None:
    stuck, busy = store_id(), store_id()
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    recently = datetime.now(UTC) - timedelta(minutes=5)
    await publish_all(
        js,
        stream.name,
        [
            requested(stuck, at=long_ago),
            event("provisioning", stuck, at=long_ago),
            requested(busy, at=long_ago),
            event("provisioning", busy, at=long_ago),
            event("progress", busy, {"wave": "workloads"}, at=recently),
        ],
    )
    sweep = make_sweeper(DEADLINES)

    async with reaping(nc, stream, pool, handler):
        await eventually(lambda: consumer_caught_up(js, stream.name), what="auditor caught up")
        await sweep.sweep_once()
        await sweep.sweep_once()  # a second sweep before the failure is projected
        await eventually(lambda: status_is(pool, stuck, "failed"), what="stuck store failed")

    [failed] = [e for e in await events_of(js, stream.name, stuck) if e.type == "failed"]
    assert failed.data.code == "provisioning_timeout"  # type: ignore[attr-defined]
    assert "no progress for 120 min" in failed.data.reason  # type: ignore[attr-defined]
    assert failed.actor == "reaper"
    error = await pool.fetchval("SELECT error FROM stores WHERE id = $1", stuck)
    assert error == failed.data.reason  # type: ignore[attr-defined]
    assert await status_is(pool, busy, "provisioning")


async def test_a_store_stuck_deleting_has_its_deletion_retried_until_the_namespace_is_gone(
    nc: NATS,
    js: JetStreamContext,
    stream: TestStream,
    pool: asyncpg.Pool,
    handler: DeletionHandler,
    make_namespace: MakeNamespace,
    namespaces: Namespaces,
    make_sweeper: MakeSweeper,
) -> None:
    sid = store_id()
    name = await make_namespace(namespace_name(), store_labels(sid))
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    # The delete request reached the projection, but the reaper never saw it (as if it
    # ran out of delivery attempts): published here on a subject the reaper ignores.
    await publish_all(
        js,
        stream.name,
        [
            requested(sid, namespace=name, at=long_ago),
            event("ready", sid, at=long_ago),
            event("deleting", sid, {"namespace": name}, at=long_ago),
        ],
    )

    async with reaping(nc, stream, pool, handler):
        await eventually(lambda: status_is(pool, sid, "deleting"), what="store deleting")
        await make_sweeper(DEADLINES).sweep_once()
        await eventually(lambda: status_is(pool, sid, "deleted"), within=60, what="deleted")

    assert not await namespaces.exists(name)
    retry = next(e for e in await events_of(js, stream.name, sid) if e.type == "delete")
    assert retry.data.reason.startswith("deletion retried")  # type: ignore[attr-defined]


async def test_a_store_stuck_suspending_resuming_or_upgrading_has_that_operation_failed(
    nc: NATS,
    js: JetStreamContext,
    stream: TestStream,
    pool: asyncpg.Pool,
    handler: DeletionHandler,
    make_sweeper: MakeSweeper,
) -> None:
    suspending, resuming, upgrading, busy = store_id(), store_id(), store_id(), store_id()
    ops = {sid: str(uuid.uuid4()) for sid in (suspending, resuming, upgrading, busy)}
    upgrade = {"version": "2.1", "previous_version": "2.0", "pre_upgrade_backup_id": earlier_id()}
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    recently = datetime.now(UTC) - timedelta(minutes=5)
    earlier = str(uuid.uuid4())
    await publish_all(
        js,
        stream.name,
        [
            *ready_at(suspending, long_ago),
            event("suspend.started", suspending, {"operation_id": ops[suspending]}, at=long_ago),
            *ready_at(resuming, long_ago),
            event("suspend.started", resuming, {"operation_id": earlier}, at=long_ago),
            event(
                "suspend.completed", resuming, {"operation_id": earlier, "seconds": 3}, at=long_ago
            ),
            event("resume.started", resuming, {"operation_id": ops[resuming]}, at=long_ago),
            *ready_at(upgrading, long_ago),
            event(
                "upgrade.started",
                upgrading,
                {"operation_id": ops[upgrading], **upgrade},
                at=long_ago,
            ),
            *ready_at(busy, long_ago),
            event("suspend.started", busy, {"operation_id": ops[busy]}, at=recently),
        ],
    )
    sweep = make_sweeper(DEADLINES)

    async with reaping(nc, stream, pool, handler):
        await eventually(lambda: consumer_caught_up(js, stream.name), what="auditor caught up")
        await sweep.sweep_once()
        await sweep.sweep_once()  # a second sweep before the failures are projected
        for sid in (suspending, resuming, upgrading):
            await eventually(
                lambda sid=sid: status_is(pool, sid, "failed"),  # type: ignore[misc]
                what=f"stuck {sid} failed",
            )

    for sid, kind in (
        (suspending, "suspend.failed"),
        (resuming, "resume.failed"),
        (upgrading, "upgrade.failed"),
    ):
        [failed] = of_type(await stream_events(js, stream.name, sid), kind)
        assert failed.data.operation_id == ops[sid]  # type: ignore[attr-defined]
        assert failed.data.code == "stuck"  # type: ignore[attr-defined]
        assert "made no progress for 120 min" in failed.data.reason  # type: ignore[attr-defined]
        assert failed.actor == "reaper"
        error = await pool.fetchval("SELECT error FROM stores WHERE id = $1", sid)
        assert error == failed.data.reason  # type: ignore[attr-defined]
    assert await status_is(pool, busy, "suspending")
    assert not of_type(await stream_events(js, stream.name, busy), "suspend.failed")


def earlier_id() -> str:
    return str(uuid.uuid4())


def ready_at(sid: str, at: datetime, namespace: str | None = None) -> list[Envelope]:
    return [requested(sid, namespace=namespace, at=at), event("ready", sid, at=at)]


async def test_a_sweep_never_takes_a_suspended_stores_namespace_for_an_orphan(
    nc: NATS,
    js: JetStreamContext,
    stream: TestStream,
    pool: asyncpg.Pool,
    handler: DeletionHandler,
    make_namespace: MakeNamespace,
    namespaces: Namespaces,
    make_sweeper: MakeSweeper,
) -> None:
    suspended, deleted = store_id(), store_id()
    names = {
        sid: await make_namespace(namespace_name(), store_labels(sid))
        for sid in (suspended, deleted)
    }
    op, long_ago = str(uuid.uuid4()), datetime.now(UTC) - timedelta(days=3)
    await publish_all(
        js,
        stream.name,
        [
            *ready_at(suspended, long_ago, names[suspended]),
            event("suspend.started", suspended, {"operation_id": op}, at=long_ago),
            event("suspend.completed", suspended, {"operation_id": op, "seconds": 3}, at=long_ago),
            *ready_at(deleted, long_ago, names[deleted]),
            event("deleted", deleted),
        ],
    )

    async with reaping(nc, stream, pool, handler):
        await eventually(lambda: consumer_caught_up(js, stream.name), what="auditor caught up")
        report = await make_sweeper().sweep_once()  # no grace, every deadline passed
        await eventually(
            lambda: gone(namespaces, names[deleted]),
            within=60,
            what="the deleted store's namespace gone",
        )

    assert [o.store_id for o in report.plan.orphans] == [deleted]
    assert await namespaces.exists(names[suspended])
    assert await status_is(pool, suspended, "suspended")
    assert "delete" not in {e.type for e in await stream_events(js, stream.name, suspended)}  # type: ignore[attr-defined]


async def test_the_sweeper_lock_has_one_holder_and_passes_on_when_it_is_released(
    migrated_database_url: str,
) -> None:
    first, second = SweeperLock(migrated_database_url), SweeperLock(migrated_database_url)
    try:
        assert await first.hold()
        assert not await second.hold()
        assert await first.hold()  # still the leader on the next round
        await first.release()
        assert await second.hold()
        assert not await first.hold()
    finally:
        await first.release()
        await second.release()


async def test_of_two_reapers_exactly_one_sweeps_and_the_other_takes_over_when_it_dies(
    start_reaper: StartReaper,
) -> None:
    reapers = [start_reaper(f"reaper-{i}", sweep_interval_seconds="0.3") for i in range(2)]
    ports = [proc.health_port for proc in reapers]  # type: ignore[attr-defined]

    async def metrics(port: int) -> dict[str, float]:
        # A live reaper's metrics; a read that times out on a loaded machine is retried.
        samples: dict[str, float] = {}

        async def read() -> bool:
            samples.update(await metrics_of(port))
            return LEADER in samples

        await eventually(read, within=60, what=f"the metrics on port {port}")
        return samples

    async def sweeping() -> list[dict[str, float]]:
        return [await metrics(port) for port in ports]

    async def one_leader() -> bool:
        samples = await sweeping()
        return sorted(s[LEADER] for s in samples) == [0, 1]

    await eventually(one_leader, within=60, what="one leader")
    leader = next(i for i, s in enumerate(await sweeping()) if s[LEADER] == 1)
    follower = 1 - leader
    before = await sweeping()

    async def leader_swept_thrice() -> bool:
        return (await metrics(ports[leader])).get(SWEEPS, 0) >= before[leader].get(SWEEPS, 0) + 3

    # However slow a sweep is on a loaded machine, the follower sweeps none meanwhile.
    await eventually(leader_swept_thrice, within=30, what="the leader sweeping")
    after = await sweeping()
    assert after[follower].get(SWEEPS, 0) == 0
    assert after[follower][LEADER] == 0

    kill(reapers[leader])

    async def took_over() -> bool:
        samples = await metrics_of(ports[follower])
        return samples.get(LEADER) == 1 and samples.get(SWEEPS, 0) >= 2

    await eventually(took_over, within=30, what="the other reaper sweeping")
