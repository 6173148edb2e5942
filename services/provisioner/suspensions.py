"""The suspends and resumes consumers' handler: one `store.suspend.requested.<id>` or
`store.resume.requested.<id>` in, the store's workloads stopped or started, its events out.

Suspend, in order: `suspend.started` moves the store to `suspending`; its Ingress is
pointed at the platform's "store paused" page (a Service `storefleet-paused` of type
ExternalName naming the gateway's paused port, the one such Service the admission policy
lets the provisioner write), so visitors never meet a 502; every Deployment and
StatefulSet of the chart is applied with `replicas: 0`, and every CronJob with `suspend:
true` (a store's scheduled work would otherwise start pods against a stopped database),
under a field manager of its own (`storefleet-suspend`), and the handler waits until no
pod of the store runs; `suspend.completed` makes it `suspended`. Volumes, Secrets and the
namespace stay.

Resume: `resume.started`; the chart's workloads are applied again under the provisioner's
own manager, which takes `replicas` back, and waited for; the chart's Ingress is applied
again, which takes the backend back, and its CronJobs (rendered with `suspend: false`),
which take their schedules back; `resume.completed` makes the store `ready`.

A failure publishes `<kind>.failed` with the reason (the store is `failed`; a retry
provisions it again, which starts it and gives it its own route back). Every step is
idempotent, and a request that a later one has replaced in the stream (a resume asked for
after this suspend) is acknowledged without acting, so a redelivery never undoes it.

Called by the provisioner's `suspends` and `resumes` WorkerPools. Emits events and metrics.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import structlog

from services.provisioner import metrics
from services.provisioner.backups import give_up_or_retry, request_of
from services.provisioner.data_swap import SwapTimeout
from services.provisioner.engines import Workload
from services.provisioner.kinds import by_kind
from services.provisioner.kubeapi import StoreKube
from services.provisioner.publisher import Publisher
from services.provisioner.readiness import workload_state
from services.provisioner.render import Renderer, engine_manifests
from services.provisioner.spec import Cluster, Manifest, StoreSpec
from services.provisioner.store_records import StoreRecords
from shared.events import Envelope, ResumeRequested, SuspendRequested
from shared.logs import bound
from shared.outcome import Outcome
from shared.subjects import subject_for
from shared.worker import Delivery

log = structlog.get_logger(__name__)

Kind = Literal["suspend", "resume"]
SUSPEND_MANAGER = "storefleet-suspend"
PAUSED_SERVICE = "storefleet-paused"
SCALED = frozenset({"Deployment", "StatefulSet"})
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class PausedPage:
    """Where the platform serves the "store paused" page, as the store's Ingress reaches
    it: a DNS name (or a Service IP, for an ingress controller outside the cluster)."""

    host: str
    port: int


@dataclass(frozen=True)
class Suspender:
    kube: StoreKube
    renderer: Renderer
    cluster: Cluster
    paused: PausedPage | None
    deadline_seconds: float

    async def suspend(self, spec: StoreSpec) -> None:
        deadline = time.monotonic() + self.deadline_seconds
        rendered = engine_manifests(await self.renderer.render(spec, self.cluster), spec)
        if self.paused is not None:
            await self.kube.apply(paused_service(spec, self.paused), manager=SUSPEND_MANAGER)
            for ingress in rendered.ingress:
                await self.kube.apply(paused_ingress(ingress, self.paused), manager=SUSPEND_MANAGER)
        for manifest in rendered.workloads:
            if manifest["kind"] == "CronJob":
                await self.kube.apply(_held(manifest, spec), manager=SUSPEND_MANAGER)
        scaled = [m for m in rendered.workloads if m["kind"] in SCALED]
        for manifest in scaled:
            await self.kube.apply(_zero(manifest, spec), manager=SUSPEND_MANAGER)
        await self._until(spec, scaled, deadline, stopped=True)

    async def resume(self, spec: StoreSpec) -> None:
        deadline = time.monotonic() + self.deadline_seconds
        rendered = engine_manifests(await self.renderer.render(spec, self.cluster), spec)
        scaled = [m for m in rendered.workloads if m["kind"] in SCALED]
        for manifest in scaled:
            await self.kube.apply(manifest)
        await self.until_serving(spec, scaled, deadline)
        for manifest in rendered.workloads:
            if manifest["kind"] == "CronJob":
                await self.kube.apply(manifest)
        for ingress in rendered.ingress:
            await self.kube.apply(ingress)

    async def until_serving(
        self, spec: StoreSpec, workloads: Sequence[Manifest], deadline: float
    ) -> None:
        """Wait until every one of `workloads` has all its replicas updated and ready."""
        await self._until(spec, workloads, deadline, stopped=False)

    async def _until(
        self, spec: StoreSpec, workloads: Sequence[Manifest], deadline: float, *, stopped: bool
    ) -> None:
        while True:
            if stopped:
                done = not await self._running_pods(spec)
            else:
                states = [
                    workload_state(
                        Workload(m["kind"], m["metadata"]["name"]),
                        await self.kube.get(
                            by_kind(m["kind"]), m["metadata"]["name"], spec.namespace
                        ),
                    )
                    for m in workloads
                ]
                done = all(state.ready for state in states)
            if done:
                return
            if time.monotonic() > deadline:
                doing = "stop" if stopped else "start"
                raise SwapTimeout(f"the store's workloads did not {doing} in time")
            await asyncio.sleep(POLL_SECONDS)

    async def _running_pods(self, spec: StoreSpec) -> list[str]:
        """Pods of the store that are not finished (a completed Job's pod is)."""
        pods = (await self.kube.list(by_kind("Pod"), spec.namespace)).get("items") or []
        ended = ("Succeeded", "Failed")
        return [
            p["metadata"]["name"] for p in pods if p.get("status", {}).get("phase") not in ended
        ]


def paused_service(spec: StoreSpec, paused: PausedPage) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": PAUSED_SERVICE, "namespace": spec.namespace, "labels": spec.labels()},
        "spec": {
            "type": "ExternalName",
            "externalName": paused.host,
            "ports": [{"name": "http", "port": paused.port, "protocol": "TCP"}],
        },
    }


