"""The rollout driver against real Postgres (rows folded by the real auditor from real
events) and real NATS, over 50 stores, with the test playing the provisioner: for each
`upgrade.requested` the driver publishes, it publishes `upgrade.started` and then
`upgrade.completed` (or `upgrade.rolled_back` for a bad version) on the stream.

A good version completes all four waves with every store upgraded; a bad one stops after
its canary with nothing of a later wave requested; max_concurrent is never exceeded; a
reaper SIGKILLed at random moments and started again asks for no store under two
operation ids and ends the same way."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from services.reaper.deletion import Publish
from services.reaper.rollout_records import RolloutRecords
from services.reaper.rollouts import ROLLOUT_LOCK_KEY, RolloutDriver
from services.reaper.sweeper import SweeperLock
from shared.engine_versions import parse_versions
from shared.events import new_event
from shared.jetstream import publish_event
from tests.auditor.lifecycle import event, eventually, requested, running_auditor
from tests.fixtures.nats import TestStream
from tests.reaper.conftest import StartReaper, kill

VERSIONS = """
default: "1.0"
versions:
  "1.0": {}
  "2.0": {upgrades_from: ["1.0"]}
  "2.1-bad": {upgrades_from: ["1.0"]}
"""
FLEET = 50
ADMIN = "00000000-0000-0000-0000-0000000000ad"


@dataclass
class Provisioner:
    """Answers each stored `upgrade.requested` like the provisioner's `upgrades` consumer,
    counting the upgrades in flight at once and every operation id per store."""

    js: JetStreamContext
    stream: str
    bad: frozenset[str] = frozenset({"2.1-bad"})
    in_flight: int = 0
    most_in_flight: int = 0
    operations: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def run(self) -> None:
        sub = await self.js.pull_subscribe_bind("upgrades", stream=self.stream)
        while True:
            try:
                msgs = await sub.fetch(20, timeout=0.2)
            except TimeoutError:
                continue
            for msg in msgs:
                await msg.ack()
                body = json.loads(msg.data)
                task = asyncio.create_task(self.upgrade(body["store_id"], body["data"]))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    async def upgrade(self, sid: str, asked: dict[str, str]) -> None:
        self.operations[sid].add(asked["operation_id"])
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            op = asked["operation_id"]
            data = {"operation_id": op, "version": asked["version"]}
            data["previous_version"] = asked["previous_version"]
            await self.send("upgrade.started", sid, data | {"pre_upgrade_backup_id": op})
            await asyncio.sleep(random.uniform(0.05, 0.3))
            if asked["version"] in self.bad:
                extra = {"code": "health_gate", "reason": "checkout broke", "seconds": 1.0}
                await self.send("upgrade.rolled_back", sid, data | extra)
            else:
                await self.send("upgrade.completed", sid, data | {"seconds": 1.0})
        finally:
            self.in_flight -= 1

    async def send(self, kind: str, sid: str, data: dict[str, object]) -> None:
        envelope = new_event(kind, sid, data, actor="provisioner", correlation_id="test")
        await publish_event(self.js, envelope, stream=self.stream)


@pytest.fixture
async def provisioner(js: JetStreamContext, stream: TestStream) -> AsyncIterator[Provisioner]:
    fake = Provisioner(js, stream.name)
    task = asyncio.create_task(fake.run())
    yield fake
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for t in list(fake.tasks):
        t.cancel()
    await asyncio.gather(*fake.tasks, return_exceptions=True)


@pytest.fixture
async def fleet(
    nc: NATS, js: JetStreamContext, stream: TestStream, pool: asyncpg.Pool
) -> AsyncIterator[list[str]]:
    """50 ready woocommerce stores on 1.0 (and 3 on 0.9, which no rollout may take), with
    the auditor folding every event while the test runs."""
    async with running_auditor(nc, pool, stream.name):
        ids = []
        for n in range(FLEET + 3):
            sid = str(uuid.uuid4())
            first = requested(sid)
            data = first.data.model_dump() | {"engine_version": "1.0" if n < FLEET else "0.9"}
            await publish_event(
                js,
                new_event("requested", sid, data, actor="u", correlation_id="c"),
                stream=stream.name,
            )
            await publish_event(js, event("ready", sid), stream=stream.name)
            ids.append(sid)

        async def all_ready() -> bool:
            n = await pool.fetchval("SELECT count(*) FROM store_states WHERE status = 'ready'")
            return bool(n == FLEET + 3)

        await eventually(all_ready, within=30, what="the fleet folded")
        yield ids[:FLEET]


async def new_rollout(pool: asyncpg.Pool, version: str, max_concurrent: int = 5) -> str:
    rid = str(uuid.uuid4())
    await pool.execute(
        "INSERT INTO rollouts (id, engine, target_version, waves, max_concurrent,"
        " failure_threshold, pause_seconds, created_by)"
        " VALUES ($1, 'woocommerce', $2, $3, $4, 0, 0, $5)",
        rid,
        version,
        ["1", "5%", "25%", "100%"],
        max_concurrent,
        ADMIN,
    )
    return rid


@pytest.fixture
def make_driver(
    service_database_urls: dict[str, str], reaper_pool: asyncpg.Pool, publish: Publish
) -> Callable[[], RolloutDriver]:
    def make() -> RolloutDriver:
        lock = SweeperLock(service_database_urls["reaper"], key=ROLLOUT_LOCK_KEY)
        versions = parse_versions(VERSIONS)
        return RolloutDriver(lock, RolloutRecords(reaper_pool), publish, lambda _: versions, 0.1)

    return make


async def ended(pool: asyncpg.Pool, rid: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(
            await pool.fetchval("SELECT ended_at IS NOT NULL FROM rollouts WHERE id = $1", rid)
        )

    return check


async def member_states(pool: asyncpg.Pool, rid: str) -> dict[tuple[int | None, str], int]:
    rows = await pool.fetch(
        "SELECT wave, state, count(*) AS n FROM rollout_stores WHERE rollout_id = $1"
        " GROUP BY wave, state",
        rid,
    )
    return {(r["wave"], r["state"]): r["n"] for r in rows}


async def run_until_ended(driver: RolloutDriver, pool: asyncpg.Pool, rid: str) -> None:
    stopping = asyncio.Event()
    task = asyncio.create_task(driver.run(stopping))
    try:
        await eventually(await ended(pool, rid), within=90, what="the rollout ended")
    finally:
        stopping.set()
        await task


async def test_a_good_version_completes_every_wave_and_never_exceeds_max_concurrent(
    fleet: list[str],
    provisioner: Provisioner,
    pool: asyncpg.Pool,
    make_driver: Callable[[], RolloutDriver],
) -> None:
    rid = await new_rollout(pool, "2.0", max_concurrent=5)

    await run_until_ended(make_driver(), pool, rid)

    row = await pool.fetchrow("SELECT state, current_wave FROM rollouts WHERE id = $1", rid)
    assert (row["state"], row["current_wave"]) == ("completed", 3)
    assert await member_states(pool, rid) == {
        (0, "completed"): 1,
        (1, "completed"): 2,
        (2, "completed"): 10,
        (3, "completed"): 37,
        (None, "skipped"): 3,
    }
    on_new = await pool.fetchval(
        "SELECT count(*) FROM store_states WHERE engine_version = '2.0' AND status = 'ready'"
    )
    assert on_new == FLEET
    assert 1 < provisioner.most_in_flight <= 5
    assert all(len(ops) == 1 for ops in provisioner.operations.values())


async def test_a_bad_version_stops_after_its_canary_and_asks_for_no_later_store(
    fleet: list[str],
    provisioner: Provisioner,
    pool: asyncpg.Pool,
    make_driver: Callable[[], RolloutDriver],
) -> None:
    rid = await new_rollout(pool, "2.1-bad")

    await run_until_ended(make_driver(), pool, rid)

    row = await pool.fetchrow("SELECT state, reason FROM rollouts WHERE id = $1", rid)
    assert row["state"] == "stopped" and "1 of 1" in row["reason"]
    states = await member_states(pool, rid)
    assert states[(0, "rolled_back")] == 1
    assert states[(1, "pending")] + states[(2, "pending")] + states[(3, "pending")] == 49
    assert len(provisioner.operations) == 1
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM store_states WHERE engine_version = '1.0' AND status = 'ready'"
        )
        == FLEET
    )


async def test_a_reaper_killed_at_random_moments_asks_no_store_twice_and_completes(
    fleet: list[str],
    provisioner: Provisioner,
    pool: asyncpg.Pool,
    start_reaper: StartReaper,
    tmp_path: Path,
) -> None:
    charts = tmp_path / "charts"
    (charts / "woocommerce").mkdir(parents=True)
    (charts / "woocommerce" / "versions.yaml").write_text(VERSIONS)
    rid = await new_rollout(pool, "2.0", max_concurrent=4)
    settings = {"rollout_pass_seconds": "0.1", "charts_dir": str(charts)}
    check = await ended(pool, rid)

    for _ in range(8):
        proc = start_reaper(**settings)
        await asyncio.sleep(random.uniform(1.0, 3.0))
        kill(proc)
        if await check():
            break
    start_reaper(**settings)
    await eventually(check, within=90, what="the rollout ended")

    assert await pool.fetchval("SELECT state FROM rollouts WHERE id = $1", rid) == "completed"
    assert (
        sum(n for (w, s), n in (await member_states(pool, rid)).items() if s == "completed")
        == FLEET
    )
    assert len(provisioner.operations) == FLEET
    assert all(len(ops) == 1 for ops in provisioner.operations.values())
    assert provisioner.most_in_flight <= 4
