"""What one sweep should do, decided from a snapshot of the cluster and the records.

Pure: imports no I/O library. The sweeper (`services.reaper.sweeper`) gathers the
snapshot (store namespaces, their stores' rows, what the stream says of stores the
database does not know, stores in a transitional status) and carries out the plan:

- orphans: a store namespace whose store is deleted, or unknown to both the database and
  the stream for longer than a grace period, gets a deletion request;
- stuck stores: `provisioning` past its deadline is failed; `deleting` past its deadline
  has its deletion retried (at most once per deadline period); `suspending`, `resuming` or
  `upgrading` past its deadline has that operation failed (named by the id the projection
  holds), so the store reads `failed` and its owner can retry it;
- namespaces stuck in Terminating longer than a threshold are reported with what holds
  them. Namespaces labeled as managed but without a store id are reported, never touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.reaper.guard import NamespaceInfo
from shared.lifecycle import Status

# The transitional statuses a store can get stuck in, which the sweep acts on: a store
# provisioning too long is failed, one deleting too long is deleted again, one suspending
# resuming or upgrading too long has that operation failed. (`requested` is not here: the
# provisioner's consumer redelivers it until it is taken. `restoring` is the backup
# keeper's: `services.reaper.backup_plan`.)
SWEPT = (
    Status.PROVISIONING,
    Status.DELETING,
    Status.SUSPENDING,
    Status.RESUMING,
    Status.UPGRADING,
)
# The operation a store in one of these statuses is under, as its events name it.
OPERATIONS = {Status.SUSPENDING: "suspend", Status.RESUMING: "resume", Status.UPGRADING: "upgrade"}


@dataclass(frozen=True)
class StoreRecord:
    """The reaper's view of one `stores` row."""

    id: str
    status: str
    namespace: str
    updated_at: datetime
    last_event_seq: int = 0
    operation_id: str | None = None  # the suspension or resumption last started


@dataclass(frozen=True)
class StreamFacts:
    """What the stream holds for a store the database does not know."""

    requested: bool = False
    deleted: bool = False


@dataclass(frozen=True)
class SweepPolicy:
    orphan_grace: timedelta
    provisioning_deadline: timedelta
    deletion_deadline: timedelta
    terminating_report_after: timedelta
    suspend_deadline: timedelta
    resume_deadline: timedelta
    upgrade_deadline: timedelta = timedelta(hours=1)

    def shortest_deadline(self) -> timedelta:
        return min(
            self.provisioning_deadline,
            self.deletion_deadline,
            self.suspend_deadline,
            self.resume_deadline,
            self.upgrade_deadline,
        )

    def operation_deadline(self, operation: str) -> timedelta:
        return {
            "suspend": self.suspend_deadline,
            "resume": self.resume_deadline,
            "upgrade": self.upgrade_deadline,
        }[operation]


@dataclass(frozen=True)
class Orphan:
    namespace: NamespaceInfo
    store_id: str
    reason: str  # store_deleted | store_unknown
    why: str


@dataclass(frozen=True)
class StuckStore:
    store: StoreRecord
    action: str  # fail | redelete | fail_operation
    why: str
    period: int = 0  # which deadline period a retried deletion belongs to
    operation: str = ""  # for fail_operation: suspend | resume | upgrade
    operation_id: str = ""  # ... and the id its failure names


@dataclass(frozen=True)
class SweepPlan:
    orphans: tuple[Orphan, ...] = ()
    stuck: tuple[StuckStore, ...] = ()
    terminating: tuple[NamespaceInfo, ...] = ()
    unowned: tuple[NamespaceInfo, ...] = ()


def plan_sweep(
    namespaces: Iterable[NamespaceInfo],
    stores: Mapping[str, StoreRecord],
    stream_facts: Mapping[str, StreamFacts],
    in_transition: Iterable[StoreRecord],
    now: datetime,
    policy: SweepPolicy,
) -> SweepPlan:
    orphans: list[Orphan] = []
    terminating: list[NamespaceInfo] = []
    unowned: list[NamespaceInfo] = []
    for namespace in namespaces:
        if namespace.deleting_since is not None:
            if now - namespace.deleting_since >= policy.terminating_report_after:
                terminating.append(namespace)
        elif namespace.store_id is None:
            unowned.append(namespace)
        elif (
            orphan := _orphan(namespace, namespace.store_id, stores, stream_facts, now, policy)
        ) is not None:
            orphans.append(orphan)
    stuck = [s for s in (_stuck(r, now, policy) for r in in_transition) if s is not None]
    return SweepPlan(tuple(orphans), tuple(stuck), tuple(terminating), tuple(unowned))


def _orphan(
    namespace: NamespaceInfo,
    store_id: str,
    stores: Mapping[str, StoreRecord],
    stream_facts: Mapping[str, StreamFacts],
    now: datetime,
    policy: SweepPolicy,
) -> Orphan | None:
    store = stores.get(store_id)
    if store is not None:
        # Any other status is live (`lifecycle.LIVE`): a suspended store's workloads are at
        # zero replicas, but its namespace holds its data and comes back on resume.
        if store.status == Status.DELETED:
            return Orphan(namespace, store_id, "store_deleted", f"store {store_id} is deleted")
        return None
    facts = stream_facts.get(store_id, StreamFacts())
    if facts.deleted:
        return Orphan(namespace, store_id, "store_deleted", f"store {store_id} is deleted (stream)")
    if facts.requested:
        return None  # the database has not caught up with the stream yet
    age = now - namespace.created_at if namespace.created_at else policy.orphan_grace
    if age < policy.orphan_grace:
        return None
    return Orphan(
        namespace, store_id, "store_unknown", f"no store {store_id} in the database or the stream"
    )


def _stuck(store: StoreRecord, now: datetime, policy: SweepPolicy) -> StuckStore | None:
    since = now - store.updated_at
    if store.status == Status.PROVISIONING and since >= policy.provisioning_deadline:
        why = (
            f"provisioning made no progress for {minutes(since)} "
            f"(deadline {minutes(policy.provisioning_deadline)}); the reaper gave up on it"
        )
        return StuckStore(store, "fail", why)
    if store.status == Status.DELETING and since >= policy.deletion_deadline:
        period = int(since / policy.deletion_deadline)
        why = (
            f"deletion retried: the store has been deleting for {minutes(since)} "
            f"(deadline {minutes(policy.deletion_deadline)})"
        )
        return StuckStore(store, "redelete", why, period)
    return _stuck_operation(store, since, policy)


def _stuck_operation(
    store: StoreRecord, since: timedelta, policy: SweepPolicy
) -> StuckStore | None:
    operation = OPERATIONS.get(Status(store.status))
    if operation is None or store.operation_id is None:
        return None  # without its id, no event can end the operation
    deadline = policy.operation_deadline(operation)
    if since < deadline:
        return None
    why = (
        f"{store.status} made no progress for {minutes(since)} "
        f"(deadline {minutes(deadline)}); the reaper gave up on it"
    )
    return StuckStore(
        store, "fail_operation", why, operation=operation, operation_id=store.operation_id
    )


def minutes(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"
