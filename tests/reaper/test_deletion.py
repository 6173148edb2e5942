"""The reaper deleting store namespaces on a real control plane, with real NATS and
Postgres: the events it publishes, what it does when the namespace is already gone or
stuck, and what it never deletes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest
from kubernetes_asyncio.client import ApiClient
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from services.reaper.deletion import DeletionHandler, DeletionTiming, Publish
from services.reaper.namespaces import Namespaces, NotAStoreNamespace
from services.reaper.records import Records
from services.reaper.sweep_plan import SweepPolicy
from services.reaper.sweeper import Sweeper, SweeperLock
from shared.outcome import Verdict
from shared.worker import Delivery, WorkerPool
from tests.auditor.lifecycle import (
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
from tests.reaper.conftest import (
    HOLD,
    MakeNamespace,
    MakeSweeper,
    StartReaper,
    kill,
    namespace_name,
    release,
    store_labels,
)

pytestmark = pytest.mark.cluster


@contextlib.asynccontextmanager
async def running_reaper(
    js: JetStreamContext, stream: TestStream, handler: DeletionHandler
) -> AsyncIterator[WorkerPool]:
    pool = WorkerPool(js, stream.name, "reaper", handler, fetch_timeout=0.3, grace=5)
    task = asyncio.create_task(pool.run())
    try:
        yield pool
    finally:
        pool.stop()
        await task


async def delivery_of(js: JetStreamContext, stream: TestStream, sid: str) -> Delivery:
    """The store's `delete` message as a (re)delivery to the handler."""
    msg = await js.get_last_msg(stream.name, f"store.delete.{sid}")
    return Delivery(
        subject=msg.subject, data=msg.data or b"", num_delivered=2, stream_seq=msg.seq or 0
    )


async def test_a_delete_request_removes_the_namespace_and_publishes_deleting_then_deleted(
    nc: NATS,
    js: JetStreamContext,
    stream: TestStream,
    pool: asyncpg.Pool,
    handler: DeletionHandler,
    make_namespace: MakeNamespace,
    namespaces: Namespaces,
) -> None:
    sid, name = store_id(), namespace_name()
    await make_namespace(name, store_labels(sid))
    await publish_all(js, stream.name, [requested(sid, namespace=name)])

    async with running_auditor(nc, pool, stream.name), running_reaper(js, stream, handler):
        await publish_all(js, stream.name, [event("delete", sid)])
        await eventually(lambda: status_is(pool, sid, "deleted"), within=60, what="deleted")

    assert not await namespaces.exists(name)
    events = await events_of(js, stream.name, sid)
    assert [e.type for e in events] == ["requested", "delete", "deleting", "deleted"]
    assert events[2].data.namespace == events[3].data.namespace == name  # type: ignore[attr-defined]
    assert {e.actor for e in events[2:]} == {"reaper"}


async def test_a_delete_for_a_namespace_already_gone_goes_straight_to_deleted_once(
    js: JetStreamContext,
    stream: TestStream,
    handler: DeletionHandler,
) -> None:
    sid, name = store_id(), namespace_name()
    await publish_all(js, stream.name, [requested(sid, namespace=name), event("delete", sid)])
    delivery = await delivery_of(js, stream, sid)

    first = await handler(delivery)
    again = await handler(delivery)  # a redelivery

    assert first.verdict is again.verdict is Verdict.ACK
    events = await events_of(js, stream.name, sid)
    assert [e.type for e in events] == ["requested", "delete", "deleted"]
    assert events[-1].data.namespace == name  # type: ignore[attr-defined]


