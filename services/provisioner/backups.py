"""The backups consumer's handler: one `store.backup.requested.<id>` in, the backup
written, read back and verified, and its events out (`backup.started`, `backup.completed`,
`backup.verified`, or `backup.failed` with a reason the owner reads).

A request whose reason is `pre_restore` or `pre_upgrade` is recorded only: the restore or
upgrade that published it takes that backup itself, before it changes anything. A
temporary failure (the object store or the API server unreachable, a Job that failed) is
retried with a backoff, with the same backup id, until the consumer's deliveries run out;
each attempt starts clean (`BackupRunner.write`). Events carry ids derived from the
backup, so a redelivery repeats none.

Called by the provisioner's backups `WorkerPool`. Emits events and metrics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from services.provisioner import metrics
from services.provisioner.backup_runs import BackupError, BackupRunner
from services.provisioner.data_swap import SwapTimeout
from services.provisioner.failures import RETRY, classify
from services.provisioner.job_runs import JobFailed
from services.provisioner.publisher import Publisher
from services.provisioner.spec import StoreSpec
from services.provisioner.store_records import StoreGone, StoreRecords
from shared.events import BackupRequested, Envelope, InvalidEvent, Payload
from shared.kube_errors import KubeError
from shared.logs import bound
from shared.objectstore import ObjectStoreError, ObjectStoreUnavailable
from shared.outcome import Outcome, TemporaryError
from shared.worker import Delivery

log = structlog.get_logger(__name__)

# Taken by the operation that asked for it, not by this consumer.
TAKEN_BY_THE_OPERATION = frozenset({"pre_restore", "pre_upgrade"})


class Retry(Exception):
    """A failure worth another attempt; `code` and the message say what failed."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def retryable(exc: BaseException) -> Retry | None:
    """The `Retry` an operation's exception stands for, or None when it is permanent."""
    if isinstance(exc, ObjectStoreUnavailable):
        return Retry("storage_unavailable", str(exc))
    if isinstance(exc, TemporaryError):
        return Retry("nats_unavailable", str(exc))
    if isinstance(exc, JobFailed):
        return Retry("job_failed", str(exc))
    if isinstance(exc, KubeError) and classify(exc).temporary:
        return Retry(classify(exc).code, classify(exc).reason)
    return None


def permanent(exc: BaseException) -> tuple[str, str]:
    """(code, reason) of a failure retrying will not cure."""
    if isinstance(exc, BackupError):
        return exc.code, str(exc)
    if isinstance(exc, StoreGone):
        return "store_gone", str(exc)
    if isinstance(exc, ObjectStoreError):
        return "storage_refused", str(exc)
    if isinstance(exc, KubeError):
        failure = classify(exc)
        return failure.code, failure.reason
    return "internal", type(exc).__name__


def give_up_or_retry(
    exc: BaseException, delivery: Delivery, max_deliver: int, timeout_code: str
) -> Outcome | tuple[str, str]:
    """A retry of a temporary failure while deliveries remain; otherwise the (code,
    reason) the operation's failure event carries; `SwapTimeout` (the workloads did not
    stop or start in time) is `timeout_code`."""
    retry = retryable(exc)
    if retry is not None and delivery.num_delivered < max_deliver:
        log.warning("failed, will retry", code=retry.code, error=str(retry))
        return Outcome.retry(RETRY.delay(delivery.num_delivered), str(retry))
    if isinstance(exc, SwapTimeout):
        return timeout_code, str(exc)
    if retry is not None:
        return retry.code, f"gave up after {delivery.num_delivered} attempts: {retry}"
    return permanent(exc)


P = TypeVar("P", bound=Payload)


def request_of(delivery: Delivery, payload: type[P]) -> tuple[Envelope, P] | Outcome:
    """The delivered event and its payload of type `payload`, or the outcome of a message
    that is not one (given up: redelivering it cannot help)."""
    try:
        event = delivery.event()
    except InvalidEvent as exc:
        return Outcome.give_up(f"invalid event: {exc}")
    data = getattr(event, "data", None)
    if not isinstance(data, payload):
        return Outcome.give_up(f"not a {payload.__name__}: {type(event).__name__}")
    return event, data


