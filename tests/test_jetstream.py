"""The JetStream adapter and the worker pool against a real nats-server."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo

from devtools.nats import LocalNats
from shared.events import Envelope, new_event
from shared.jetstream import (
    NatsUnavailable,
    connect,
    ensure_consumer,
    ensure_stream,
    publish_event,
)
from shared.outcome import Outcome, PermanentError, TemporaryError
from shared.subjects import ConsumerSpec
from shared.worker import Delivery, WorkerPool
from tests.fixtures.nats import ExternalNats, MakeStream, TestStream

ROOT = Path(__file__).resolve().parents[1]
WORKER_SCRIPT = ROOT / "tests" / "helpers" / "jetstream_worker.py"


def consumer(
    stream: TestStream, ack_wait: float = 30.0, filter_subject: str | None = None
) -> ConsumerSpec:
    return ConsumerSpec(
        durable="worker",
        filter_subject=filter_subject or stream.subject(">"),
        ack_wait=timedelta(seconds=ack_wait),
        max_deliver=10,
        max_ack_pending=1000,
    )


@contextlib.asynccontextmanager
async def running(pool: WorkerPool) -> AsyncIterator[WorkerPool]:
    task = asyncio.create_task(pool.run())
    try:
        yield pool
    finally:
        pool.stop()
        await task


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {within}s")
        await asyncio.sleep(0.05)


async def info(js: JetStreamContext, stream: TestStream, durable: str = "worker") -> ConsumerInfo:
    state: ConsumerInfo = await js.consumer_info(stream.name, durable)
    return state


async def all_acked(js: JetStreamContext, stream: TestStream) -> bool:
    state = await info(js, stream)
    return state.num_pending == 0 and state.num_ack_pending == 0


def requested(store_id: str) -> Envelope:
    return new_event(
        "requested",
        store_id,
        {
            "name": "Shop",
            "slug": "shop",
            "engine": "woocommerce",
            "plan": "small",
            "owner": "user-1",
            "namespace": f"store-{store_id}",
        },
        actor="user-1",
        correlation_id="req-1",
    )


async def test_an_unreachable_nats_raises_nats_unavailable_naming_the_endpoint_only() -> None:
    with pytest.raises(NatsUnavailable) as caught:
        await connect("nats://alice:s3cret@127.0.0.1:1", name="test", connect_timeout=1.0)
    assert "127.0.0.1:1" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert "alice" not in str(caught.value)


async def test_ensuring_the_stream_and_consumer_twice_keeps_one_of_each(
    js: JetStreamContext, js_stream: TestStream
) -> None:
    await ensure_stream(js, js_stream.spec)
    await ensure_consumer(js, js_stream.name, consumer(js_stream, ack_wait=5))
    changed = await ensure_consumer(js, js_stream.name, consumer(js_stream, ack_wait=7))

    assert changed.config.ack_wait == 7
    assert [c.name for c in await js.consumers_info(js_stream.name)] == ["worker"]


async def test_the_same_msg_id_published_twice_is_stored_once(
    js: JetStreamContext, make_stream: MakeStream
) -> None:
    store_id = uuid.uuid4().hex
    stream = await make_stream(subjects=(f"store.*.{store_id}",))
    event = requested(store_id)

    first = await publish_event(js, event, stream=stream.name)
    second = await publish_event(js, event, stream=stream.name)

    assert not first.duplicate
    assert second.duplicate
    assert second.seq == first.seq
    assert (await js.stream_info(stream.name)).state.messages == 1


async def test_an_event_republished_after_the_duplicate_window_is_stored_once_with_once(
    js: JetStreamContext, make_stream: MakeStream
) -> None:
    """A redelivered operation republishes its events with the same ids long after the
    stream's duplicate window (the soak found a pre-upgrade backup's `requested` twice)."""
    store_id = uuid.uuid4().hex
    window = timedelta(seconds=1)
    stream = await make_stream(subjects=(f"store.*.{store_id}",), duplicate_window=window)
    event = requested(store_id)
    first = await publish_event(js, event, stream=stream.name, once=True)
    await asyncio.sleep(3 * window.total_seconds())

    again = await publish_event(js, event, stream=stream.name, once=True)

    assert not first.duplicate
    assert again.duplicate and again.seq == first.seq
    assert (await js.stream_info(stream.name)).state.messages == 1
    # Without `once` the server, its window past, stores it a second time.
    plain = await publish_event(js, event, stream=stream.name)
    assert not plain.duplicate
    assert (await js.stream_info(stream.name)).state.messages == 2


async def test_once_publishes_an_event_whose_subject_holds_another_event(
    js: JetStreamContext, make_stream: MakeStream
) -> None:
    store_id = uuid.uuid4().hex
    stream = await make_stream(subjects=(f"store.*.{store_id}",))
    await publish_event(js, requested(store_id), stream=stream.name, once=True)

    retry = await publish_event(js, requested(store_id), stream=stream.name, once=True)

    assert not retry.duplicate
    assert (await js.stream_info(stream.name)).state.messages == 2


async def test_an_envelope_published_with_publish_event_parses_back_equal(
    js: JetStreamContext, make_stream: MakeStream
) -> None:
    store_id = uuid.uuid4().hex
    stream = await make_stream(subjects=(f"store.*.{store_id}",))
    spec = consumer(stream, filter_subject=f"store.*.{store_id}")
    await ensure_consumer(js, stream.name, spec)
    event = requested(store_id)
    received: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()

    async def handle(delivery: Delivery) -> Outcome:
        received.set_result(delivery)
        return Outcome.ack()

    await publish_event(js, event, stream=stream.name)
    async with running(WorkerPool(js, stream.name, "worker", handle, fetch_timeout=0.5)):
        delivery = await asyncio.wait_for(received, 10)

    assert delivery.subject == f"store.requested.{store_id}"
    assert delivery.headers["Nats-Msg-Id"] == event.id
    assert delivery.event() == event


async def test_a_temporary_error_is_redelivered_after_its_delay(
    js: JetStreamContext, js_stream: TestStream
) -> None:
    await ensure_consumer(js, js_stream.name, consumer(js_stream))
    deliveries: list[tuple[float, int]] = []

    async def handle(delivery: Delivery) -> Outcome:
        deliveries.append((time.monotonic(), delivery.num_delivered))
        if len(deliveries) == 1:
            raise TemporaryError("the API server is busy", delay=1.0)
        return Outcome.ack()

    await js.publish(js_stream.subject("job"), b"one")
    async with running(WorkerPool(js, js_stream.name, "worker", handle, fetch_timeout=0.5)):
        await eventually(lambda: all_acked(js, js_stream))

    assert [n for _, n in deliveries] == [1, 2]
    assert deliveries[1][0] - deliveries[0][0] >= 0.9


async def test_a_permanent_error_is_not_redelivered(
    js: JetStreamContext, js_stream: TestStream
) -> None:
    await ensure_consumer(js, js_stream.name, consumer(js_stream, ack_wait=1.0))
    deliveries: list[int] = []

    async def handle(delivery: Delivery) -> Outcome:
        deliveries.append(delivery.num_delivered)
        raise PermanentError("the engine does not exist")

    await js.publish(js_stream.subject("job"), b"one")
    async with running(WorkerPool(js, js_stream.name, "worker", handle, fetch_timeout=0.5)):
        await eventually(lambda: _nonempty(deliveries))
        await asyncio.sleep(2.5)  # more than twice the ack wait

    assert deliveries == [1]
    state = await info(js, js_stream)
    assert state.num_ack_pending == 0
    assert state.num_redelivered == 0


async def test_a_message_whose_workers_died_on_every_allowed_delivery_still_reaches_a_handler(
    js: JetStreamContext, js_stream: TestStream
) -> None:
    """Handlers give up at the spec's `max_deliver` and publish the failure; a worker
    killed while holding that last delivery must not end the operation silently."""
    spec = dataclasses.replace(consumer(js_stream, ack_wait=1.0), max_deliver=2)
    await ensure_consumer(js, js_stream.name, spec)
    await js.publish(js_stream.subject("job"), b"one")
    dead = await js.pull_subscribe_bind("worker", stream=js_stream.name)
    for attempt in (1, 2):  # taken and never acked: the worker died holding it
        (held,) = await dead.fetch(1, timeout=5)
        assert held.metadata.num_delivered == attempt
    await dead.unsubscribe()
    deliveries: list[int] = []

    async def handle(delivery: Delivery) -> Outcome:
        deliveries.append(delivery.num_delivered)
        return Outcome.ack()  # a real handler over budget publishes the failure here

    async with running(WorkerPool(js, js_stream.name, "worker", handle, fetch_timeout=0.5)):
        await eventually(lambda: all_acked(js, js_stream))

    assert deliveries == [3]


async def _nonempty(deliveries: list[int]) -> bool:
    return bool(deliveries)


async def test_a_handler_working_for_three_ack_waits_is_kept_alive_and_not_redelivered(
    js: JetStreamContext, js_stream: TestStream
) -> None:
    await ensure_consumer(js, js_stream.name, consumer(js_stream, ack_wait=1.0))
    deliveries: list[int] = []

    async def handle(delivery: Delivery) -> Outcome:
        deliveries.append(delivery.num_delivered)
        await asyncio.sleep(3.5)
        return Outcome.ack()

    await js.publish(js_stream.subject("job"), b"slow")
    async with running(WorkerPool(js, js_stream.name, "worker", handle, fetch_timeout=0.5)):
        await eventually(lambda: all_acked(js, js_stream))
        await asyncio.sleep(1.5)  # a redelivery, had there been one, would show by now

    assert deliveries == [1]
    state = await info(js, js_stream)
    assert state.num_ack_pending == 0
    assert state.num_redelivered == 0


async def test_a_pool_of_n_workers_holds_n_messages_at_once_and_no_more(
    js: JetStreamContext, js_stream: TestStream
) -> None:
    n = 4
    await ensure_consumer(js, js_stream.name, consumer(js_stream))
    inside = peak = handled = 0
    all_inside, release = asyncio.Event(), asyncio.Event()

    async def handle(delivery: Delivery) -> Outcome:
        nonlocal inside, peak, handled
        inside += 1
        peak = max(peak, inside)
        if inside == n:
            all_inside.set()
        await release.wait()
        inside -= 1
        handled += 1
        return Outcome.ack()

    for i in range(2 * n):
        await js.publish(js_stream.subject("job", str(i)), b"x")
    pool = WorkerPool(
        js, js_stream.name, "worker", handle, concurrency=n, fetch_timeout=0.5, grace=1.0
    )
    async with running(pool):
        # A serial pool never has n handlers inside at once, so this would time out.
        await asyncio.wait_for(all_inside.wait(), 10)
        await asyncio.sleep(0.3)  # room for an over-eager fetch to show up
        held = await info(js, js_stream)
        release.set()
        await eventually(lambda: all_acked(js, js_stream))

    assert held.num_ack_pending == n
    assert held.num_pending == n
    assert peak == n
    assert handled == 2 * n


@pytest.mark.parametrize(
    ("grace", "handed_back"),
    [(10.0, False), (0.05, True)],
    ids=["in-flight-finish-within-grace", "in-flight-handed-back-after-grace"],
)
async def test_sigterm_during_work_loses_no_message(
    js: JetStreamContext,
    js_stream: TestStream,
    nats_server: LocalNats | ExternalNats,
    tmp_path: Path,
    grace: float,
    handed_back: bool,
) -> None:
    # A long ack wait: only acks and hand-back naks can finish this in time, never a
    # redelivery after an ack timeout.
    await ensure_consumer(js, js_stream.name, consumer(js_stream, ack_wait=60.0))
    ids = {f"msg-{i:02d}" for i in range(30)}
    for message_id in sorted(ids):
        await js.publish(js_stream.subject("job", message_id), message_id.encode())
    record = tmp_path / "processed.txt"
    url = nats_server.url

    first = _start_worker(url, js_stream, record, tmp_path / "first.log", grace, work=0.5)
    try:
        # A fifth start means a second round of handlers is inside its 0.5 s of work.
        await eventually(lambda: _started_at_least(record, 5), within=15)
        first.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(first.wait, 15) == 0
    finally:
        _kill(first)
    assert len(_recorded(record, "done")) < len(ids), "the worker finished before SIGTERM"
    first_log = (tmp_path / "first.log").read_text()
    assert "waiting for in-flight handlers" in first_log
    assert ("handed back unfinished messages" in first_log) == handed_back

    second = _start_worker(url, js_stream, record, tmp_path / "second.log", 10.0, work=0.01)
    try:
        await eventually(lambda: all_acked(js, js_stream), within=20)
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.to_thread(second.wait, 15)
        _kill(second)

    assert _recorded(record, "done") == ids
    assert (await info(js, js_stream)).num_ack_pending == 0


def _start_worker(
    url: str, stream: TestStream, record: Path, log: Path, grace: float, work: float
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, str(WORKER_SCRIPT), url, stream.name, "worker", str(record)]
    argv += ["--work", str(work), "--concurrency", "4", "--grace", str(grace)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def _recorded(record: Path, what: str) -> set[str]:
    lines = record.read_text().splitlines() if record.exists() else []
    return {line.split()[1] for line in lines if line.startswith(f"{what} ")}


async def _started_at_least(record: Path, count: int) -> bool:
    return len(_recorded(record, "started")) >= count


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)
