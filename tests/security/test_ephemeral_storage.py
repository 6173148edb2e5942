"""Scratch space on the node is bounded for every store: its plan's quota and LimitRange
carry ephemeral-storage, every emptyDir of every engine chart has a sizeLimit inside its
pod's limit, and the API server itself gives a pod that asks for nothing the default."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from services.provisioner.engines import ENGINES
from services.provisioner.guardrails import guardrails, limit_range, resource_quota
from services.provisioner.kinds import by_kind
from services.provisioner.kubeapi import StoreKube
from services.provisioner.readiness import quota_counted
from shared.plans import DEFAULT_PLAN, DEFAULT_PLANS, Plan
from tests.chart.helm import ENGINE_CHARTS, pod_spec
from tests.chart.store_kinds import PROFILES, cluster, spec_for, store_manifests

EPHEMERAL = "ephemeral-storage"
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def size(quantity: str) -> int:
    for suffix, factor in UNITS.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(quantity)


def engine_pods(helm: Path) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(`engine/profile Kind/name`, replicas, pod spec) of every pod any store renders."""
    for engine in ENGINES.values():
        if not (ENGINE_CHARTS / engine.chart / "Chart.yaml").is_file():
            continue
        for profile in PROFILES:
            for manifest in store_manifests(helm, engine, profile):
                pod = pod_spec(manifest)
                if pod is not None:
                    where = (
                        f"{engine.name}/{profile} {manifest['kind']}/{manifest['metadata']['name']}"
                    )
                    yield where, manifest["spec"].get("replicas", 1), pod


def pod_limit(pod: dict[str, Any], plan: Plan, part: str = "limits") -> int:
    """A pod's ephemeral-storage limit (or request) once the LimitRange's defaults are
    filled in: its containers' sum, or its largest init container if that is larger."""
    default = {
        "limits": plan.container_default_ephemeral_limit,
        "requests": plan.container_default_ephemeral_request,
    }[part]

    def of(container: dict[str, Any]) -> int:
        return size(container.get("resources", {}).get(part, {}).get(EPHEMERAL, default))

    running = sum(of(c) for c in pod["containers"])
    return max([running, *(of(c) for c in pod.get("initContainers", []))])


@pytest.mark.parametrize("plan_name", sorted(DEFAULT_PLANS))
def test_every_plan_bounds_ephemeral_storage_in_its_quota_and_limit_range(plan_name: str) -> None:
    spec = spec_for(ENGINES["woocommerce"], cluster("local"))
    spec = dataclasses.replace(spec, plan_name=plan_name, plan=DEFAULT_PLANS[plan_name])
    plan = spec.plan

    hard = resource_quota(spec)["spec"]["hard"]
    limits = {item["type"]: item for item in limit_range(spec)["spec"]["limits"]}

    assert hard[f"requests.{EPHEMERAL}"] == plan.requests_ephemeral_storage
    assert hard[f"limits.{EPHEMERAL}"] == plan.limits_ephemeral_storage
    container = limits["Container"]
    assert container["defaultRequest"][EPHEMERAL] == plan.container_default_ephemeral_request
    assert container["default"][EPHEMERAL] == plan.container_default_ephemeral_limit
    assert limits["Pod"]["max"][EPHEMERAL] == plan.pod_max_ephemeral_storage
    assert size(plan.container_default_ephemeral_limit) <= size(plan.pod_max_ephemeral_storage)


def test_every_emptydir_in_every_rendered_engine_manifest_has_a_size_limit(
    helm_path: Path,
) -> None:
    unbounded = [
        f"{where} volume {volume['name']}"
        for where, _, pod in engine_pods(helm_path)
        for volume in pod.get("volumes", [])
        if "emptyDir" in volume and not (volume["emptyDir"] or {}).get("sizeLimit")
    ]
    seen = [v for _, _, pod in engine_pods(helm_path) for v in pod.get("volumes", [])]

    assert any("emptyDir" in volume for volume in seen)
    assert unbounded == []


