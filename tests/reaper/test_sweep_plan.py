"""The sweep's decisions and the label guard, as pure functions (no cluster needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest

from services.reaper.guard import NamespaceInfo, is_store_namespace
from services.reaper.sweep_plan import (
    StoreRecord,
    StreamFacts,
    SweepPolicy,
    plan_sweep,
)
from shared.lifecycle import LIVE, Status
from shared.namespaces import MANAGED_BY, STORE_ID

NOW = datetime(2030, 1, 1, tzinfo=UTC)
POLICY = SweepPolicy(
    orphan_grace=timedelta(minutes=5),
    provisioning_deadline=timedelta(minutes=30),
    deletion_deadline=timedelta(minutes=15),
    terminating_report_after=timedelta(minutes=5),
    suspend_deadline=timedelta(minutes=30),
    resume_deadline=timedelta(minutes=20),
    upgrade_deadline=timedelta(minutes=90),
)


def ns(
    name: str,
    store: str | None,
    age: timedelta = timedelta(hours=1),
    deleting_for: timedelta | None = None,
) -> NamespaceInfo:
    labels = {MANAGED_BY: "storefleet", **({STORE_ID: store} if store else {})}
    return NamespaceInfo(
        name,
        f"uid-{name}",
        MappingProxyType(labels),
        NOW - age,
        NOW - deleting_for if deleting_for else None,
        ("finalizer kubernetes",),
    )


def store(
    sid: str, status: str, age: timedelta = timedelta(0), operation_id: str | None = None
) -> StoreRecord:
    return StoreRecord(sid, status, f"store-{sid}", NOW - age, 7, operation_id)


def test_the_guard_needs_both_labels_and_the_same_store_id() -> None:
    assert is_store_namespace(ns("a", "s1"), "s1")
    assert not is_store_namespace(ns("a", "s2"), "s1")
    assert not is_store_namespace(ns("a", None), "s1")
    bare = NamespaceInfo("a", "u", MappingProxyType({STORE_ID: "s1"}))
    assert not is_store_namespace(bare, "s1")


def test_only_namespaces_of_deleted_or_long_unknown_stores_are_orphans() -> None:
    namespaces = [
        ns("deleted", "d"),
        ns("unknown", "u"),
        ns("young", "y", age=timedelta(minutes=1)),
        ns("live", "l"),
        ns("lagging", "s"),
        ns("gone-in-stream", "g"),
        ns("no-id", None),
    ]
    plan = plan_sweep(
        namespaces,
        {"d": store("d", "deleted"), "l": store("l", "ready")},
        {"s": StreamFacts(requested=True), "g": StreamFacts(True, True)},
        [],
        NOW,
        POLICY,
    )

    assert {(o.namespace.name, o.reason) for o in plan.orphans} == {
        ("deleted", "store_deleted"),
        ("unknown", "store_unknown"),
        ("gone-in-stream", "store_deleted"),
    }
    assert [n.name for n in plan.unowned] == ["no-id"]


def test_terminating_namespaces_are_reported_after_the_threshold_and_never_orphans() -> None:
    plan = plan_sweep(
        [
            ns("old", "d", deleting_for=timedelta(minutes=10)),
            ns("new", "d", deleting_for=timedelta(minutes=1)),
        ],
        {"d": store("d", "deleted")},
        {},
        [],
        NOW,
        POLICY,
    )

    assert [n.name for n in plan.terminating] == ["old"]
    assert plan.orphans == ()


def test_stuck_stores_are_failed_or_redeleted_once_per_deadline_period() -> None:
    plan = plan_sweep(
        [],
        {},
        {},
        [
            store("p", "provisioning", timedelta(minutes=31)),
            store("q", "provisioning", timedelta(minutes=29)),
            store("x", "deleting", timedelta(minutes=31)),
        ],
        NOW,
        POLICY,
    )

    assert {(s.store.id, s.action, s.period) for s in plan.stuck} == {
        ("p", "fail", 0),
        ("x", "redelete", 2),
    }


@pytest.mark.parametrize("status", sorted(LIVE))
def test_the_namespace_of_a_live_store_is_never_an_orphan_suspended_or_not(status: str) -> None:
    # Long past the grace, and the stream knows nothing of it: only the row speaks for it.
    plan = plan_sweep(
        [ns("kept", "k", age=timedelta(days=30))],
        {"k": store("k", status, timedelta(days=30), "op-1")},
        {},
        [],
        NOW,
        POLICY,
    )

    assert plan.orphans == ()
    assert Status.SUSPENDED in LIVE


def test_a_suspend_resume_or_upgrade_past_its_deadline_is_failed_naming_the_operation() -> None:
    plan = plan_sweep(
        [],
        {},
        {},
        [
            store("s", "suspending", timedelta(minutes=31), "op-s"),
            store("young", "suspending", timedelta(minutes=29), "op-y"),
            store("r", "resuming", timedelta(minutes=21), "op-r"),
            store("young-r", "resuming", timedelta(minutes=19), "op-yr"),
            store("nameless", "suspending", timedelta(hours=5)),
            store("u", "upgrading", timedelta(minutes=91), "op-u"),
            store("young-u", "upgrading", timedelta(minutes=89), "op-yu"),
        ],
        NOW,
        POLICY,
    )

    assert {(s.store.id, s.action, s.operation, s.operation_id) for s in plan.stuck} == {
        ("s", "fail_operation", "suspend", "op-s"),
        ("r", "fail_operation", "resume", "op-r"),
        ("u", "fail_operation", "upgrade", "op-u"),
    }
    reasons = {s.store.id: s.why for s in plan.stuck}
    assert reasons["s"].startswith("suspending made no progress for 31 min")
    assert "(deadline 20 min 0 s)" in reasons["r"]
