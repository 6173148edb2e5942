"""The `stores` projection as a pure fold over store events, in stream order.

Called by the auditor's Postgres adapter (`services.auditor.store`) once per batch. It
emits nothing: it turns the rows a batch touches, the batch's new events and (when
needed) earlier events from the audit log into the rows to write.

The auditor is the only writer of `store_states`. The status machine is
`shared.lifecycle`'s: an event that would move a store backwards is kept in the audit log
but leaves the row as it is. Each row
remembers the highest stream sequence folded into it (`last_event_seq`); when an event
arrives with a lower one (a redelivery overtaken by later events) the row is refolded
from the whole history in stream order. So the projection depends only on which events
exist, never on the order they arrived in, and a `rebuild` gives the same rows.

Pure: imports no I/O library.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from copy import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.events import Envelope
from shared.lifecycle import (
    DELETION,
    OPERATION_MOVES,
    TRANSITIONAL,
    Status,
    moved_by,
    operation_of,
)

# Statuses in which `url.changed` leaves the url alone: a request under way sets it with
# its `ready`, and a deleted store keeps its last.
_URL_KEPT = DELETION | {Status.REQUESTED, Status.PROVISIONING}

# Why a store's events could not give it a row (yet): its `requested` event is missing
# or names an owner that is not a uuid.
NO_REQUESTED = "no_requested_event"


@dataclass(frozen=True)
class AuditEvent:
    """One stream message as the audit log stores it."""

    event_id: str
    store_id: str
    type: str
    subject: str
    actor: str
    occurred_at: datetime
    stream_seq: int
    body: str
    data: Any = None
    # Only uuid store ids have a `stores` row; other events live in the log alone.
    projectable: bool = False

    @classmethod
    def from_envelope(
        cls, envelope: Envelope, stream_seq: int, body: str, subject: str | None = None
    ) -> AuditEvent:
        return cls(
            event_id=envelope.id,
            store_id=envelope.store_id,
            type=envelope.type,  # type: ignore[attr-defined]
            subject=subject or envelope.subject,
            actor=envelope.actor,
            occurred_at=envelope.occurred_at,
            stream_seq=stream_seq,
            body=body,
            data=envelope.data,  # type: ignore[attr-defined]
            projectable=is_uuid(envelope.store_id),
        )

    def field(self, name: str) -> str:
        """A payload field as text ("" when this event type has no such field)."""
        return str(getattr(self.data, name, "") or "")

    def attempt(self) -> int:
        """Which request a `requested` event is: 1 for the first, then each retry."""
        return int(getattr(self.data, "attempt", 1) or 1)


@dataclass
class StoreRow:
    """The columns of one `store_states` row. Mutable only so that a fold can advance its
    own copy without copying the row per event; nothing else changes a row."""

    id: str
    owner_id: str
    name: str
    slug: str
    namespace: str
    engine: str
    plan: str
    status: str
    created_at: datetime
    updated_at: datetime
    url: str | None = None
    error: str | None = None
    ready_at: datetime | None = None
    deleted_at: datetime | None = None
    last_event_seq: int = 0
    attempt: int = 1
    restore_id: str | None = None
    operation_id: str | None = None
    engine_version: str | None = None  # None: asked for before engines had versions


def is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def step(row: StoreRow | None, event: AuditEvent) -> StoreRow | None:
    """The row after one more event, folded in stream order."""
    return fold([event], row)


def fold(events: Iterable[AuditEvent], row: StoreRow | None = None) -> StoreRow | None:
    """The row after `events`, folded in stream order, starting from `row`."""
    draft = None if row is None else copy(row)
    for event in sorted(events, key=lambda e: e.stream_seq):
        if draft is None:
            draft = _created(event)
        else:
            _apply(draft, event)
    return draft


def _created(event: AuditEvent) -> StoreRow | None:
    owner = event.field("owner")
    if event.type != "requested" or not is_uuid(owner):
        return None
    return StoreRow(
        id=event.store_id,
        owner_id=owner,
        name=event.field("name"),
        slug=event.field("slug"),
        namespace=event.field("namespace"),
        engine=event.field("engine"),
        plan=event.field("plan"),
        status=Status.REQUESTED,
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
        last_event_seq=event.stream_seq,
        attempt=event.attempt(),
        engine_version=event.field("engine_version") or None,
    )


def _apply(draft: StoreRow, event: AuditEvent) -> None:
    draft.last_event_seq = max(draft.last_event_seq, event.stream_seq)
    if event.type == "requested":
        draft.attempt = max(draft.attempt, event.attempt())
    if operation_of(event.type) in OPERATION_MOVES and not _this_operation(draft, event):
        return
    if event.type == "plan.changed" and draft.status not in DELETION:
        draft.plan, draft.updated_at = event.field("plan"), event.occurred_at
        return
    if event.type == "url.changed":
        # The engine answers at its primary domain now (or at its host again); a store
        # being provisioned again or deleted keeps what its own events say.
        if draft.status not in _URL_KEPT:
            draft.url, draft.updated_at = event.field("url"), event.occurred_at
        return
    target = moved_by(draft.status, event.type)
    if target is None:
        if event.type == "progress" and draft.status in TRANSITIONAL:
            # A store making progress is not stuck: the reaper's sweep reads updated_at.
            draft.updated_at = event.occurred_at
        return
    draft.status = target
    draft.updated_at = event.occurred_at
    if event.type == "requested":  # a retry starts clean, on the version it names
        draft.url = draft.error = draft.ready_at = None
        draft.engine_version = event.field("engine_version") or None
    elif event.type == "ready":
        draft.url, draft.error, draft.ready_at = event.field("url"), None, event.occurred_at
    elif event.type in (
        "failed",
        "restore.failed",
        "suspend.failed",
        "resume.failed",
        "upgrade.failed",
    ):
        draft.error = event.field("reason") or event.field("code")
    elif event.type == "restore.started":
        draft.restore_id = event.field("restore_id")
    elif event.type in ("suspend.started", "resume.started", "upgrade.started"):
        draft.operation_id = event.field("operation_id")
    elif event.type == "upgrade.completed":
        draft.error, draft.engine_version = None, event.field("version")
    elif event.type == "restore.completed":
        draft.error = None
    elif event.type == "resume.completed":
        # Ready again from now: a store's backups are owed from here, not from before
        # its suspension (the staleness rules count from the later of the two).
        draft.error, draft.ready_at = None, event.occurred_at
    elif event.type == "deleted":
        draft.deleted_at = event.occurred_at


def _this_operation(draft: StoreRow, event: AuditEvent) -> bool:
    """Whether a `restore.*`, `suspend.*` or `resume.*` event belongs to the row's
    operation: a start must be of a new one (a late or repeated start never reopens an
    operation that ended), an end of the one under way."""
    if event.type.startswith("restore."):
        key, current = event.field("restore_id"), draft.restore_id
    else:
        key, current = event.field("operation_id"), draft.operation_id
    if event.type.endswith(".started"):
        return key != current
    return key == current


def needs_history(current: Mapping[str, StoreRow], events: Sequence[AuditEvent]) -> set[str]:
    """Stores whose earlier events must be read from the log before folding this batch:
    those without a row yet, those an event reached out of stream order, and those an
    in-place `rebuild` marked for refolding (`last_event_seq` below 0)."""
    lowest: dict[str, int] = {}
    for event in events:
        if event.projectable:
            lowest[event.store_id] = min(
                lowest.get(event.store_id, event.stream_seq), event.stream_seq
            )
    return {
        store_id
        for store_id, seq in lowest.items()
        if store_id not in current
        or seq < current[store_id].last_event_seq
        or current[store_id].last_event_seq < 0
    }


@dataclass(frozen=True)
class Projected:
    """What a batch does to the projection: rows to write, in a safe order, and the
    stores it could not project (with why), which stay in the audit log only."""

    rows: list[StoreRow]
    unprojected: dict[str, str]


def project(
    current: Mapping[str, StoreRow],
    history: Mapping[str, Sequence[AuditEvent]],
    events: Sequence[AuditEvent],
) -> Projected:
    """Fold a batch's new `events` into the `current` rows; `history` holds the earlier
    logged events of every store `needs_history` named."""
    by_store: dict[str, list[AuditEvent]] = defaultdict(list)
    for event in events:
        if event.projectable:
            by_store[event.store_id].append(event)
    rows: list[StoreRow] = []
    unprojected: dict[str, str] = {}
    for store_id, new in by_store.items():
        before = current.get(store_id)
        after = _fold_store(before, history.get(store_id), new)
        if after is None:
            unprojected[store_id] = NO_REQUESTED
        elif after != before:
            rows.append(after)
    # Write deleted rows first: the live-slug unique index ignores them, so a store
    # deleted and another created with its slug in one batch never collide midway. Then
    # oldest first, so if two live stores ever claim one slug, the first one keeps it.
    rows.sort(key=lambda r: (r.status != Status.DELETED, r.created_at, r.id))
    return Projected(rows, unprojected)


def _fold_store(
    before: StoreRow | None, history: Sequence[AuditEvent] | None, new: Sequence[AuditEvent]
) -> StoreRow | None:
    if history is None:  # every new event is later than the row: fold them on
        return fold(new, before)
    refolded = fold([*history, *new])
    if refolded is None:
        # The log holds no usable `requested` (aged out of the stream before the auditor
        # ran, say): keep the row we have and fold the new events onto it.
        return fold(new, before) if before is not None else None
    return refolded
