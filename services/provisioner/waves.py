"""The mechanics of one store's waves against Kubernetes: apply a list of manifests in
kind order (concurrently within a kind group, each call retried on temporary errors),
create the store Secret once, wait for a fresh namespace to settle and for workloads to
become ready (fed by the status watch, cut short by a delete request or the deadline),
and mark the namespace ready. It never deletes anything: a namespace whose store was
deleted is the reaper's to remove.

Called by the handler. Raises `KubeError` (after retries), `NotReady`, `StoreDeleted`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from services.provisioner.deletes import DeleteSignals
from services.provisioner.engines import Workload
from services.provisioner.failures import classify
from services.provisioner.kinds import kind_of, ref
from services.provisioner.kubeapi import StoreKube
from services.provisioner.readiness import State, quota_counted, workload_state
from services.provisioner.spec import QUOTA, READY_ANNOTATION, Manifest, StoreSpec
from services.provisioner.watch import StatusWatch
from shared.backoff import Backoff
from shared.kube_errors import KubeError

log = structlog.get_logger(__name__)
STATUS_MANAGER = "storefleet-status"
# Between attempts of one Kubernetes call: 0.25 s, 0.5 s, 1 s, ... up to 4 s.
APPLY_RETRY = Backoff(base=0.25, cap=4.0)


class StoreDeleted(Exception):
    """A delete request for the store is in the stream."""


class NotReady(Exception):
    """The store cannot become ready: a workload failed, or the deadline passed."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass
class Waves:
    kube: StoreKube
    watch: StatusWatch
    deletes: DeleteSignals
    attempts: int = 6
    backoff: Backoff = APPLY_RETRY
    recheck: float = 5.0

    async def apply(
        self, manifests: Sequence[Manifest], create_once: Sequence[Manifest] = ()
    ) -> list[str]:
        """Apply `manifests` in kind order, objects of one order concurrently. Those in
        `create_once` are created if absent and otherwise left exactly as they are."""
        calls: list[tuple[Manifest, Callable[[Manifest], Any]]] = [
            *((m, self.kube.apply) for m in manifests),
            *((m, self.kube.create) for m in create_once),
        ]
        calls.sort(key=lambda call: kind_of(call[0]).order)
        for _, group in itertools.groupby(calls, key=lambda call: kind_of(call[0]).order):
            await asyncio.gather(*(self._retrying(call, m) for m, call in group))
        return [ref(m) for m, _ in calls]

    async def _retrying(self, call: Callable[[Manifest], Any], manifest: Manifest) -> Any:
        for attempt in range(1, self.attempts + 1):
            try:
                return await call(manifest)
            except KubeError as exc:
                if attempt == self.attempts or not classify(exc).temporary:
                    raise
                log.info("retrying", object=ref(manifest), error=str(exc), attempt=attempt)
                await asyncio.sleep(self.backoff.delay(attempt))
        raise AssertionError("unreachable")

    async def settled(self, spec: StoreSpec, deadline: float, deleted: asyncio.Event) -> None:
        """Wait for what admission needs in a fresh namespace: the default ServiceAccount
        and the quota's computed status. Pods created before are refused."""

        def check() -> State:
            if self.watch.get("ServiceAccount", spec.namespace, "default") is None:
                return State(False, "the namespace's default ServiceAccount does not exist yet")
            if not quota_counted(self.watch.get("ResourceQuota", spec.namespace, QUOTA)):
                return State(False, "the store's quota has not been counted yet")
            return State(True)

        await self._wait(spec, check, deadline, deleted)

    async def ready(
        self,
        spec: StoreSpec,
        workloads: Sequence[Workload],
        deadline: float,
        deleted: asyncio.Event,
    ) -> None:
        def check() -> State:
            states = [
                workload_state(w, self.watch.get(w.kind, spec.namespace, w.name)) for w in workloads
            ]
            failed = [s.failed for s in states if s.failed]
            if failed:
                return State(False, failed="; ".join(failed))
            waiting = [s.detail for s in states if not s.ready]
            return State(not waiting, "; ".join(waiting))

        await self._wait(spec, check, deadline, deleted)

    async def _wait(
        self, spec: StoreSpec, check: Callable[[], State], deadline: float, deleted: asyncio.Event
    ) -> None:
        """Until `check` says ready, fails, or the deadline passes; `deleted` (from the
        handler's `deletes.listen`, held for the whole delivery) cuts it short."""
        with self.watch.listen(spec.namespace) as changed:
            while True:
                if deleted.is_set():
                    if await self.deletes.requested(spec.store_id):
                        raise StoreDeleted(spec.store_id)
                    deleted.clear()  # not in our stream: somebody else's store
                state = check()
                if state.failed:
                    raise NotReady("workload_failed", state.failed)
                if state.ready:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise NotReady(
                        "not_ready_in_time", f"the store was not ready in time: {state.detail}"
                    )
                changed.clear()
                await _first(changed, deleted, timeout=min(remaining, self.recheck))

    async def mark_ready(self, spec: StoreSpec) -> None:
        """Note on the namespace that the store is ready (the credentials responder reads it)."""
        marker = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": spec.namespace,
                "annotations": {READY_ANNOTATION: datetime.now(UTC).isoformat(timespec="seconds")},
            },
        }
        await self._retrying(lambda m: self.kube.apply(m, manager=STATUS_MANAGER), marker)


async def _first(*events: asyncio.Event, timeout: float) -> None:
    """Return when any of the events is set, or after `timeout`."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
