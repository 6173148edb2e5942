"""The rollout driver's decisions, without I/O: waves assigned the same way every time,
at most max_concurrent in flight, a stop on too many failures, a pause between waves, a
restart that adopts what was asked before it."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.reaper.rollout_plan import (
    Rollout,
    Step,
    StoreNow,
    operation_id,
    pick,
    plan_pass,
    settle,
)
from shared.rollout_waves import WaveError, parse_waves, wave_ends

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
ROLLOUT = Rollout(
    id=str(uuid.uuid4()),
    engine="woocommerce",
    target_version="6.6",
    waves=("1", "5%", "25%", "100%"),
    max_concurrent=3,
    failure_threshold=0.0,
    pause_seconds=60,
    state="running",
)


def fleet(n: int, version: str = "6.5") -> dict[str, StoreNow]:
    stores = [StoreNow(str(uuid.uuid4()), "ready", version) for _ in range(n)]
    return {s.id: s for s in stores}


def test_waves_are_cumulative_and_a_percentage_rounds_up() -> None:
    assert wave_ends(("1", "5%", "25%", "100%"), 50) == (1, 3, 13, 50)
    assert wave_ends(("10", "100%"), 4) == (4, 4)


@pytest.mark.parametrize(
    "waves",
    [
        [],
        ["0%"],
        ["-1", "100%"],
        ["150%"],
        ["1"],
        [0, "100%"],
        [True, "100%"],
        ["{{x}}", "100%"],
        ["5.5%", "100%"],
        ["1"] * 10_000,
        [1.5, "100%"],
    ],
)
def test_bad_waves_are_refused(waves: list[object]) -> None:
    with pytest.raises(WaveError):
        parse_waves(waves)


def test_waves_are_normalised() -> None:
    assert parse_waves([1, " 05% ", "100%"]) == ("1", "5%", "100%")


def test_picking_is_deterministic_and_skips_other_versions_and_statuses() -> None:
    stores = (
        fleet(50)
        | fleet(3, "6.4")
        | {
            "x": StoreNow("x", "suspended", "6.5"),
            "y": StoreNow("y", "deleted", "6.5"),
        }
    )
    members = pick(ROLLOUT.id, ROLLOUT.waves, stores.values(), {"6.5"})

    assert members == pick(ROLLOUT.id, ROLLOUT.waves, reversed(list(stores.values())), {"6.5"})
    sizes = [sum(1 for m in members if m.wave == w) for w in range(4)]
    assert sizes == [1, 2, 10, 37]
    assert sum(1 for m in members if m.state == "skipped") == 4  # 3 on 6.4, 1 suspended
    assert all(m.operation_id == operation_id(ROLLOUT.id, m.store_id) for m in members)
    first = [m for m in members if m.wave is not None]
    assert [m.store_id for m in first] == sorted(m.store_id for m in first)


def test_a_wave_keeps_at_most_max_concurrent_in_flight() -> None:
    stores = fleet(50)
    members = list(pick(ROLLOUT.id, ROLLOUT.waves, stores.values(), {"6.5"}))
    rollout = replace(ROLLOUT, current_wave=3)
    step = plan_pass(rollout, members, stores, NOW)
    assert len(step.request) == 3
    asked = {m.store_id for m in step.request}
    members = [replace(m, state="requested") if m.store_id in asked else m for m in members]
    assert plan_pass(rollout, members, stores, NOW).request == ()


def test_a_restart_adopts_a_store_whose_upgrade_already_started() -> None:
    stores = fleet(1)
    [member] = pick(ROLLOUT.id, ROLLOUT.waves, stores.values(), {"6.5"})
    sid = member.store_id
    stores[sid] = replace(stores[sid], status="upgrading", operation_id=member.operation_id)

    step = plan_pass(ROLLOUT, [member], stores, NOW)

    assert (step.request, step.adopt, step.skip) == ((), (sid,), ())


def test_a_failed_canary_stops_the_rollout() -> None:
    stores = fleet(50)
    members = pick(ROLLOUT.id, ROLLOUT.waves, stores.values(), {"6.5"})
    canary = next(m for m in members if m.wave == 0)
    outcome = settle(members, stores, {canary.operation_id: "upgrade.rolled_back"})
    assert outcome == {canary.store_id: "rolled_back"}
    members = tuple(replace(m, state=outcome.get(m.store_id, m.state)) for m in members)

    step = plan_pass(ROLLOUT, members, stores, NOW)

    assert step.state == "stopped" and "1 of 1" in step.reason
    assert step.request == ()


def test_a_done_wave_pauses_then_moves_on_and_the_last_completes() -> None:
    stores = fleet(50)
    members = [
        replace(m, state="completed") if m.wave == 0 else m
        for m in pick(ROLLOUT.id, ROLLOUT.waves, stores.values(), {"6.5"})
    ]
    step = plan_pass(ROLLOUT, members, stores, NOW)
    assert step.pause_until == NOW + timedelta(seconds=60)
    paused = replace(ROLLOUT, next_wave_at=step.pause_until)
    assert plan_pass(paused, members, stores, NOW) == Step()
    assert plan_pass(paused, members, stores, step.pause_until).next_wave == 1
    done = [replace(m, state="completed") for m in members]
    assert plan_pass(replace(ROLLOUT, current_wave=3), done, stores, NOW).state == "completed"


def test_paused_and_aborted_rollouts_request_nothing() -> None:
    stores = fleet(5)
    members = list(pick(ROLLOUT.id, ROLLOUT.waves, stores.values(), {"6.5"}))
    assert plan_pass(replace(ROLLOUT, state="paused"), members, stores, NOW).request == ()
    flying = [replace(members[0], state="requested"), *members[1:]]
    aborted = replace(ROLLOUT, state="aborted")
    assert plan_pass(aborted, flying, stores, NOW).ended is False
    assert plan_pass(aborted, members, stores, NOW).ended is True


def test_a_store_no_longer_ready_is_skipped_when_its_wave_comes() -> None:
    stores = fleet(1)
    [member] = pick(ROLLOUT.id, ROLLOUT.waves, stores.values(), {"6.5"})
    stores[member.store_id] = replace(stores[member.store_id], status="suspended")
    assert plan_pass(ROLLOUT, [member], stores, NOW).skip == (member.store_id,)
    gone = settle([member], {}, {})
    assert gone == {member.store_id: "skipped"}


@pytest.mark.parametrize("status", ["suspending", "suspended", "resuming", "restoring"])
def test_a_store_suspended_or_restored_after_its_upgrade_was_asked_is_skipped(
    status: str,
) -> None:
    # The provisioner drops the request as stale without a word: without this the
    # rollout would wait for its outcome forever.
    stores = fleet(2)
    members = [replace(m, state="requested")
               for m in pick(ROLLOUT.id, ROLLOUT.waves, stores.values(), {"6.5"})]  # fmt: skip
    moved, upgrading = members
    stores[moved.store_id] = replace(
        stores[moved.store_id], status=status, operation_id=str(uuid.uuid4())
    )
    stores[upgrading.store_id] = replace(
        stores[upgrading.store_id], status="upgrading", operation_id=upgrading.operation_id
    )

    assert settle(members, stores, {}) == {moved.store_id: "skipped"}


def test_a_requested_upgrade_still_running_or_ready_to_start_is_not_skipped() -> None:
    stores = fleet(2)
    members = [replace(m, state="requested")
               for m in pick(ROLLOUT.id, ROLLOUT.waves, stores.values(), {"6.5"})]  # fmt: skip
    own = members[0]
    # Its own operation (a pre-upgrade step) keeps it; a ready store is about to start.
    stores[own.store_id] = replace(
        stores[own.store_id], status="restoring", operation_id=own.operation_id
    )

    assert settle(members, stores, {}) == {}
