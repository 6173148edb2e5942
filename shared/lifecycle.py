"""A store's lifecycle in one place: its statuses, the event types, which event moves a
store from which status to which, and what the gateway shows while its own commands are
on their way through the stream.

Every other list is derived from here: the subjects (`shared.subjects`), the event
models' discriminators (`shared.events`, checked by a test), the gateway's validation and
OpenAPI enum, the auditor's projection, the reaper's sweeps and the dashboard's badges
(`web/src/live/lifecycle.gen.ts`, written by `just schemas`; a test fails when it is
stale). Adding a status is one edit here plus its transitions.

The machine: `requested -> provisioning -> ready | failed`, `failed -> requested` (a
retry), anything `-> deleting -> deleted`. An event that would move a store backwards
changes nothing, so a late or repeated event never undoes a newer one. A restore is the
one detour: `ready | failed -> restoring -> ready | failed`, made by the `restore.*`
events alone (`RESTORE_MOVES`); the projection also matches the restore's id, so a late
`restore.started` never reopens a restore that has ended.

Suspension is the other: `ready -> suspending -> suspended -> resuming -> ready`, made by
the `suspend.*` and `resume.*` events alone (`OPERATION_MOVES`, keyed to the operation's
id the same way). A suspend or resume that fails leaves the store `failed` with the reason;
a retry provisions it again, which starts its workloads and gives it its own route back.

An engine upgrade is the third: `ready -> upgrading -> ready`, made by the `upgrade.*`
events alone (keyed to `operation_id` too). `upgrade.completed` leaves the store on the new
version; `upgrade.rolled_back` back on its previous one with its pre-upgrade data, ready;
`upgrade.failed` means even the rollback failed, and the store is `failed`.

Backups move no store: their events (`backup.*`) only fill the `backups` table. Nor does
a plan change (`plan.*`): a ready store stays ready while its quota, limits and workloads
move to the new plan, and `plan.changed` records the plan it is on. Nor do a store's
custom domains (`domain.*`): their states are `shared.domains`'. Nor does a change of the
address a store's engine answers at (`domain.primary` asks for it, `url.changed` records
it, `url.failed` says why not): `url.changed` only sets the store's `url`.

Pure: no I/O imports.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    REQUESTED = "requested"
    PROVISIONING = "provisioning"
    READY = "ready"
    FAILED = "failed"
    RESTORING = "restoring"
    SUSPENDING = "suspending"
    SUSPENDED = "suspended"
    RESUMING = "resuming"
    UPGRADING = "upgrading"
    DELETING = "deleting"
    DELETED = "deleted"


STATUSES: tuple[str, ...] = tuple(s.value for s in Status)

# How far along each status is; a store only moves to a higher rank (or retries). ready
# and failed share a rank: neither may replace the other.
RANK: dict[str, int] = {
    Status.REQUESTED: 0,
    Status.PROVISIONING: 1,
    Status.READY: 2,
    Status.FAILED: 2,
    Status.RESTORING: 2,
    Status.SUSPENDING: 2,
    Status.SUSPENDED: 2,
    Status.RESUMING: 2,
    Status.UPGRADING: 2,
    Status.DELETING: 3,
    Status.DELETED: 4,
}

# Moves allowed against the rank: a failed store may be requested again.
BACKWARD_MOVES = frozenset({(Status.FAILED, Status.REQUESTED)})

# Every event type, in the order a store usually meets them; each is published on
# `store.<type>.<store id>`.
EVENT_TYPES = (
    "requested",
    "delete",
    "provisioning",
    "progress",
    "ready",
    "failed",
    "deleting",
    "deleted",
    "backup.requested",
    "backup.started",
    "backup.completed",
    "backup.verified",
    "backup.failed",
    "backup.deleted",
    "restore.requested",
    "restore.started",
    "restore.completed",
    "restore.failed",
    "suspend.requested",
    "suspend.started",
    "suspend.completed",
    "suspend.failed",
    "resume.requested",
    "resume.started",
    "resume.completed",
    "resume.failed",
    "plan.requested",
    "plan.changed",
    "plan.failed",
    "upgrade.requested",
    "upgrade.started",
    "upgrade.completed",
    "upgrade.rolled_back",
    "upgrade.failed",
    "domain.added",
    "domain.verified",
    "domain.issuing",
    "domain.active",
    "domain.failed",
    "domain.removed",
    "domain.primary",
    "url.changed",
    "url.failed",
)

# Moves only a restore makes, by event type and current status; the rank does not apply
# (restoring shares ready's rank, so no other event leaves it but a deletion).
RESTORE_MOVES: dict[tuple[str, Status], Status] = {
    ("restore.started", Status.READY): Status.RESTORING,
    ("restore.started", Status.FAILED): Status.RESTORING,
    ("restore.completed", Status.RESTORING): Status.READY,
    ("restore.failed", Status.RESTORING): Status.FAILED,
}

# Moves only a suspension or a resumption makes, in the same way.
SUSPEND_MOVES: dict[tuple[str, Status], Status] = {
    ("suspend.started", Status.READY): Status.SUSPENDING,
    ("suspend.completed", Status.SUSPENDING): Status.SUSPENDED,
    ("suspend.failed", Status.SUSPENDING): Status.FAILED,
    ("resume.started", Status.SUSPENDED): Status.RESUMING,
    ("resume.completed", Status.RESUMING): Status.READY,
    ("resume.failed", Status.RESUMING): Status.FAILED,
}

# Moves only an engine upgrade makes.
UPGRADE_MOVES: dict[tuple[str, Status], Status] = {
    ("upgrade.started", Status.READY): Status.UPGRADING,
    ("upgrade.completed", Status.UPGRADING): Status.READY,
    ("upgrade.rolled_back", Status.UPGRADING): Status.READY,
    ("upgrade.failed", Status.UPGRADING): Status.FAILED,
}

# The event types whose moves are keyed to an operation's id (the projection keeps it):
# the restore's (`restore_id`), the suspension's or the upgrade's (`operation_id`).
OPERATION_MOVES: dict[str, dict[tuple[str, Status], Status]] = {
    "restore": RESTORE_MOVES,
    "suspend": SUSPEND_MOVES,
    "resume": SUSPEND_MOVES,
    "upgrade": UPGRADE_MOVES,
}

# The status an event moves a store to; `progress` moves nothing.
EVENT_STATUS: dict[str, Status] = {
    "requested": Status.REQUESTED,
    "provisioning": Status.PROVISIONING,
    "ready": Status.READY,
    "failed": Status.FAILED,
    "delete": Status.DELETING,
    "deleting": Status.DELETING,
    "deleted": Status.DELETED,
}

# Work is under way: a store that stays in one of these too long is stuck.
TRANSITIONAL = frozenset(
    {
        Status.REQUESTED,
        Status.PROVISIONING,
        Status.RESTORING,
        Status.SUSPENDING,
        Status.RESUMING,
        Status.UPGRADING,
        Status.DELETING,
    }
)
# A request has reached an outcome; only a user's command moves the store on.
TERMINAL = frozenset({Status.READY, Status.FAILED, Status.SUSPENDED, Status.DELETED})
# Deletion is asked for or done: deleting again does nothing.
DELETION = frozenset({Status.DELETING, Status.DELETED})
# Its workloads are stopped, or on their way down or back up: nothing of it can be backed
# up, so none is scheduled and none is owed (its backups are never stale meanwhile).
SUSPENSION = frozenset({Status.SUSPENDING, Status.SUSPENDED, Status.RESUMING})
# A store that still counts: toward the owner's quota, and holding its slug.
LIVE = frozenset(Status) - {Status.DELETED}


def may_move(current: str, new: str) -> bool:
    """Whether a store may go from `current` to `new`."""
    return (current, new) in BACKWARD_MOVES or RANK[new] > RANK[current]


def moved_by(current: str, event_type: str) -> Status | None:
    """The status `event_type` moves a store in `current` to, or None when it moves nothing."""
    moves = OPERATION_MOVES.get(operation_of(event_type))
    if moves is not None:
        return moves.get((event_type, Status(current)))
    target = EVENT_STATUS.get(event_type)
    if target is None or not may_move(current, target):
        return None
    return target


def operation_of(event_type: str) -> str:
    """`restore`, `suspend`, `backup`... for a two-token event type; "" for the others."""
    head, dot, _ = event_type.partition(".")
    return head if dot else ""


def is_backup_event(event_type: str) -> bool:
    return event_type.startswith("backup.")


def can_restore(status: str) -> bool:
    """A ready store may be restored, and a failed one (a restore that failed, say)."""
    return ("restore.started", status) in RESTORE_MOVES


def can_suspend(status: str) -> bool:
    """Only a ready store may be suspended."""
    return ("suspend.started", status) in SUSPEND_MOVES


def can_resume(status: str) -> bool:
    """Only a suspended store may be resumed."""
    return ("resume.started", status) in SUSPEND_MOVES


def can_upgrade(status: str) -> bool:
    """Only a ready store may be upgraded."""
    return ("upgrade.started", status) in UPGRADE_MOVES


def can_retry(status: str) -> bool:
    """Only a failed store may be requested again."""
    return (status, Status.REQUESTED) in BACKWARD_MOVES


def shown(
    projected: str | None, projected_attempt: int, requested_attempt: int, delete_requested: bool
) -> Status:
    """The status the gateway shows: the projection's, unless a command the gateway has
    recorded (a delete, a retry) is further along than the events the projection has
    folded so far. So an answer never shows a status older than one already shown.

    `projected` is None before the projection has a row; the attempts count `requested`
    events (the first is 1, each retry adds one).
    """
    if projected is not None and projected in DELETION:
        return Status(projected)
    if delete_requested:
        return Status.DELETING
    if projected is None or projected_attempt < requested_attempt:
        return Status.REQUESTED
    return Status(projected)
