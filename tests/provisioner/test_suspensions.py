"""Suspend and resume on the real control plane (simulated nodes): a ready store's
Ingress is pointed at the platform's paused page and every workload goes to zero with no
pod left running, its Secret and volumes kept; resuming brings the same workloads and its
own route back. A suspend that a later resume replaced in the stream does nothing, and one
whose workloads do not stop in time fails the store with the reason."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, AppsV1Api, BatchV1Api, CoreV1Api, NetworkingV1Api

from services.provisioner.suspensions import PAUSED_SERVICE
from shared.events import new_event
from shared.jetstream import publish_event
from tests.provisioner.harness import Harness, Store

pytestmark = pytest.mark.cluster
PAUSED = {"paused_host": "storefleet-gateway.storefleet.svc.cluster.local", "paused_port": 8082}


async def operate(harness: Harness, store: Store, kind: str) -> str:
    operation_id = str(uuid.uuid4())
    data = {"operation_id": operation_id, "requested_by": "user-1"}
    event = new_event(f"{kind}.requested", store.id, data, actor="user-1", correlation_id="c")
    await publish_event(harness.js, event, stream=harness.stream)
    return operation_id


async def ended(harness: Harness, store: Store, kind: str, operation_id: str) -> Any:
    def done() -> bool:
        return any(
            e.data.operation_id == operation_id  # type: ignore[attr-defined]
            for t in (f"{kind}.completed", f"{kind}.failed")
            for e in harness.events.of_type(store.id, t)
        )

    await harness.events.until(done, 120, f"{kind} {operation_id}")
    return next(
        e
        for e in harness.events.by_store[store.id]
        if e.type.startswith(f"{kind}.") and e.type.endswith(("completed", "failed"))  # type: ignore[attr-defined]
    )


async def workloads(api: ApiClient, namespace: str) -> dict[str, int]:
    apps = AppsV1Api(api)
    found = {f"Deployment/{d.metadata.name}": d.spec.replicas
             for d in (await apps.list_namespaced_deployment(namespace)).items}  # fmt: skip
    found |= {f"StatefulSet/{s.metadata.name}": s.spec.replicas
              for s in (await apps.list_namespaced_stateful_set(namespace)).items}  # fmt: skip
    return found


async def cron_suspended(api: ApiClient, namespace: str) -> dict[str, bool]:
    jobs = (await BatchV1Api(api).list_namespaced_cron_job(namespace)).items
    return {c.metadata.name: bool(c.spec.suspend) for c in jobs}


async def running_pods(api: ApiClient, namespace: str) -> list[str]:
    pods = (await CoreV1Api(api).list_namespaced_pod(namespace)).items
    return [p.metadata.name for p in pods if p.status.phase not in ("Succeeded", "Failed")]


async def backends(api: ApiClient, namespace: str) -> set[str]:
    ingresses = (await NetworkingV1Api(api).list_namespaced_ingress(namespace)).items
    return {
        path.backend.service.name
        for ing in ingresses
        for rule in ing.spec.rules
        for path in rule.http.paths
    }


async def test_a_suspended_store_stops_everything_and_resumes_as_it_was(
    harness: Harness, kube_api: ApiClient
) -> None:
    async with harness.running(workers=2, **PAUSED):
        store = await harness.request()
        assert (await harness.events.outcome(store.id)).type == "ready"
        ns = store.namespace
        before = await workloads(kube_api, ns)
        served = await backends(kube_api, ns)
        secret = (await CoreV1Api(kube_api).read_namespaced_secret("store-secret", ns)).data
        claims = {c.metadata.name for c in (await CoreV1Api(kube_api)
                  .list_namespaced_persistent_volume_claim(ns)).items}  # fmt: skip
        assert before and all(n >= 1 for n in before.values())
        assert await cron_suspended(kube_api, ns) == {"wordpress-cron": False}

        suspend = await operate(harness, store, "suspend")
        outcome = await ended(harness, store, "suspend", suspend)

        assert outcome.type == "suspend.completed", outcome.data
        assert await workloads(kube_api, ns) == dict.fromkeys(before, 0)
        assert await running_pods(kube_api, ns) == []
        assert await cron_suspended(kube_api, ns) == {"wordpress-cron": True}
        assert await backends(kube_api, ns) == {PAUSED_SERVICE}
        paused = await CoreV1Api(kube_api).read_namespaced_service(PAUSED_SERVICE, ns)
        assert (paused.spec.type, paused.spec.external_name) == (
            "ExternalName",
            PAUSED["paused_host"],
        )
        assert (await CoreV1Api(kube_api).read_namespaced_secret("store-secret", ns)).data == secret

        resume = await operate(harness, store, "resume")
        outcome = await ended(harness, store, "resume", resume)

        assert outcome.type == "resume.completed", outcome.data
        assert await workloads(kube_api, ns) == before
        assert await cron_suspended(kube_api, ns) == {"wordpress-cron": False}
        assert await backends(kube_api, ns) == served
        assert (await CoreV1Api(kube_api).read_namespaced_secret("store-secret", ns)).data == secret
        after = {c.metadata.name for c in (await CoreV1Api(kube_api)
                 .list_namespaced_persistent_volume_claim(ns)).items}  # fmt: skip
        assert after == claims
    types = harness.events.types(store.id)
    assert types[-6:] == ["suspend.requested", "suspend.started", "suspend.completed",
                          "resume.requested", "resume.started", "resume.completed"]  # fmt: skip


async def test_a_suspend_a_later_resume_replaced_does_nothing(
    harness: Harness, kube_api: ApiClient
) -> None:
    async with harness.running(workers=2, **PAUSED):
        store = await harness.request()
        assert (await harness.events.outcome(store.id)).type == "ready"
        before = await workloads(kube_api, store.namespace)
    # Both asked for while the provisioner was away: the suspend is older than the resume.
    await operate(harness, store, "suspend")
    resume = await operate(harness, store, "resume")
    async with harness.running(workers=2, **PAUSED):
        await ended(harness, store, "resume", resume)

    assert "suspend.started" not in harness.events.types(store.id)
    assert await workloads(kube_api, store.namespace) == before


async def test_a_suspend_whose_pods_do_not_stop_in_time_fails_with_the_reason(
    harness: Harness, kube_api: ApiClient
) -> None:
    async with harness.running(workers=2, **PAUSED):
        store = await harness.request()
        assert (await harness.events.outcome(store.id)).type == "ready"
    # A pod no workload owns keeps running whatever the workloads are scaled to.
    secure = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
              "runAsNonRoot": True, "runAsUser": 1000,
              "seccompProfile": {"type": "RuntimeDefault"}}  # fmt: skip
    container = {"name": "c", "image": "busybox", "securityContext": secure,
                 "resources": {"limits": {"cpu": "10m", "memory": "8Mi"}}}  # fmt: skip
    stray = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stray"},
             "spec": {"containers": [container]}}  # fmt: skip
    await CoreV1Api(kube_api).create_namespaced_pod(store.namespace, stray)
    async with harness.running(workers=2, suspend_deadline_seconds=3, **PAUSED):
        outcome = await ended(harness, store, "suspend", await operate(harness, store, "suspend"))

    assert outcome.type == "suspend.failed"
    assert outcome.data.code == "not_stopped_in_time"
    assert outcome.data.reason == "the store's workloads did not stop in time"
