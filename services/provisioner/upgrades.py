"""The upgrades consumer's handler: one `store.upgrade.requested.<id>` in, the store moved
to another engine version (or back to its own), its events out.

In order: the store must be `ready` (its standing, read from its last events in the
stream) and on the request's `previous_version`, or the request is stale and acknowledged
without a word. The target must be a version the engine offers that lists the store's in
`upgrades_from`, or `upgrade.failed` records the refusal (`unknown_engine_version`,
`upgrade_not_allowed`); from `ready` it moves nothing. Then the pre-upgrade backup is
taken (reason `pre_upgrade`; if it cannot be, `backup.failed` for it and `upgrade.failed`
with `pre_upgrade_backup_failed`, nothing changed), and only then `upgrade.started` moves
the store to `upgrading`: a way back exists before anything changes.

The workloads move to the new version and face the health gate (`upgrade_runs`). Passed:
`upgrade.completed`, and the store is on the new version (`StoreRecords` follows it).
Failed: the rollback re-applies the previous version's workloads, puts the pre-upgrade
backup's data back (the new version's migrations may have changed it), waits for them to
serve, and publishes `upgrade.rolled_back`. A rollback that fails publishes
`upgrade.failed`: the store is `failed`, its pre-upgrade backup kept.

A request a later one replaced is acknowledged without acting. A redelivery of a started
upgrade (the worker stopped mid-way) carries it on from the move: every step is
idempotent, the backup id is derived from the operation's, and each attempt's setup Job
has its own name; so the store always ends on one version, never between two.

Called by the provisioner's `upgrades` WorkerPool. Emits events and metrics.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from services.provisioner import metrics
from services.provisioner.backups import give_up_or_retry, request_of
from services.provisioner.publisher import Publisher
from services.provisioner.spec import StoreSpec
from services.provisioner.store_records import Recorded, StoreRecords
from services.provisioner.upgrade_runs import GateFailed, Safekeeping, Upgrader
from shared.engine_versions import EngineVersions
from shared.events import Envelope, UpgradeRequested
from shared.lifecycle import EVENT_STATUS, OPERATION_MOVES, Status, can_upgrade
from shared.logs import bound
from shared.outcome import Outcome
from shared.subjects import subject_for
from shared.worker import Delivery

log = structlog.get_logger(__name__)

PRE_UPGRADE = uuid.UUID("3c9e2f6a-7d41-4b8e-b0a2-5e6f1d9c8a37")
SETTLED = ("upgrade.completed", "upgrade.rolled_back", "upgrade.failed")
# The events that set a store's status, read to tell whether it is ready.
STANDING = (
    *EVENT_STATUS,
    *sorted({event_type for moves in OPERATION_MOVES.values() for event_type, _ in moves}),
)


def pre_upgrade_backup_id(operation_id: str) -> str:
    return str(uuid.uuid5(PRE_UPGRADE, operation_id))


def standing(latest: Sequence[Recorded]) -> Status | None:
    """The status the store's newest status-setting event gave it (`latest` newest
    first). An `upgrade.failed` of an upgrade that never started is a refusal and moved
    nothing, so the event before it counts."""
    started = {r.event.data.operation_id for r in latest if r.event.type == "upgrade.started"}  # type: ignore[attr-defined]
    for recorded in latest:
        event_type = recorded.event.type  # type: ignore[attr-defined]
        if event_type == "upgrade.failed" and recorded.event.data.operation_id not in started:  # type: ignore[attr-defined]
            continue
        if event_type in EVENT_STATUS:
            return EVENT_STATUS[event_type]
        for moves in OPERATION_MOVES.values():
            for (moving, _), target in moves.items():
                if moving == event_type:
                    return target
    return None


class Refused(Exception):
    """The upgrade is not done; nothing was changed."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def check_target(registry: EngineVersions | None, engine: str, current: str, target: str) -> None:
    """`Refused` unless a store of `engine` on `current` may move to `target`."""
    if registry is None or target not in registry.versions:
        known = ", ".join(sorted(registry.versions)) if registry is not None else "none"
        raise Refused("unknown_engine_version",
                      f"{engine} version {target} is not offered (known: {known})")  # fmt: skip
    if not registry.may_upgrade(current, target):
        allowed = ", ".join(registry.versions[target].upgrades_from) or "no version"
        reason = f"{engine} {target} can be reached from {allowed}, not from {current}"
        raise Refused("upgrade_not_allowed", reason)


