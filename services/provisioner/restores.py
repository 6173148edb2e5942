"""The restores consumer's handler: one `store.restore.requested.<id>` in, the store's
data replaced by the backup's, and its events out.

In order: the backup's manifest is read (a backup without one does not exist); a
pre-restore backup of the store as it is now is taken (recorded with
`backup.requested {reason: pre_restore}` and written here, so the restore can be undone;
if it cannot be taken, nothing is changed, that backup ends `backup.failed` and the
restore fails); `restore.started` moves
the store to `restoring`; the data is swapped (`DataSwap`: web stopped, restore Job, setup
again, web started); `restore.completed` returns it to `ready`. A failure after the start
publishes `restore.failed` with the reason (the store is `failed`, its pre-restore backup
kept). Every step is idempotent and the pre-restore backup's id is derived from the
restore's, so a redelivery after a crash carries on.

Called by the provisioner's restores `WorkerPool`. Emits events and metrics.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import structlog

from services.provisioner import metrics
from services.provisioner.backup_runs import BackupError
from services.provisioner.backups import BackupHandler, permanent, request_of, retryable
from services.provisioner.data_swap import DataSwap, SwapTimeout
from services.provisioner.failures import RETRY
from services.provisioner.spec import StoreSpec
from shared.events import Envelope, RestoreRequested
from shared.logs import bound
from shared.outcome import Outcome
from shared.worker import Delivery

log = structlog.get_logger(__name__)

PRE_RESTORE = uuid.UUID("8f1c7a52-3b8e-4d0e-9a55-6b2f3f0e1d44")


def pre_restore_backup_id(restore_id: str) -> str:
    return str(uuid.uuid5(PRE_RESTORE, restore_id))


@dataclass(frozen=True)
class RestoreHandler:
    backups: BackupHandler
    swap: DataSwap
    max_deliver: int

    async def __call__(self, delivery: Delivery) -> Outcome:
        request = request_of(delivery, RestoreRequested)
        if isinstance(request, Outcome):
            return request
        event, data = request
        with bound(store_id=event.store_id, restore_id=data.restore_id):
            return await self._handle(event, data, delivery)

    async def _handle(self, event: Envelope, data: RestoreRequested, delivery: Delivery) -> Outcome:
        attempt, started = max(1, delivery.num_delivered), time.monotonic()
        engine, begun = "unknown", False
        pre_pending = False  # the pre-restore backup asked for, not yet written
        try:
            spec = await self.backups.records.spec(event.store_id)
            engine = spec.engine.name
            manifest = await self.backups.runner.manifest(event.store_id, data.backup_id)
            if manifest is None:
                raise BackupError("backup_missing", "the backup does not exist (no manifest)")
            pre_pending = True
            pre = await self._pre_restore_backup(spec, event, data, attempt)
            pre_pending = False
            await self._event(event, data, "restore.started", {"pre_restore_backup_id": pre})
            begun = True
            await self.swap.replace(spec, manifest, data.restore_id, attempt)
        except Exception as exc:
            return await self._failure(event, data, delivery, exc, engine, begun, pre_pending)
        seconds = round(time.monotonic() - started, 3)
        await self._event(event, data, "restore.completed", {"seconds": seconds})
        metrics.RESTORES.labels(engine=engine, outcome="completed").inc()
        log.info("store restored", backup_id=data.backup_id, seconds=seconds)
        return Outcome.ack()

    async def _pre_restore_backup(
        self, spec: StoreSpec, event: Envelope, data: RestoreRequested, attempt: int
    ) -> str:
        backup_id = pre_restore_backup_id(data.restore_id)
        request = {"backup_id": backup_id, "reason": "pre_restore",
                   "requested_by": data.requested_by}  # fmt: skip
        await self.backups.publish("backup.requested", spec.store_id, request,
                                   correlation_id=event.correlation_id,
                                   event_id=f"{backup_id}:requested")  # fmt: skip
        await self.backups.take(spec, event, backup_id, "pre_restore", attempt)
        return backup_id

    async def _event(
        self, event: Envelope, data: RestoreRequested, event_type: str, extra: dict[str, object]
    ) -> None:
        body = {"restore_id": data.restore_id, "backup_id": data.backup_id, **extra}
        suffix = event_type.split(".")[1]
        await self.backups.publish(event_type, event.store_id, body,
                                   correlation_id=event.correlation_id,
                                   event_id=f"{data.restore_id}:{suffix}")  # fmt: skip

    async def _failure(
        self,
        event: Envelope,
        data: RestoreRequested,
        delivery: Delivery,
        exc: Exception,
        engine: str,
        begun: bool,
        pre_pending: bool,
    ) -> Outcome:
        retry = retryable(exc)
        if retry is not None and delivery.num_delivered < self.max_deliver:
            delay = RETRY.delay(delivery.num_delivered)
            log.warning("restore failed, will retry", code=retry.code, error=str(retry))
            return Outcome.retry(delay, str(retry))
        if isinstance(exc, SwapTimeout):
            code, reason = "not_ready_in_time", str(exc)
        elif retry is not None:
            code, reason = retry.code, f"gave up after {delivery.num_delivered} attempts: {retry}"
        else:
            code, reason = permanent(exc)
        if pre_pending:
            backup_id = pre_restore_backup_id(data.restore_id)
            await self.backups.failed(event, backup_id, code, f"the restore gave up: {reason}")
        if not begun:
            reason = f"nothing was changed: {reason}"
        metrics.RESTORES.labels(engine=engine, outcome="failed").inc()
        log.warning("restore failed", code=code, reason=reason)
        await self._event(event, data, "restore.failed", {"code": code, "reason": reason})
        return Outcome.give_up(reason)
