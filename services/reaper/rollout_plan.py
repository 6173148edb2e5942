"""What one pass of the rollout driver should do for one rollout, decided from its rows
and the stores' current state.

Pure: imports no I/O library. The driver (`services.reaper.rollouts`) reads the rows,
asks here, and writes and publishes what is decided:

- `pick`: when a rollout starts, every live store of its engine, sorted by id. A ready
  store on a version the target upgrades from gets a wave (by `shared.rollout_waves`);
  any other is skipped. Sorting makes the waves the same however often this runs.
- `settle`: an upgrade's outcome, from its `upgrade.completed|rolled_back|failed` event;
  a store deleted meanwhile is skipped, and so is one asked for and then suspended or
  restored under another operation before its upgrade began (the provisioner drops
  that request without an event; the rollout would otherwise never end).
- `plan_pass`: a running rollout requests the current wave's pending stores, lowest id
  first, keeping at most `max_concurrent` upgrades in flight; a pending store whose
  upgrade the projection already shows (its request was published just before the driver
  was killed) is marked requested, not asked again; one no longer ready on the version
  it was picked on is skipped. A done wave stops the rollout when more than
  `failure_threshold` of its upgrades did not complete, completes it after the last
  wave, or else waits `pause_seconds` and moves to the next wave. Paused and aborted
  rollouts request nothing; an aborted one ends once nothing is in flight.

Every upgrade of a store in a rollout carries the same operation id, `operation_id`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.lifecycle import DELETION, SUSPENSION, Status
from shared.rollout_waves import wave_ends

# Any constant works: it only has to stay the same, so ids stay the same.
OPERATIONS = uuid.UUID("6f1c3a52-93a4-4c55-b0f4-3f4f6c9d2a17")
OUTCOMES = {
    "upgrade.completed": "completed",
    "upgrade.rolled_back": "rolled_back",
    "upgrade.failed": "failed",
}
FAILURES = frozenset({"rolled_back", "failed"})
SETTLED = frozenset({"completed", "rolled_back", "failed", "skipped"})


def operation_id(rollout_id: str, store_id: str) -> str:
    """The id of every upgrade request of `store_id` in `rollout_id`."""
    return str(uuid.uuid5(OPERATIONS, f"{rollout_id}/{store_id}"))


@dataclass(frozen=True)
class Rollout:
    """The driver's view of one `rollouts` row."""

    id: str
    engine: str
    target_version: str
    waves: tuple[str, ...]
    max_concurrent: int
    failure_threshold: float
    pause_seconds: int
    state: str
    current_wave: int = 0
    next_wave_at: datetime | None = None


@dataclass(frozen=True)
class Member:
    """One `rollout_stores` row."""

    store_id: str
    wave: int | None
    state: str
    operation_id: str
    from_version: str | None


@dataclass(frozen=True)
class StoreNow:
    """One store as the projection has it; `engine_version` resolved (never None)."""

    id: str
    status: str
    engine_version: str
    operation_id: str | None = None


@dataclass(frozen=True)
class Step:
    request: tuple[Member, ...] = ()  # publish `upgrade.requested`, then mark requested
    adopt: tuple[str, ...] = ()  # already requested before a restart: mark requested
    skip: tuple[str, ...] = ()
    state: str | None = None  # the rollout's new state, if it moves
    reason: str = ""
    next_wave: int | None = None
    pause_until: datetime | None = None
    ended: bool = False


def pick(
    rollout_id: str,
    waves: Sequence[str],
    stores: Iterable[StoreNow],
    upgrades_from: Collection[str],
) -> tuple[Member, ...]:
    """The rollout's stores, each with its wave, or skipped (wave None)."""
    ordered = sorted(stores, key=lambda s: s.id)
    chosen = [s for s in ordered if s.status == Status.READY and s.engine_version in upgrades_from]
    ends = wave_ends(waves, len(chosen))
    wave_of = {s.id: sum(1 for end in ends if end <= i) for i, s in enumerate(chosen)}
    return tuple(
        Member(
            s.id,
            wave_of.get(s.id),
            "pending" if s.id in wave_of else "skipped",
            operation_id(rollout_id, s.id),
            s.engine_version,
        )
        for s in ordered
        if s.status not in DELETION
    )


