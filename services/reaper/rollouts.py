"""The rollout driver: the reaper's leader moves each fleet rollout of an engine upgrade
forward, wave by wave.

Called from `services.reaper.app`. Every `interval`, the replica holding the rollout lock
(`ROLLOUT_LOCK_KEY`) reads each unfinished rollout and:

- when it has just started, picks its stores and their waves (`rollout_plan.pick`) and
  records them in `rollout_stores`, once;
- settles the upgrades whose `upgrade.completed|rolled_back|failed` event the auditor has
  recorded;
- does what `rollout_plan.plan_pass` decides: publishes `upgrade.requested` for the
  stores it may ask for now and then marks them requested, skips stores no longer
  eligible, pauses between waves, moves to the next wave, stops, completes, or ends an
  aborted rollout once nothing is in flight.

Each request of a store in a rollout has the same operation id and event id
(`<store>:upgrade-requested:<operation id>`), published before the row says requested:
a driver killed in between asks again with the same ids, which the stream's duplicate
window drops, or adopts the upgrade the projection already shows. So a restart never
asks for a store twice under different ids and never skips a wave.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import structlog

from services.reaper import metrics
from services.reaper.deletion import Publish
from services.reaper.rollout_plan import Member, Rollout, Step, pick, plan_pass, settle
from services.reaper.rollout_records import RolloutRecords
from services.reaper.sweeper import SweeperLock, lead
from shared.engine_versions import EngineVersions
from shared.events import Envelope, new_event

log = structlog.get_logger(__name__)

# Apart from the sweeps' and the backups' (services.reaper.sweeper).
ROLLOUT_LOCK_KEY = 0x5EE9E8
ACTOR = "reaper"

Versions = Callable[[str], EngineVersions]


def upgrade_requested(rollout: Rollout, member: Member) -> Envelope:
    """The request for one store's upgrade, with ids that are the same every time."""
    return new_event(
        "upgrade.requested",
        member.store_id,
        {
            "operation_id": member.operation_id,
            "version": rollout.target_version,
            "previous_version": member.from_version,
            "requested_by": ACTOR,
            "rollout_id": rollout.id,
        },
        actor=ACTOR,
        correlation_id=f"rollout-{rollout.id}",
        event_id=f"{member.store_id}:upgrade-requested:{member.operation_id}",
    )


class RolloutDriver:
    def __init__(
        self,
        lock: SweeperLock,
        records: RolloutRecords,
        publish: Publish,
        versions: Versions,
        interval: float,
    ) -> None:
        self._lock = lock
        self._records = records
        self._publish = publish
        self._versions = versions
        self._interval = interval

    async def run(self, stopping: asyncio.Event) -> None:
        """A pass every `interval` while this replica holds the rollout lock."""
        await lead(self._lock, self._interval, stopping, self._pass_logged, metrics.ROLLOUT_LEADER)

    async def _pass_logged(self) -> None:
        try:
            await self.pass_once(datetime.now(UTC))
        except Exception:
            metrics.ROLLOUT_PASSES.labels("failed").inc()
            log.exception("rollout pass failed")
            return
        metrics.ROLLOUT_PASSES.labels("ok").inc()

    async def pass_once(self, now: datetime) -> None:
        """One pass over every unfinished rollout, lock or not (the caller decides)."""
        for rollout, planned, _ in await self._records.unfinished():
            await self._drive(rollout, planned, now)
        for state, n in (await self._records.counts()).items():
            metrics.ROLLOUTS.labels(state).set(n)

    async def _drive(self, rollout: Rollout, planned: bool, now: datetime) -> None:
        versions = self._versions(rollout.engine)
        stores = await self._records.stores(rollout.engine, versions.default)
        if not planned:
            target = versions.versions.get(rollout.target_version)
            upgrades_from = target.upgrades_from if target is not None else ()
            picked = pick(rollout.id, rollout.waves, stores.values(), upgrades_from)
            await self._records.plan(rollout.id, picked)
            log.info("rollout planned", rollout_id=rollout.id, stores=len(picked))
        members = await self._records.members(rollout.id)
        moves = settle(members, stores, await self._records.outcomes(members))
        await self._records.set_members(rollout.id, moves)
        for sid, state in moves.items():
            metrics.ROLLOUT_STORES.labels(state).inc()
            log.info("rollout upgrade settled", rollout_id=rollout.id, store_id=sid, state=state)
        members = [replace(m, state=moves.get(m.store_id, m.state)) for m in members]
        await self._carry_out(rollout, plan_pass(rollout, members, stores, now), now)

    async def _carry_out(self, rollout: Rollout, step: Step, now: datetime) -> None:
        rid = rollout.id
        await self._records.set_members(rid, dict.fromkeys(step.adopt, "requested"))
        await self._records.set_members(rid, dict.fromkeys(step.skip, "skipped"))
        for member in step.request:
            await self._publish(upgrade_requested(rollout, member))
            await self._records.set_members(rid, {member.store_id: "requested"})
            metrics.ROLLOUT_REQUESTS.inc()
            log.info("upgrade requested", rollout_id=rid, store_id=member.store_id)
        if step.state is not None:
            await self._records.move(
                rid, "running", state=step.state, reason=step.reason, ended_at=now
            )
            log.info("rollout ended", rollout_id=rid, state=step.state, reason=step.reason)
        elif step.pause_until is not None:
            await self._records.move(rid, "running", next_wave_at=step.pause_until)
        elif step.next_wave is not None:
            moved = await self._records.move(
                rid, "running", current_wave=step.next_wave, next_wave_at=None
            )
            if moved:
                log.info("rollout wave started", rollout_id=rid, wave=step.next_wave + 1)
        elif step.ended:
            await self._records.end(rid, now)
            log.info("aborted rollout ended: nothing in flight", rollout_id=rid)