@dataclass(frozen=True)
class UpgradeHandler:
    records: StoreRecords
    upgrader: Upgrader
    safekeeping: Safekeeping
    versions: Mapping[str, EngineVersions]
    publish: Publisher
    max_deliver: int

    async def __call__(self, delivery: Delivery) -> Outcome:
        request = request_of(delivery, UpgradeRequested)
        if isinstance(request, Outcome):
            return request
        event, data = request
        with bound(store_id=event.store_id, operation_id=data.operation_id, version=data.version):
            later = await self.records.last_seq(subject_for("upgrade.requested", event.store_id))
            if later > delivery.stream_seq:
                log.info("a later upgrade request replaced this one; nothing done")
                return Outcome.ack()
            try:
                return await self._handle(event, data, delivery)
            except Exception as exc:
                settled = give_up_or_retry(exc, delivery, self.max_deliver, "not_ready_in_time")
                if isinstance(settled, Outcome):
                    return settled
                log.warning("upgrade not begun", code=settled[0], reason=settled[1])
                return Outcome.give_up(settled[1])

    async def _handle(self, event: Envelope, data: UpgradeRequested, delivery: Delivery) -> Outcome:
        started = time.monotonic()
        latest = await self.records.latest(event.store_id, STANDING)
        ours = [r.event for r in latest if _of(r.event, data.operation_id)]
        if any(e.type in SETTLED for e in ours):  # type: ignore[attr-defined]
            return Outcome.ack()
        spec = await self.records.spec(event.store_id)
        begun = next((e for e in ours if e.type == "upgrade.started"), None)  # type: ignore[attr-defined]
        if begun is None:
            status = standing(latest)
            if (
                status is None
                or not can_upgrade(status)
                or spec.engine_version != data.previous_version
            ):
                log.info("stale upgrade request; nothing done", status=status,
                         on=spec.engine_version)  # fmt: skip
                return Outcome.ack()
            refused = await self._begin(spec, event, data, delivery)
            if refused is not None:
                return refused
        previous = self._on(spec, data.previous_version)
        target = self._on(spec, data.version)
        return await self._carry_out(previous, target, event, data, delivery, started)

    def _on(self, spec: StoreSpec, version: str) -> StoreSpec:
        """`spec` on another of its engine's versions."""
        values = self.versions[spec.engine.name].versions[version].values
        return dataclasses.replace(spec, engine_version=version, version_values=values)

    async def _begin(
        self, spec: StoreSpec, event: Envelope, data: UpgradeRequested, delivery: Delivery
    ) -> Outcome | None:
        """Check the target and take the backup, then `upgrade.started`; or the outcome
        of a refusal (or of a retry of the backup)."""
        engine = spec.engine.name
        backup_id = pre_upgrade_backup_id(data.operation_id)
        try:
            check_target(self.versions.get(engine), engine, data.previous_version, data.version)
            try:
                await self.safekeeping.keep(spec, event, backup_id, data.requested_by,
                                            max(1, delivery.num_delivered))  # fmt: skip
            except Exception as exc:
                settled = give_up_or_retry(exc, delivery, self.max_deliver, "not_ready_in_time")
                if isinstance(settled, Outcome):
                    return settled
                code, reason = settled
                await self.safekeeping.abandon(event, backup_id, code,
                                               f"the upgrade gave up: {reason}")  # fmt: skip
                raise Refused("pre_upgrade_backup_failed",
                              f"the pre-upgrade backup failed: {settled[1]}") from exc  # fmt: skip
        except Refused as exc:
            metrics.UPGRADES.labels(engine=engine, outcome="refused").inc()
            log.warning("upgrade refused", code=exc.code, reason=str(exc))
            body = {"version": data.version, "code": exc.code,
                    "reason": f"nothing was changed: {exc}"}  # fmt: skip
            await self._event(event, data, "failed", body)
            return Outcome.give_up(str(exc))
        body = {"version": data.version, "previous_version": data.previous_version,
                "pre_upgrade_backup_id": backup_id}  # fmt: skip
        await self._event(event, data, "started", body)
        return None

    async def _carry_out(
        self, previous: StoreSpec, target: StoreSpec, event: Envelope, data: UpgradeRequested,
        delivery: Delivery, started: float,
    ) -> Outcome:  # fmt: skip
        attempt = max(1, delivery.num_delivered)
        run = f"upgrade-{attempt}-{data.operation_id[:8]}"
        try:
            await self.upgrader.move(target, run)
        except GateFailed as exc:
            return await self._roll_back(previous, event, data, delivery, started,
                                         ("gate_failed", str(exc)))  # fmt: skip
        except Exception as exc:
            settled = give_up_or_retry(exc, delivery, self.max_deliver, "not_ready_in_time")
            if isinstance(settled, Outcome):
                return settled  # the redelivery carries the upgrade on
            return await self._roll_back(previous, event, data, delivery, started, settled)
        body = {"version": data.version, "previous_version": data.previous_version,
                "seconds": _since(started)}  # fmt: skip
        await self._event(event, data, "completed", body)
        self._count(target, "completed", started)
        log.info("store upgraded", previous=data.previous_version, seconds=body["seconds"])
        return Outcome.ack()

    async def _roll_back(
        self, previous: StoreSpec, event: Envelope, data: UpgradeRequested, delivery: Delivery,
        started: float, why: tuple[str, str],
    ) -> Outcome:  # fmt: skip
        code, reason = why
        log.warning("upgrade failed its gate, rolling back", code=code, reason=reason)
        attempt = max(1, delivery.num_delivered)
        try:
            # The previous version's workloads first, then its data under them (the swap
            # runs its setup again), then the gate without a setup of its own.
            workloads, _ = await self.upgrader.apply(previous, "")
            await self.safekeeping.put_back(previous, pre_upgrade_backup_id(data.operation_id),
                                            data.operation_id, attempt)  # fmt: skip
            await self.upgrader.hold(previous, workloads)
        except Exception as exc:
            settled = give_up_or_retry(exc, delivery, self.max_deliver, "not_ready_in_time")
            if isinstance(settled, Outcome):
                return settled  # the redelivery tries the upgrade again, then this
            return await self._failed(previous, event, data, started, code, reason, settled[1])
        body = {"version": data.version, "previous_version": data.previous_version,
                "code": code, "reason": f"upgrade to {data.version} undone: {reason}",
                "seconds": _since(started)}  # fmt: skip
        await self._event(event, data, "rolled_back", body)
        self._count(previous, "rolled_back", started)
        log.info("upgrade rolled back", seconds=body["seconds"])
        return Outcome.ack()

    async def _failed(
        self, spec: StoreSpec, event: Envelope, data: UpgradeRequested, started: float,
        code: str, reason: str, rollback: str,
    ) -> Outcome:  # fmt: skip
        reason = (f"upgrade to {data.version} failed ({reason}) and so did the rollback"
                  f" ({rollback}); the pre-upgrade backup is kept")  # fmt: skip
        log.error("upgrade and rollback failed", code=code, reason=reason)
        await self._event(event, data, "failed", {"version": data.version, "code": code,
                                                  "reason": reason})  # fmt: skip
        self._count(spec, "failed", started)
        return Outcome.give_up(reason)

    def _count(self, spec: StoreSpec, outcome: str, started: float) -> None:
        engine = spec.engine.name
        metrics.UPGRADES.labels(engine=engine, outcome=outcome).inc()
        metrics.UPGRADE_SECONDS.labels(engine=engine, outcome=outcome).observe(_since(started))

    async def _event(
        self, event: Envelope, data: UpgradeRequested, step: str, body: dict[str, Any]
    ) -> None:
        await self.publish(f"upgrade.{step}", event.store_id,
                           {"operation_id": data.operation_id, **body},
                           correlation_id=event.correlation_id,
                           event_id=f"{data.operation_id}:{step}")  # fmt: skip


def _of(event: Envelope, operation_id: str) -> bool:
    return getattr(event.data, "operation_id", None) == operation_id  # type: ignore[attr-defined]


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)