def paused_ingress(ingress: Manifest, paused: PausedPage) -> Manifest:
    """The chart's Ingress rules with every path sent to the paused page, and nothing
    else: `rules` is an atomic list, so the provisioner's own apply on resume takes all of
    it back, while labels, annotations and TLS stay the provisioner's throughout."""
    rules = copy.deepcopy(ingress.get("spec", {}).get("rules") or [])
    backend = {"service": {"name": PAUSED_SERVICE, "port": {"number": paused.port}}}
    for rule in rules:
        for path in (rule.get("http") or {}).get("paths") or []:
            path["backend"] = copy.deepcopy(backend)
    meta = ingress["metadata"]
    return {
        "apiVersion": ingress["apiVersion"],
        "kind": "Ingress",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "spec": {"rules": rules},
    }


def _held(manifest: Manifest, spec: StoreSpec) -> Manifest:
    """A CronJob with its schedule suspended: no new runs while the store is suspended."""
    return {
        "apiVersion": manifest["apiVersion"],
        "kind": "CronJob",
        "metadata": {"name": manifest["metadata"]["name"], "namespace": spec.namespace},
        "spec": {"suspend": True},
    }


def _zero(manifest: Manifest, spec: StoreSpec) -> Manifest:
    return {
        "apiVersion": manifest["apiVersion"],
        "kind": manifest["kind"],
        "metadata": {"name": manifest["metadata"]["name"], "namespace": spec.namespace},
        "spec": {"replicas": 0},
    }


@dataclass(frozen=True)
class SuspensionHandler:
    kind: Kind
    records: StoreRecords
    suspender: Suspender
    publish: Publisher
    max_deliver: int

    async def __call__(self, delivery: Delivery) -> Outcome:
        payload: type[SuspendRequested | ResumeRequested]
        payload = SuspendRequested if self.kind == "suspend" else ResumeRequested
        request = request_of(delivery, payload)
        if isinstance(request, Outcome):
            return request
        event, data = request
        operation_id = data.operation_id
        with bound(store_id=event.store_id, operation_id=operation_id, kind=self.kind):
            if await self._replaced(event.store_id, delivery.stream_seq):
                log.info("a later request replaced this one; nothing done")
                return Outcome.ack()
            return await self._handle(event, operation_id, delivery)

    async def _replaced(self, store_id: str, seq: int) -> bool:
        other = "resume" if self.kind == "suspend" else "suspend"
        later = await self.records.last_seq(subject_for(f"{other}.requested", store_id))
        return later > seq

    async def _handle(self, event: Envelope, operation_id: str, delivery: Delivery) -> Outcome:
        started = time.monotonic()
        try:
            spec = await self.records.spec(event.store_id)
            await self._event(event, operation_id, "started", {})
            if self.kind == "suspend":
                await self.suspender.suspend(spec)
            else:
                await self.suspender.resume(spec)
        except Exception as exc:
            return await self._failure(event, operation_id, delivery, exc)
        seconds = round(time.monotonic() - started, 3)
        await self._event(event, operation_id, "completed", {"seconds": seconds})
        metrics.SUSPENSIONS.labels(kind=self.kind, outcome="completed").inc()
        log.info("store suspended" if self.kind == "suspend" else "store resumed", seconds=seconds)
        return Outcome.ack()

    async def _event(
        self, event: Envelope, operation_id: str, step: str, extra: dict[str, object]
    ) -> None:
        await self.publish(f"{self.kind}.{step}", event.store_id,
                           {"operation_id": operation_id, **extra},
                           correlation_id=event.correlation_id,
                           event_id=f"{operation_id}:{step}")  # fmt: skip

    async def _failure(
        self, event: Envelope, operation_id: str, delivery: Delivery, exc: Exception
    ) -> Outcome:
        timeout = "not_stopped_in_time" if self.kind == "suspend" else "not_ready_in_time"
        settled = give_up_or_retry(exc, delivery, self.max_deliver, timeout)
        if isinstance(settled, Outcome):
            return settled
        code, reason = settled
        metrics.SUSPENSIONS.labels(kind=self.kind, outcome="failed").inc()
        log.warning(f"{self.kind} failed", code=code, reason=reason)
        await self._event(event, operation_id, "failed", {"code": code, "reason": reason})
        return Outcome.give_up(reason)
