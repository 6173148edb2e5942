"""The `backups` table as a pure fold over `backup.*` events.

Called by the auditor's Postgres adapter (`services.auditor.store`) with a batch's new
backup events and the rows they touch; returns the rows to write. The auditor is the only
writer of `backups`.

A backup's status only moves up its rank: `requested -> running -> completed ->
verified`, with `failed` beside `verified` (a failure before or after the backup was
written, the throwaway restore included) and `deleted` last. Of two events of one rank
(verified and failed), the earlier in the stream wins, whatever order they arrive in.
Every other column is set by the one event type that carries it, so the row depends only
on which events exist. Events that do not name a backup id are left alone.

Pure: imports no I/O library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from copy import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.auditor.projection import AuditEvent

RANK = {"requested": 0, "running": 1, "completed": 2, "verified": 3, "failed": 3, "deleted": 4}

STATUS_OF = {
    "backup.requested": "requested",
    "backup.started": "running",
    "backup.completed": "completed",
    "backup.failed": "failed",
    "backup.deleted": "deleted",
}


@dataclass
class BackupRow:
    """The columns of one `backups` row; mutable only while a fold advances its copy."""

    id: str
    store_id: str
    status: str
    status_seq: int
    updated_at: datetime
    last_event_seq: int
    reason: str | None = None
    requested_by: str | None = None
    requested_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    verified_at: datetime | None = None
    deleted_at: datetime | None = None
    attempt: int = 0
    engine: str | None = None
    engine_version: str | None = None
    plan: str | None = None
    size_bytes: int | None = None
    objects: dict[str, Any] | None = None
    manifest: str | None = None
    seconds: float | None = None
    orders: int | None = None
    verify_seconds: float | None = None
    error: str | None = None


COLUMNS = tuple(BackupRow.__dataclass_fields__)


def is_backup_event(event: AuditEvent) -> bool:
    return event.type.startswith("backup.") and bool(getattr(event.data, "backup_id", ""))


def fold_backups(current: Mapping[str, BackupRow], events: Iterable[AuditEvent]) -> list[BackupRow]:
    """The rows `events` change, folded onto `current` (keyed by backup id)."""
    drafts: dict[str, BackupRow] = {}
    for event in sorted(events, key=lambda e: e.stream_seq):
        if not is_backup_event(event):
            continue
        backup_id = event.field("backup_id")
        before = drafts.get(backup_id) or current.get(backup_id)
        drafts[backup_id] = step(before, event)
    return [row for key, row in drafts.items() if row != current.get(key)]


def step(row: BackupRow | None, event: AuditEvent) -> BackupRow:
    """The row after one more backup event (in any order)."""
    if row is None:
        draft = BackupRow(
            id=event.field("backup_id"),
            store_id=event.store_id,
            status=status_of(event),
            status_seq=event.stream_seq,
            updated_at=event.occurred_at,
            last_event_seq=event.stream_seq,
        )
    else:
        draft = copy(row)
        _move(draft, event)
    _fill(draft, event)
    return draft


def status_of(event: AuditEvent) -> str:
    if event.type == "backup.verified":
        return "verified" if getattr(event.data, "ok", False) else "failed"
    return STATUS_OF[event.type]


def _error(event: AuditEvent) -> str:
    if event.type == "backup.verified":
        return f"verification failed: {event.data.reason}"
    return str(event.data.reason or event.data.code)


def _move(draft: BackupRow, event: AuditEvent) -> None:
    new = status_of(event)
    higher = RANK[new] > RANK[draft.status]
    earlier_tie = RANK[new] == RANK[draft.status] and event.stream_seq < draft.status_seq
    if higher or earlier_tie:
        draft.status, draft.status_seq = new, event.stream_seq
    draft.updated_at = max(draft.updated_at, event.occurred_at)
    draft.last_event_seq = max(draft.last_event_seq, event.stream_seq)


def _fill(draft: BackupRow, event: AuditEvent) -> None:
    data, at = event.data, event.occurred_at
    # Until its `requested` event is folded, a backup counts from the first event seen.
    draft.requested_at = draft.requested_at or at
    if event.type == "backup.requested":
        draft.reason, draft.requested_by, draft.requested_at = data.reason, data.requested_by, at
    elif event.type == "backup.started":
        draft.attempt = max(draft.attempt, data.attempt)
        draft.started_at = min(draft.started_at or at, at)
    elif event.type == "backup.completed":
        draft.engine, draft.engine_version, draft.plan = data.engine, data.engine_version, data.plan
        draft.size_bytes, draft.manifest, draft.seconds = data.size, data.manifest, data.seconds
        draft.objects = {name: obj.model_dump() for name, obj in data.objects.items()}
        draft.completed_at = at
    elif event.type == "backup.verified":
        draft.orders, draft.verify_seconds, draft.verified_at = data.orders, data.seconds, at
    elif event.type == "backup.deleted":
        draft.deleted_at = at
    # The error is the reason of the event that made the backup failed, if any did.
    if draft.status_seq == event.stream_seq:
        draft.error = _error(event) if draft.status == "failed" else None
