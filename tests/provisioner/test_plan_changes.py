"""Plan changes on the real control plane (simulated nodes): a ready store moved to a
bigger plan gets that plan's quota and limits with its workloads still serving, and the
provisioner's later work on it (a resume, a backup) sees the new plan; a plan the store's
current usage does not fit is refused naming what does not fit, and nothing changes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api

from services.provisioner.app import cluster_of
from services.provisioner.engines import ENGINES
from services.provisioner.store_records import StoreRecords
from shared.events import new_event
from shared.jetstream import publish_event
from shared.plans import DEFAULT_PLANS, Plan
from tests.provisioner.harness import Harness, Store

pytestmark = pytest.mark.cluster
# A plan far smaller than what a store of the default plan already uses.
PLANS = {**DEFAULT_PLANS, "tiny": Plan(requests_cpu="10m", requests_memory="16Mi",
                                       storage="1Mi", container_max_cpu="10m")}  # fmt: skip


async def change(harness: Harness, store: Store, plan: str, previous: str = "small") -> Any:
    operation_id = str(uuid.uuid4())
    data = {"operation_id": operation_id, "plan": plan, "previous_plan": previous,
            "requested_by": "user-1"}  # fmt: skip
    event = new_event("plan.requested", store.id, data, actor="user-1", correlation_id="c")
    await publish_event(harness.js, event, stream=harness.stream)

    def ended() -> bool:
        return any(
            e.data.operation_id == operation_id  # type: ignore[attr-defined]
            for t in ("plan.changed", "plan.failed")
            for e in harness.events.of_type(store.id, t)
        )

    await harness.events.until(ended, 120, f"plan change {operation_id}")
    return next(
        e
        for e in harness.events.by_store[store.id]
        if e.type in ("plan.changed", "plan.failed")  # type: ignore[attr-defined]
        and e.data.operation_id == operation_id  # type: ignore[attr-defined]
    )


async def quota_and_limits(api: ApiClient, namespace: str) -> tuple[dict[str, str], Any]:
    core = CoreV1Api(api)
    quota = await core.read_namespaced_resource_quota("store-quota", namespace)
    limits = (await core.list_namespaced_limit_range(namespace)).items[0]
    container = next(item for item in limits.spec.limits if item.type == "Container")
    return dict(quota.spec.hard), container.max


async def test_a_store_moves_to_a_bigger_plan_and_stays_on_it(
    harness: Harness, kube_api: ApiClient
) -> None:
    async with harness.running(workers=2, plans=PLANS):
        store = await harness.request()
        assert (await harness.events.outcome(store.id)).type == "ready"

        outcome = await change(harness, store, "medium")

        assert outcome.type == "plan.changed", outcome.data
        assert (outcome.data.plan, outcome.data.previous_plan) == ("medium", "small")
    hard, container_max = await quota_and_limits(kube_api, store.namespace)
    medium = PLANS["medium"]
    assert (hard["requests.cpu"], hard["requests.memory"], hard["requests.storage"]) == (
        medium.requests_cpu, medium.requests_memory, medium.storage,
    )  # fmt: skip
    assert container_max == {"cpu": medium.container_max_cpu, "memory": medium.container_max_memory}
    # What the provisioner reads of the store from now on is on the new plan.
    settings = harness.settings(plans=PLANS)
    records = StoreRecords(harness.js, harness.stream, cluster_of(settings), PLANS, ENGINES)
    assert (await records.spec(store.id)).plan_name == "medium"


async def test_a_plan_the_store_does_not_fit_is_refused_naming_what_and_changes_nothing(
    harness: Harness, kube_api: ApiClient
) -> None:
    async with harness.running(workers=2, plans=PLANS):
        store = await harness.request()
        assert (await harness.events.outcome(store.id)).type == "ready"
        before = await quota_and_limits(kube_api, store.namespace)

        outcome = await change(harness, store, "tiny")

    assert outcome.type == "plan.failed"
    assert outcome.data.code == "usage_exceeds_plan"
    assert "storage never shrinks" in outcome.data.reason
    assert "requests.storage: uses" in outcome.data.reason
    assert "requests.cpu: uses" in outcome.data.reason
    assert await quota_and_limits(kube_api, store.namespace) == before
