"""The auditor as a process: killed with SIGKILL in the middle of a flood it loses and
duplicates nothing, and `python -m services.auditor rebuild` gives back exactly the
projection the live auditor built."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from devtools import procs
from devtools.launcher import ROOT, service_argv, start_service
from shared.db_roles import Login, dsn_as
from shared.events import Envelope
from tests.auditor.lifecycle import (
    audit_log,
    consumer_caught_up,
    event,
    eventually,
    lifecycle,
    projection,
    publish_all,
    publish_burst,
    running_auditor,
    store_id,
)
from tests.fixtures.nats import TestStream


def start_auditor(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return start_service("auditor", log, env)


async def stored(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM store_events"))


async def at_least(pool: asyncpg.Pool, count: int) -> bool:
    return await stored(pool) >= count


async def test_killing_the_auditor_mid_batch_in_a_flood_of_events_loses_and_duplicates_nothing(
    js: JetStreamContext,
    stream: TestStream,
    pool: asyncpg.Pool,
    auditor_env: dict[str, str],
    tmp_path: Path,
) -> None:
    events: list[Envelope] = []
    for _ in range(1000):
        events += lifecycle(store_id())
    first = start_auditor(auditor_env, tmp_path / "first.log")
    second = None
    flood = asyncio.create_task(publish_burst(js, stream.name, events, window=500))
    try:
        await eventually(lambda: at_least(pool, 2000), within=60, what="2,000 events stored")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        in_hand = (await js.consumer_info(stream.name, "auditor")).num_ack_pending
        killed_at = await stored(pool)
        second = start_auditor(auditor_env, tmp_path / "second.log")
        await flood
        assert killed_at < len(events), "killed after the flood"
        assert in_hand > 0, "killed between batches"

        await eventually(
            lambda: consumer_caught_up(js, stream.name),
            within=120,
            what="the restarted auditor caught up",
        )
    finally:
        flood.cancel()
        for proc in (first, second):
            if proc is not None:
                procs.stop(proc)

    state = (await js.stream_info(stream.name)).state
    rows = await pool.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT stream_seq) AS seqs, min(stream_seq) AS lo,"
        " max(stream_seq) AS hi FROM store_events"
    )
    assert state.messages == len(events)
    assert rows["n"] == rows["seqs"] == state.messages
    assert (rows["lo"], rows["hi"]) == (state.first_seq, state.last_seq)
    assert rows["hi"] - rows["lo"] + 1 == rows["n"]  # no gaps
    assert await pool.fetchval("SELECT count(*) FROM store_states WHERE status = 'deleted'") == 1000


def varied_lives() -> list[Envelope]:
    """Stores in every state, a failed attempt retried, and a ready arriving after deleting."""
    t0 = datetime.now(UTC) - timedelta(hours=1)
    events: list[Envelope] = []
    for n in range(120):
        life = lifecycle(store_id(), t0 + timedelta(seconds=n), delete=n % 3 == 0)
        sid, at = life[0].store_id, life[5].occurred_at
        if n % 4 == 1:  # failed, then retried
            life[6:6] = [
                event("failed", sid, at=at),
                event("requested", sid, life[0].data.model_dump(), at=at),
                event("provisioning", sid, at=at),
            ]
        if n % 5 == 2:  # still on its way
            life = life[: 1 + n % 3]
        if n % 6 == 5:  # failed for good
            life = [*life[:3], event("failed", sid, at=at)]
        if n % 7 == 3:  # the provisioner finished after the user deleted the store
            life = [
                *life[:5],
                event("delete", sid, at=at),
                event("deleting", sid, at=at),
                event("ready", sid, at=at),
            ]
        events += life
    return events


async def run_rebuild(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *service_argv("auditor", "rebuild", *args),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode()


async def test_the_projection_after_rebuild_equals_the_live_one(
    nc: NATS,
    js: JetStreamContext,
    stream: TestStream,
    pool: asyncpg.Pool,
    other_pool: asyncpg.Pool,
    other_database_url: str,
    auditor_env: dict[str, str],
    service_logins: dict[str, Login],
    migrated_database_url: str,
) -> None:
    events = varied_lives()
    async with running_auditor(nc, pool, stream.name, batch_size=37):
        for i in range(0, len(events), 90):
            await publish_all(js, stream.name, events[i : i + 90])
        await eventually(lambda: consumer_caught_up(js, stream.name), what="auditor caught up")
    live, live_log = await projection(pool), await audit_log(pool)
    assert {row["status"] for row in live} == {
        "requested",
        "provisioning",
        "ready",
        "failed",
        "deleting",
        "deleted",
    }

    other_as_auditor = dsn_as(other_database_url, service_logins["auditor"])
    code, out = await run_rebuild({**auditor_env, "STOREFLEET_DATABASE_URL": other_as_auditor})
    assert code == 0, out
    assert await projection(other_pool) == live
    assert await audit_log(other_pool) == live_log

    code, out = await run_rebuild(auditor_env)
    assert code == 2 and "not empty" in out

    # Emptying the audit log is the migration owner's (migration 0007), not the auditor's.
    as_owner = {**auditor_env, "STOREFLEET_DATABASE_URL": migrated_database_url}
    code, out = await run_rebuild(as_owner, "--in-place")
    assert code == 0, out
    assert await projection(pool) == live
    assert await audit_log(pool) == live_log