def settle(
    members: Iterable[Member], stores: Mapping[str, StoreNow], outcomes: Mapping[str, str]
) -> dict[str, str]:
    """New states of pending or requested members: `outcomes` maps an operation id to
    the type of the event that ended it."""
    moves = {}
    for m in members:
        if m.state not in ("pending", "requested"):
            continue
        ended = outcomes.get(m.operation_id)
        store = stores.get(m.store_id)
        if ended is not None:
            moves[m.store_id] = OUTCOMES[ended]
        elif store is None or store.status in DELETION or _dropped(m, store):
            moves[m.store_id] = "skipped"
    return moves


def _dropped(member: Member, store: StoreNow) -> bool:
    """The store was suspended or restored under another operation after its upgrade
    was asked for: the provisioner drops such a request as stale, with no event, and
    the gateway refuses both while an upgrade runs, so no outcome will come."""
    moved = store.status in SUSPENSION or store.status == Status.RESTORING
    return member.state == "requested" and moved and store.operation_id != member.operation_id


def plan_pass(
    rollout: Rollout, members: Sequence[Member], stores: Mapping[str, StoreNow], now: datetime
) -> Step:
    """What to do now for `rollout`, whose members are already settled."""
    in_flight = [m for m in members if m.state == "requested"]
    if rollout.state == "aborted":
        return Step(ended=not in_flight)
    if rollout.state != "running":
        return Step()
    wave = rollout.current_wave
    in_wave = sorted((m for m in members if m.wave == wave), key=lambda m: m.store_id)
    pending = [m for m in in_wave if m.state == "pending"]
    adopt = [m for m in pending if _already_asked(m, stores)]
    waiting = [m for m in pending if m not in adopt]
    skip = [m for m in waiting if not _still_eligible(m, stores)]
    ready = [m for m in waiting if m not in skip]
    slots = max(rollout.max_concurrent - len(in_flight) - len(adopt), 0)
    if in_flight or adopt or ready or skip:
        return Step(
            request=tuple(ready[:slots]),
            adopt=tuple(m.store_id for m in adopt),
            skip=tuple(m.store_id for m in skip),
        )
    return _wave_done(rollout, in_wave, now)


def _already_asked(member: Member, stores: Mapping[str, StoreNow]) -> bool:
    store = stores.get(member.store_id)
    return store is not None and store.operation_id == member.operation_id


def _still_eligible(member: Member, stores: Mapping[str, StoreNow]) -> bool:
    store = stores.get(member.store_id)
    return (
        store is not None
        and store.status == Status.READY
        and store.engine_version == member.from_version
    )


def _wave_done(rollout: Rollout, in_wave: Sequence[Member], now: datetime) -> Step:
    wave = rollout.current_wave
    upgraded = [m for m in in_wave if m.state in OUTCOMES.values()]
    failures = sum(1 for m in upgraded if m.state in FAILURES)
    if upgraded and failures / len(upgraded) > rollout.failure_threshold:
        reason = (
            f"wave {wave + 1}: {failures} of {len(upgraded)} upgrades to"
            f" {rollout.target_version} rolled back or failed, more than the threshold"
            f" ({rollout.failure_threshold:g} of a wave)"
        )
        return Step(state="stopped", reason=reason)
    if wave + 1 >= len(rollout.waves):
        return Step(state="completed")
    if not in_wave:
        return Step(next_wave=wave + 1)  # an empty wave needs no pause
    if rollout.next_wave_at is None:
        return Step(pause_until=now + timedelta(seconds=rollout.pause_seconds))
    if now >= rollout.next_wave_at:
        return Step(next_wave=wave + 1)
    return Step()
