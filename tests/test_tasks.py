"""`shared.tasks`: background tasks stop within their deadline, a stuck one is reported
instead of awaited forever, and a cancellation aimed at the caller is never swallowed."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from shared.tasks import background, run_until_stopped, stop_tasks


async def _forever() -> None:
    await asyncio.Event().wait()


async def _ignores_cancel(release: asyncio.Event) -> None:
    """Keeps running through every cancellation until `release` is set."""
    while not release.is_set():
        try:
            await release.wait()
        except asyncio.CancelledError:
            continue


async def test_stopping_a_task_cancels_it_and_returns_once_it_ended() -> None:
    task = asyncio.create_task(_forever(), name="idle")
    await asyncio.sleep(0)
    await stop_tasks(task, deadline=5.0)
    assert task.cancelled()


async def test_a_task_that_ignores_its_cancellation_is_reported_after_the_deadline() -> None:
    release = asyncio.Event()
    task = asyncio.create_task(_ignores_cancel(release), name="stubborn")
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with capture_logs() as logs:
            await stop_tasks(task, deadline=0.3)
        assert 0.3 <= loop.time() - started < 2.0
        assert not task.done()
        assert [e["task"] for e in logs if e["log_level"] == "error"] == ["stubborn"]
    finally:
        release.set()
        await task


async def test_a_task_that_misses_one_cancellation_is_cancelled_again() -> None:
    missed = 0

    async def misses_one() -> None:
        nonlocal missed
        while True:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                if missed:
                    raise
                missed += 1  # as a library's wait_for does when a reply races the cancel

    task = asyncio.create_task(misses_one(), name="misses one")
    await asyncio.sleep(0)
    await stop_tasks(task, deadline=5.0)
    assert missed == 1
    assert task.cancelled()


async def test_a_cancellation_aimed_at_the_caller_propagates_while_it_waits() -> None:
    release = asyncio.Event()
    stubborn = asyncio.create_task(_ignores_cancel(release), name="stubborn")
    await asyncio.sleep(0)
    caller = asyncio.create_task(stop_tasks(stubborn, deadline=30.0), name="caller")
    await asyncio.sleep(0.05)
    caller.cancel()
    try:
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert caller.cancelled()
    finally:
        release.set()
        await stubborn


async def test_a_task_that_failed_has_its_error_raised_when_stopped() -> None:
    async def fails() -> None:
        raise RuntimeError("broken")

    task = asyncio.create_task(fails(), name="failing")
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="broken"):
        await stop_tasks(task)


async def test_a_background_task_runs_during_the_block_and_is_stopped_after_it() -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async with background(tick(), "ticker") as task:
        await asyncio.sleep(0.1)
        assert not task.done()
    assert task.cancelled()
    counted = ticks
    await asyncio.sleep(0.05)
    assert ticks == counted > 1


async def test_work_stops_when_told_to_and_finishes_what_it_was_doing() -> None:
    stopping, asked = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def worker() -> None:
        await asked.wait()
        await asyncio.sleep(0.05)  # the in-flight part
        finished.append("worker")

    runner = asyncio.create_task(
        run_until_stopped(stopping, {"worker": worker()}, asked.set, grace=5.0)
    )
    await asyncio.sleep(0.05)
    assert not runner.done()
    stopping.set()
    await runner
    assert finished == ["worker"]


async def test_work_that_does_not_finish_within_the_grace_period_is_cancelled() -> None:
    stopping = asyncio.Event()
    stopping.set()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with capture_logs() as logs:
        await run_until_stopped(stopping, {"slow": _forever()}, lambda: None, grace=0.2)
    assert loop.time() - started < 2.0
    assert any(e.get("tasks") == ["slow"] for e in logs)


async def test_work_that_crashes_ends_the_run_and_its_error_is_raised() -> None:
    stopping, asked = asyncio.Event(), asyncio.Event()

    async def crashes() -> None:
        raise RuntimeError("crashed")

    async def other() -> None:
        await asked.wait()

    with pytest.raises(RuntimeError, match="crashed"):
        await run_until_stopped(
            stopping, {"crashes": crashes(), "other": other()}, asked.set, grace=5.0
        )
    assert asked.is_set()


async def test_a_failure_does_not_replace_a_cancellation_of_the_caller() -> None:
    started = asyncio.Event()

    async def fails_on_cancel() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    runner = asyncio.create_task(
        run_until_stopped(asyncio.Event(), {"fragile": fails_on_cancel()}, lambda: None, 5.0)
    )
    await started.wait()
    with capture_logs() as logs:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
    assert [e["task"] for e in logs if e["log_level"] == "error"] == ["fragile"]