def test_every_engine_pod_and_store_fits_the_smallest_plans_ephemeral_storage(
    helm_path: Path,
) -> None:
    """Each pod's emptyDirs fit inside its limit (or the kubelet evicts it before the
    sizeLimit is reached), and a store's pods inside its plan's quota."""
    plan = DEFAULT_PLANS[DEFAULT_PLAN]
    problems, totals = [], {}
    for where, replicas, pod in engine_pods(helm_path):
        scratch = sum(size(v["emptyDir"]["sizeLimit"]) for v in pod.get("volumes", [])
                      if "emptyDir" in v)  # fmt: skip
        limit = pod_limit(pod, plan)
        if not scratch <= limit <= size(plan.pod_max_ephemeral_storage):
            problems.append(f"{where}: emptyDirs {scratch}, limit {limit}")
        store = where.split(" ")[0]
        limits, requests = totals.get(store, (0, 0))
        totals[store] = (limits + replicas * limit,
                         requests + replicas * pod_limit(pod, plan, "requests"))  # fmt: skip

    assert problems == []
    assert len(totals) >= 2 * len(PROFILES) - 1
    for store, (limits, requests) in totals.items():
        assert limits <= size(plan.limits_ephemeral_storage), store
        assert requests <= size(plan.requests_ephemeral_storage), store


# -- on the API server ---------------------------------------------------------------------


@pytest.fixture
async def guarded_namespace(kube_api: ApiClient) -> AsyncIterator[str]:
    """A store namespace with its quota and LimitRange, as the guardrails wave leaves it."""
    shape = cluster("local")
    spec, kube = spec_for(ENGINES["woocommerce"], shape), StoreKube(kube_api)
    rails = guardrails(spec, shape)
    await kube.apply(rails.namespace)
    try:
        for manifest in rails.policies:
            if manifest["kind"] in ("ResourceQuota", "LimitRange"):
                await kube.apply(manifest)
        deadline = time.monotonic() + 30
        while not quota_counted(
            await kube.get(by_kind("ResourceQuota"), "store-quota", spec.namespace)
        ):
            assert time.monotonic() < deadline, "quota status never computed"
            await asyncio.sleep(0.1)
        yield spec.namespace
    finally:
        await CoreV1Api(kube_api).delete_namespace(spec.namespace)


def bare_pod(name: str, **resources: dict[str, str]) -> dict[str, Any]:
    container = {"name": "c", "image": "registry.invalid/x:1", "resources": resources,
                 "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                                     "capabilities": {"drop": ["ALL"]},
                                     "seccompProfile": {"type": "RuntimeDefault"}}}  # fmt: skip
    return {"metadata": {"name": name}, "spec": {"containers": [container]}}


async def test_a_pod_without_ephemeral_storage_requests_gets_the_limit_range_default(
    kube_api: ApiClient, guarded_namespace: str
) -> None:
    core = CoreV1Api(kube_api)
    plan = DEFAULT_PLANS[DEFAULT_PLAN]

    created = await core.create_namespaced_pod(guarded_namespace, bare_pod("plain"))

    resources = created.spec.containers[0].resources
    assert resources.requests[EPHEMERAL] == plan.container_default_ephemeral_request
    assert resources.limits[EPHEMERAL] == plan.container_default_ephemeral_limit


async def test_a_pod_asking_for_more_scratch_space_than_its_plan_allows_is_refused(
    kube_api: ApiClient, guarded_namespace: str
) -> None:
    core = CoreV1Api(kube_api)
    plan = DEFAULT_PLANS[DEFAULT_PLAN]
    too_much = f"{size(plan.pod_max_ephemeral_storage) // UNITS['Mi'] + 1}Mi"

    with pytest.raises(ApiException) as refused:
        await core.create_namespaced_pod(
            guarded_namespace,
            bare_pod("greedy", requests={EPHEMERAL: "1Gi"}, limits={EPHEMERAL: too_much}),
        )

    assert refused.value.status == 403
    assert EPHEMERAL in refused.value.body
