"""The events the reaper publishes, with deterministic ids so that a redelivered message
or a second sweeper publishes the same event again, which the stream's duplicate window
(and the auditor's event-id key) store once.

Pure: imports no I/O library. Called by the deletion handler (`services.reaper.deletion`)
and the sweeper (`services.reaper.sweeper`).

Ids: `<store>:deleting:<namespace uid>`, `<store>:deleted:<namespace uid>` (or
`<store>:deleted` when the store had no namespace left), `<store>:orphan:<namespace uid>`
for a sweep's deletion request, `<store>:timeout:<last event seq>` for a stuck
provisioning failed by a sweep, `<store>:redelete:<last event seq>:<period>` for a
retried deletion (at most one per deletion deadline), `<store>:delete-refused:<uid>`,
`<store>:suspend-stuck:<operation>` and `<store>:resume-stuck:<operation>` for a stuck
suspension or resumption failed by a sweep.

Backups (the backup keeper, `services.reaper.backups`), each stamped with the pass's
time: `<store>:backup-requested:<backup>` (the backup id is itself derived from the
store and its slot), `<store>:backup-stuck:<backup>:<last event seq>`,
`<store>:backup-deleted:<backup>`, `<store>:restore-stuck:<restore>`.
"""

from __future__ import annotations

from datetime import datetime

from shared.events import Envelope, new_event

ACTOR = "reaper"
SWEEP_CORRELATION = "reaper-sweep"
BACKUP_CORRELATION = "reaper-backups"


def deleting(store_id: str, namespace: str, uid: str, correlation_id: str) -> Envelope:
    return new_event(
        "deleting",
        store_id,
        {"namespace": namespace},
        actor=ACTOR,
        correlation_id=correlation_id,
        event_id=f"{store_id}:deleting:{uid}",
    )


def deleted(store_id: str, namespace: str, uid: str | None, correlation_id: str) -> Envelope:
    event_id = f"{store_id}:deleted:{uid}" if uid else f"{store_id}:deleted"
    return new_event(
        "deleted",
        store_id,
        {"namespace": namespace},
        actor=ACTOR,
        correlation_id=correlation_id,
        event_id=event_id,
    )


def delete_refused(store_id: str, uid: str, reason: str, correlation_id: str) -> Envelope:
    return new_event(
        "failed",
        store_id,
        {"code": "delete_refused", "reason": reason},
        actor=ACTOR,
        correlation_id=correlation_id,
        event_id=f"{store_id}:delete-refused:{uid}",
    )


def orphan_delete(store_id: str, namespace: str, uid: str, why: str) -> Envelope:
    reason = f"orphan sweep: namespace {namespace} is left over: {why}"
    return new_event(
        "delete",
        store_id,
        {"requested_by": ACTOR, "reason": reason},
        actor=ACTOR,
        correlation_id=SWEEP_CORRELATION,
        event_id=f"{store_id}:orphan:{uid}",
    )


def provisioning_timeout(store_id: str, last_event_seq: int, reason: str) -> Envelope:
    return new_event(
        "failed",
        store_id,
        {"code": "provisioning_timeout", "reason": reason},
        actor=ACTOR,
        correlation_id=SWEEP_CORRELATION,
        event_id=f"{store_id}:timeout:{last_event_seq}",
    )


def deletion_retry(store_id: str, last_event_seq: int, period: int, reason: str) -> Envelope:
    return new_event(
        "delete",
        store_id,
        {"requested_by": ACTOR, "reason": reason},
        actor=ACTOR,
        correlation_id=SWEEP_CORRELATION,
        event_id=f"{store_id}:redelete:{last_event_seq}:{period}",
    )


def operation_stuck(store_id: str, operation: str, operation_id: str, reason: str) -> Envelope:
    """`suspend.failed`, `resume.failed` or `upgrade.failed` (`operation`), code `stuck`."""
    return new_event(
        f"{operation}.failed",
        store_id,
        {"operation_id": operation_id, "code": "stuck", "reason": reason},
        actor=ACTOR,
        correlation_id=SWEEP_CORRELATION,
        event_id=f"{store_id}:{operation}-stuck:{operation_id}",
    )


def backup_requested(store_id: str, backup_id: str, at: datetime) -> Envelope:
    return new_event(
        "backup.requested",
        store_id,
        {"backup_id": backup_id, "reason": "scheduled", "requested_by": ACTOR},
        actor=ACTOR,
        correlation_id=BACKUP_CORRELATION,
        event_id=f"{store_id}:backup-requested:{backup_id}",
        occurred_at=at,
    )


def backup_stuck(
    store_id: str, backup_id: str, last_event_seq: int, reason: str, at: datetime
) -> Envelope:
    return new_event(
        "backup.failed",
        store_id,
        {"backup_id": backup_id, "code": "stuck", "reason": reason},
        actor=ACTOR,
        correlation_id=BACKUP_CORRELATION,
        event_id=f"{store_id}:backup-stuck:{backup_id}:{last_event_seq}",
        occurred_at=at,
    )


def backup_deleted(store_id: str, backup_id: str, reason: str, at: datetime) -> Envelope:
    return new_event(
        "backup.deleted",
        store_id,
        {"backup_id": backup_id, "reason": reason},
        actor=ACTOR,
        correlation_id=BACKUP_CORRELATION,
        event_id=f"{store_id}:backup-deleted:{backup_id}",
        occurred_at=at,
    )


def restore_stuck(
    store_id: str, restore_id: str, backup_id: str, reason: str, at: datetime
) -> Envelope:
    return new_event(
        "restore.failed",
        store_id,
        {"restore_id": restore_id, "backup_id": backup_id, "code": "stuck", "reason": reason},
        actor=ACTOR,
        correlation_id=BACKUP_CORRELATION,
        event_id=f"{store_id}:restore-stuck:{restore_id}",
        occurred_at=at,
    )
