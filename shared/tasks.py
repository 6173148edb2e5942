"""Background tasks that end: start one under a name for as long as a block runs, run a
service's work until it is told to stop, and stop tasks by cancelling them and waiting
no longer than a deadline.

Called by every service: the gateway's outbox relay (`background`), the provisioner's
status watch and pending gauge (`background`) and worker pool (`run_until_stopped`), the
auditor's and the reaper's main (`run_until_stopped`), the auditor's consumer and
`shared.worker` (`stop_tasks`). Emits only structlog records.

Two rules hold throughout. Waiting is done with `asyncio.wait`, which leaves the awaited
task alone, so a cancellation aimed at the caller always reaches the caller; and a task
that is still running once its deadline has passed is logged by name and left behind,
never awaited forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog

log = structlog.get_logger(__name__)

# How long a cancelled task may take to run its cleanup before it is reported as stuck.
CANCEL_DEADLINE = 5.0
# On Python 3.11 `asyncio.wait_for` inside a library (nats-py's request/reply, which a
# JetStream publish uses) returns a reply that raced a cancellation and drops the
# cancellation, so a task can miss one: it is cancelled again this often until it ends.
RECANCEL_EVERY = 1.0

Work = Coroutine[Any, Any, None]


async def stop_tasks(*tasks: asyncio.Task[Any], deadline: float = CANCEL_DEADLINE) -> None:
    """Cancel `tasks`, again every `RECANCEL_EVERY` seconds, until they end or `deadline`
    seconds have passed.

    Those still running then are logged and left. Re-raises the first exception a task
    ended with, unless the caller itself is being cancelled (its cancellation comes
    first; the failures are logged instead).
    """
    loop = asyncio.get_running_loop()
    until = loop.time() + deadline
    running = {task for task in tasks if not task.done()}
    while running and (left := until - loop.time()) > 0:
        for task in running:
            task.cancel()
        _, running = await asyncio.wait(running, timeout=min(left, RECANCEL_EVERY))
    for task in running:
        log.error("task ignored its cancellation; left running", task=task.get_name())
    _raise_first_failure(tasks)


@asynccontextmanager
async def background(work: Work, name: str) -> AsyncIterator[asyncio.Task[None]]:
    """Run `work` as a task named `name` while the block runs; stop it on the way out."""
    task = asyncio.create_task(work, name=name)
    try:
        yield task
    finally:
        await stop_tasks(task)


async def run_until_stopped(
    stopping: asyncio.Event,
    work: Mapping[str, Work],
    stop: Callable[[], None],
    grace: float,
) -> None:
    """Run each named coroutine of `work` until one of them ends or `stopping` is set.

    Then `stop()` asks the rest to finish, and they get `grace` seconds to do so; what
    is still running after that is cancelled. Re-raises the first failure.
    """
    tasks = [asyncio.create_task(coro, name=name) for name, coro in work.items()]
    signal = asyncio.create_task(stopping.wait(), name="stop signal")
    try:
        await asyncio.wait({*tasks, signal}, return_when=asyncio.FIRST_COMPLETED)
        stop()
        _, late = await asyncio.wait(tasks, timeout=grace)
        if late:
            names = sorted(task.get_name() for task in late)
            log.warning("work did not finish after stop; cancelling", tasks=names)
    finally:
        await stop_tasks(signal, *tasks)


def _raise_first_failure(tasks: tuple[asyncio.Task[Any], ...]) -> None:
    failures = [
        (task, exc)
        for task in tasks
        if task.done() and not task.cancelled() and (exc := task.exception()) is not None
    ]
    if not failures:
        return
    current = asyncio.current_task()
    cancelled = current is not None and current.cancelling() > 0
    # Only one exception can be raised: the others are logged rather than lost.
    for task, exc in failures if cancelled else failures[1:]:
        log.error("task failed", task=task.get_name(), exc_info=exc)
    if not cancelled:
        raise failures[0][1]