@dataclass(frozen=True)
class BackupHandler:
    records: StoreRecords
    runner: BackupRunner
    publish: Publisher
    worker: str
    max_deliver: int
    verify: bool = True

    async def __call__(self, delivery: Delivery) -> Outcome:
        request = request_of(delivery, BackupRequested)
        if isinstance(request, Outcome):
            return request
        event, data = request
        if data.reason in TAKEN_BY_THE_OPERATION:
            return Outcome.ack()
        with bound(store_id=event.store_id, backup_id=data.backup_id):
            return await self._handle(event, data, delivery)

    async def _handle(self, event: Envelope, data: BackupRequested, delivery: Delivery) -> Outcome:
        attempt = max(1, delivery.num_delivered)
        engine = "unknown"
        started = time.monotonic()
        try:
            spec = await self.records.spec(event.store_id)
            engine = spec.engine.name
            await self.take(spec, event, data.backup_id, data.reason, attempt)
        except Exception as exc:
            return await self._failure(event, data, delivery, exc, engine, started)
        return Outcome.ack()

    async def take(
        self, spec: StoreSpec, cause: Envelope, backup_id: str, reason: str, attempt: int
    ) -> dict[str, object]:
        """Write and (when configured) verify one backup of `spec`'s store, publishing its
        events; returns its manifest. Also called by a restore for its pre-restore backup,
        which it does not verify."""
        publish, ids = self.publish, f"{backup_id}:"
        store_id, correlation = spec.store_id, cause.correlation_id
        started = time.monotonic()
        await publish("backup.started", store_id,
                      {"backup_id": backup_id, "worker": self.worker, "attempt": attempt},
                      correlation_id=correlation, event_id=f"{ids}started:{attempt}")  # fmt: skip
        manifest = await self.runner.write(spec, backup_id, attempt, reason)
        objects = manifest["objects"]
        size = sum(int(o["size"]) for o in objects.values())
        completed = {
            "backup_id": backup_id,
            "engine": manifest["engine"],
            "engine_version": manifest.get("engine_version", ""),
            "plan": manifest.get("plan", spec.plan_name),
            "size": size,
            "objects": {n: {"size": o["size"], "sha256": o["sha256"]} for n, o in objects.items()},
            "manifest": self.runner.store.backup_key(store_id, backup_id, "manifest.json"),
            "seconds": float(manifest.get("seconds", 0.0)),
        }
        await publish("backup.completed", store_id, completed, correlation_id=correlation,
                      event_id=f"{ids}completed")  # fmt: skip
        metrics.BACKUP_SECONDS.labels(engine=spec.engine.name, outcome="completed").observe(
            time.monotonic() - started
        )
        metrics.BACKUP_BYTES.labels(engine=spec.engine.name).observe(size)
        metrics.BACKUPS.labels(engine=spec.engine.name, outcome="completed").inc()
        log.info("backup written", size=size, objects=sorted(objects))
        if self.verify and reason not in TAKEN_BY_THE_OPERATION:
            await self._verify(spec, cause, backup_id, manifest, attempt)
        return manifest

    async def _verify(
        self,
        spec: StoreSpec,
        cause: Envelope,
        backup_id: str,
        manifest: dict[str, Any],
        attempt: int,
    ) -> None:
        started = time.monotonic()
        result: dict[str, object] = {"backup_id": backup_id, "check": "order_count"}
        try:
            orders = await self.runner.verify(spec, backup_id, manifest, attempt)
            result |= {"ok": True, "orders": orders}
        except (JobFailed, BackupError) as exc:
            metrics.BACKUPS.labels(engine=spec.engine.name, outcome="verify_failed").inc()
            result |= {"ok": False, "reason": str(exc)}
        result["seconds"] = round(time.monotonic() - started, 3)
        await self.publish("backup.verified", spec.store_id, result,
                           correlation_id=cause.correlation_id,
                           event_id=f"{backup_id}:verified")  # fmt: skip
        log.info("backup verified", ok=result["ok"], orders=result.get("orders"),
                 reason=result.get("reason", ""))  # fmt: skip

    async def _failure(
        self,
        event: Envelope,
        data: BackupRequested,
        delivery: Delivery,
        exc: Exception,
        engine: str,
        started: float,
    ) -> Outcome:
        retry = retryable(exc)
        if retry is not None and delivery.num_delivered < self.max_deliver:
            delay = RETRY.delay(delivery.num_delivered)
            log.warning("backup failed, will retry", code=retry.code, error=str(retry), delay=delay)
            return Outcome.retry(delay, str(retry))
        code, reason = (retry.code, str(retry)) if retry is not None else permanent(exc)
        if retry is not None:
            reason = f"gave up after {delivery.num_delivered} attempts: {reason}"
        metrics.BACKUP_SECONDS.labels(engine=engine, outcome="failed").observe(
            time.monotonic() - started
        )
        metrics.BACKUPS.labels(engine=engine, outcome="failed").inc()
        log.warning("backup failed", code=code, reason=reason)
        await self.failed(event, data.backup_id, code, reason)
        return Outcome.give_up(reason)

    async def failed(self, cause: Envelope, backup_id: str, code: str, reason: str) -> None:
        """`backup.failed` for `backup_id`: this consumer's, or the pre-restore or
        pre-upgrade backup of an operation that gave up before the backup was written (it
        would otherwise stay `running` until the reaper's stuck-backup deadline)."""
        await self.publish("backup.failed", cause.store_id,
                           {"backup_id": backup_id, "code": code, "reason": reason},
                           correlation_id=cause.correlation_id,
                           event_id=f"{backup_id}:failed")  # fmt: skip
