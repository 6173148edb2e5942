"""The reaper's handler for `store.delete.<id>`: publish `deleting`, delete the store's
namespace with foreground propagation, wait until Kubernetes has really removed it, and
publish `deleted`.

Called by `shared.worker.WorkerPool` (which sends in-progress acks while this waits, and
carries out the returned `Outcome`). Emits `store.deleting`, `store.deleted`, and
`store.failed` (code `delete_refused`) when the API server refuses the deletion for good.

Redelivery is harmless: the namespaces are found by label each time, the events carry
deterministic ids (`services.reaper.notices`), and a store with no namespace left goes
straight to `deleted`, published once (the stream is checked for an earlier one). A
namespace that only has the store's name, without its labels, is never deleted.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import nats.errors
import structlog

from services.reaper import metrics, notices
from services.reaper.guard import NamespaceInfo
from services.reaper.namespaces import Namespaces, NotAStoreNamespace
from services.reaper.records import Records
from shared.backoff import Backoff
from shared.events import Envelope, InvalidEvent
from shared.kube_errors import KubeError
from shared.logs import bound
from shared.outcome import Outcome
from shared.worker import Delivery

log = structlog.get_logger(__name__)

Publish = Callable[[Envelope], Awaitable[object]]


@dataclass(frozen=True)
class DeletionTiming:
    wait_seconds: float = 600.0  # how long one delivery waits for a namespace to go
    poll_seconds: float = 1.0
    retry_seconds: float = 30.0  # redelivery delay while a namespace is still terminating
    error_retry_seconds: float = 2.0  # first delay after an API or NATS error, then doubling

    def error_backoff(self) -> Backoff:
        """Redelivery delays after API or NATS errors, by delivery count, up to a minute."""
        return Backoff(base=self.error_retry_seconds, cap=60.0)


class DeletionHandler:
    def __init__(
        self,
        namespaces: Namespaces,
        records: Records,
        publish: Publish,
        timing: DeletionTiming = DeletionTiming(),
    ) -> None:
        self._namespaces = namespaces
        self._records = records
        self._publish = publish
        self._timing = timing
        self._errors = timing.error_backoff()

    async def __call__(self, delivery: Delivery) -> Outcome:
        try:
            request = delivery.event()
        except InvalidEvent as exc:
            metrics.DELETIONS.labels("invalid").inc()
            return Outcome.give_up(f"not a store event: {exc}")
        with bound(store_id=request.store_id, correlation_id=request.correlation_id):
            delay = self._errors.delay(delivery.num_delivered)
            try:
                return await self._delete(request)
            except KubeError as exc:
                return await self._kube_failed(request, exc, delay)
            except nats.errors.Error as exc:
                metrics.DELETIONS.labels("retried").inc()
                return Outcome.retry(delay, f"NATS: {exc}")

    async def _delete(self, request: Envelope) -> Outcome:
        store_id, correlation = request.store_id, request.correlation_id
        expected = await self._records.namespace_of(store_id)
        found = await self._namespaces.of_store(store_id)
        if expected and expected not in {ns.name for ns in found}:
            await self._spare_if_present(expected, store_id)
        if not found:
            if not await self._records.deleted_in_stream(store_id):
                await self._publish(notices.deleted(store_id, expected or "", None, correlation))
            metrics.DELETIONS.labels("already_gone").inc()
            log.info("store namespace already gone", namespace=expected)
            return Outcome.ack()
        for namespace in found:
            outcome = await self._delete_one(store_id, namespace, correlation)
            if outcome is not None:
                return outcome
        return Outcome.ack()

    async def _delete_one(
        self, store_id: str, namespace: NamespaceInfo, correlation: str
    ) -> Outcome | None:
        """None once the namespace is gone and `deleted` published; else the outcome."""
        await self._publish(notices.deleting(store_id, namespace.name, namespace.uid, correlation))
        started = time.monotonic()
        try:
            await self._namespaces.delete(namespace, store_id)
        except NotAStoreNamespace as exc:  # of_store filtered already; belt and braces
            metrics.SPARED.inc()
            log.warning("namespace spared", reason=str(exc))
            return None
        log.info("namespace deletion started", namespace=namespace.name)
        timing = self._timing
        if not await self._namespaces.wait_gone(
            namespace, timing.wait_seconds, timing.poll_seconds
        ):
            return await self._still_terminating(namespace)
        metrics.DELETION_SECONDS.observe(time.monotonic() - started)
        await self._publish(notices.deleted(store_id, namespace.name, namespace.uid, correlation))
        metrics.DELETIONS.labels("deleted").inc()
        log.info("store namespace deleted", namespace=namespace.name)
        return None

    async def _still_terminating(self, namespace: NamespaceInfo) -> Outcome:
        current = await self._namespaces.read(namespace.name)
        holders = list(current.holders) if current else []
        metrics.DELETIONS.labels("still_terminating").inc()
        log.warning(
            "namespace still terminating; will look again",
            namespace=namespace.name,
            held_by=holders,
        )
        return Outcome.retry(
            self._timing.retry_seconds,
            f"namespace {namespace.name} still terminating, held by {holders}",
        )

    async def _spare_if_present(self, name: str, store_id: str) -> None:
        if await self._namespaces.exists(name):
            metrics.SPARED.inc()
            log.warning(
                "namespace named like the store's lacks its labels; left alone",
                namespace=name,
                store_id=store_id,
            )

    async def _kube_failed(self, request: Envelope, exc: KubeError, delay: float) -> Outcome:
        if exc.temporary:
            metrics.DELETIONS.labels("retried").inc()
            return Outcome.retry(delay, str(exc))
        metrics.DELETIONS.labels("refused").inc()
        log.error("the API server refused the deletion", error=str(exc))
        # The owner reads the event; the API server's own text stays in the log above.
        reason = "Kubernetes refused to delete the store's namespace; an operator can see why"
        await self._publish(
            notices.delete_refused(request.store_id, request.id, reason, request.correlation_id)
        )
        return Outcome.give_up(f"{reason}: {exc}")