async def test_a_namespace_named_like_a_store_but_not_labeled_as_it_survives_every_reaper_action(
    nc: NATS,
    js: JetStreamContext,
    stream: TestStream,
    pool: asyncpg.Pool,
    handler: DeletionHandler,
    make_namespace: MakeNamespace,
    namespaces: Namespaces,
    make_sweeper: MakeSweeper,
) -> None:
    sid, other = store_id(), store_id()
    bare = await make_namespace(namespace_name("bare"))
    no_manager = await make_namespace(namespace_name("nomgr"), {"storefleet.io/store-id": sid})
    foreign = await make_namespace(namespace_name("foreign"), store_labels(other))
    await publish_all(
        js,
        stream.name,
        [
            requested(sid, namespace=bare),
            requested(other, namespace=foreign),
            event("provisioning", other),
            event("ready", other),
        ],
    )
    sweeper = make_sweeper(interval=0.2)

    async with running_auditor(nc, pool, stream.name), running_reaper(js, stream, handler):
        await publish_all(js, stream.name, [event("delete", sid)])
        await eventually(lambda: status_is(pool, sid, "deleted"), within=30, what="deleted")
        for _ in range(2):  # orphans and stuck stores, with every deadline already passed
            await sweeper.sweep_once()
        await asyncio.sleep(2)  # whatever the sweeps asked for has been handled

    for name in (bare, no_manager, foreign):
        survivor = await namespaces.read(name)
        assert survivor is not None and not survivor.terminating, name
        with pytest.raises(NotAStoreNamespace):
            await namespaces.delete(survivor, sid)
    assert await status_is(pool, other, "ready")


async def test_a_namespace_held_by_a_finalizer_is_retried_and_reported_with_what_holds_it(
    js: JetStreamContext,
    stream: TestStream,
    kube_api: ApiClient,
    make_namespace: MakeNamespace,
    namespaces: Namespaces,
    records: Records,
    handler: DeletionHandler,
    publish: Publish,
    policy: SweepPolicy,
    migrated_database_url: str,
) -> None:
    sid, name = store_id(), namespace_name()
    await make_namespace(name, store_labels(sid), held=True)
    await publish_all(js, stream.name, [requested(sid, namespace=name), event("delete", sid)])
    impatient = DeletionHandler(
        namespaces,
        records,
        publish,
        timing=DeletionTiming(wait_seconds=2, poll_seconds=0.2),
    )

    outcome = await impatient(await delivery_of(js, stream, sid))

    async def holders_known() -> bool:
        current = await namespaces.read(name)
        return current is not None and any(HOLD in h for h in current.holders)

    await eventually(holders_known, within=30, what="the API server names the finalizer")
    report = await Sweeper(
        SweeperLock(migrated_database_url), namespaces, records, publish, policy, 1
    ).sweep_once()

    assert outcome.verdict is Verdict.RETRY
    assert name in outcome.reason and "still terminating" in outcome.reason
    [stuck] = [ns for ns in report.plan.terminating if ns.name == name]
    assert any("storefleet.io/test-hold" in holder for holder in stuck.holders), stuck.holders
    assert [e.type for e in await events_of(js, stream.name, sid)][-1] == "deleting"

    await release(kube_api, name)
    outcome = await handler(await delivery_of(js, stream, sid))
    assert outcome.verdict is Verdict.ACK
    assert not await namespaces.exists(name)
    assert [e.type for e in await events_of(js, stream.name, sid)][-2:] == ["deleting", "deleted"]


async def test_a_reaper_killed_in_mid_deletion_finishes_the_job_after_a_restart(
    nc: NATS,
    js: JetStreamContext,
    stream: TestStream,
    pool: asyncpg.Pool,
    kube_api: ApiClient,
    make_namespace: MakeNamespace,
    namespaces: Namespaces,
    start_reaper: StartReaper,
) -> None:
    sid, name = store_id(), namespace_name()
    await make_namespace(name, store_labels(sid), held=True)
    await publish_all(js, stream.name, [requested(sid, namespace=name)])

    async def deletion_underway() -> bool:
        current = await namespaces.read(name)
        kinds = [e.type for e in await events_of(js, stream.name, sid)]
        return current is not None and current.terminating and "deleting" in kinds

    async with running_auditor(nc, pool, stream.name):
        first = start_reaper("first")
        await publish_all(js, stream.name, [event("delete", sid)])
        await eventually(deletion_underway, within=60, what="deletion under way")
        kill(first)
        start_reaper("second")
        await asyncio.sleep(1)
        await release(kube_api, name)  # the world moves on while the new reaper takes over
        await eventually(lambda: status_is(pool, sid, "deleted"), within=90, what="deleted")

    assert not await namespaces.exists(name)
    kinds = [e.type for e in await events_of(js, stream.name, sid)]
    assert kinds.count("deleting") == 1
    assert kinds.count("deleted") == 1
