"""Every manifest a store is made of, guardrails and engine, with each of the engine's
values files, is accepted by the API server's server-side dry run; and every engine pod
is admitted in a namespace that enforces the restricted Pod Security level."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from services.provisioner.engines import ENGINES
from services.provisioner.guardrails import guardrails, store_secret
from services.provisioner.handler import random_secret_values
from services.provisioner.kinds import by_kind
from services.provisioner.kubeapi import StoreKube
from services.provisioner.readiness import quota_counted
from services.provisioner.render import EngineManifests, Renderer, engine_manifests
from services.provisioner.spec import Cluster, MailRelay, StoreSpec, store_spec
from shared.events import new_event
from shared.plans import DEFAULT_PLANS

pytestmark = pytest.mark.cluster
CHARTS = Path(__file__).resolve().parents[2] / "charts" / "engines"
PROFILES = ("none", "local", "prod")
RELAY_KEY = b"relay-key-of-the-dry-run-tests-0123456789"


def cluster_shape(profile: str) -> Cluster:
    """Every optional branch on: TLS through cert-manager, SMTP, a storage class."""
    return Cluster(
        base_domain="stores.example.com",
        ingress_class="nginx",
        ingress_namespace="ingress-nginx",
        platform_namespace="storefleet",
        dns_namespace="kube-system",
        storage_class="fast-ssd",
        tls_issuer="letsencrypt",
        egress_blocked_cidrs=("10.0.0.0/8", "169.254.0.0/16"),
        values_profile=profile,
        country="DE:BE",
        currency="EUR",
        mail=MailRelay("storefleet-mailrelay.storefleet.svc", 2525, "shop@example.com", RELAY_KEY),
    )


def a_store(engine: str = "woocommerce", plan: str = "small") -> StoreSpec:
    token = f"{time.monotonic_ns():x}"[-8:]
    data = {
        "name": "Dry Run",
        "slug": f"dry-{token}",
        "engine": engine,
        "plan": plan,
        "owner": "user-1",
        "namespace": f"store-dry-{token}",
    }
    event = new_event("requested", f"dry-{token}", data, actor="user-1", correlation_id="t")
    return store_spec(event, cluster_shape("none"), DEFAULT_PLANS, ENGINES)  # type: ignore[arg-type]


async def render(helm: Path, kube: StoreKube, spec: StoreSpec, profile: str) -> EngineManifests:
    renderer = Renderer(str(helm), CHARTS, profile, await kube.server_version(), 60)
    return engine_manifests(await renderer.render(spec, cluster_shape(profile)), spec)


@pytest.fixture
async def store_namespace(kube_api: ApiClient) -> AsyncIterator[tuple[StoreSpec, StoreKube]]:
    """A store's namespace with its real quota and limits, as the guardrails wave leaves it."""
    spec, kube = a_store(), StoreKube(kube_api)
    rails = guardrails(spec, cluster_shape("none"))
    await kube.apply(rails.namespace)
    try:
        yield spec, kube
    finally:
        await CoreV1Api(kube_api).delete_namespace(spec.namespace)


async def _quota_counted(kube: StoreKube, spec: StoreSpec) -> None:
    quota_kind = by_kind("ResourceQuota")
    deadline = time.monotonic() + 30
    while not quota_counted(await kube.get(quota_kind, "store-quota", spec.namespace)):
        assert time.monotonic() < deadline, "quota status never computed"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("profile", PROFILES)
async def test_every_store_manifest_passes_server_side_dry_run_with_each_values_file(
    profile: str, store_namespace: tuple[StoreSpec, StoreKube], helm_binary: Path
) -> None:
    spec, kube = store_namespace
    cluster = cluster_shape(profile)
    rails = guardrails(spec, cluster)
    secret = store_secret(spec, random_secret_values(spec.engine))
    for manifest in [*rails.all, secret]:
        await kube.apply(manifest, dry_run=True)
    # Engine objects are judged against the store's real quota and limits.
    for manifest in rails.policies:
        if manifest["kind"] in ("ResourceQuota", "LimitRange"):
            await kube.apply(manifest)
    await _quota_counted(kube, spec)
    engine = await render(helm_binary, kube, spec, profile)

    applied = [await kube.apply(m, dry_run=True) for m in [*engine.workloads, *engine.ingress]]

    kinds = {obj["kind"] for obj in applied}
    assert {"StatefulSet", "Deployment", "Job", "CronJob", "Ingress", "Service"} <= kinds
    ingress = next(obj for obj in applied if obj["kind"] == "Ingress")
    assert ingress["spec"]["tls"][0]["hosts"] == [spec.host]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"


def _pod_specs(engine: EngineManifests) -> dict[str, dict[str, Any]]:
    found = {}
    for obj in engine.workloads:
        body = obj.get("spec", {})
        if obj["kind"] == "CronJob":
            body = body["jobTemplate"]["spec"]
        if "template" not in body:
            continue
        pod = dict(body["template"]["spec"])
        # As the StatefulSet controller does: one claim per volumeClaimTemplate.
        claims = [
            {
                "name": t["metadata"]["name"],
                "persistentVolumeClaim": {
                    "claimName": f"{t['metadata']['name']}-{obj['metadata']['name']}-0"
                },
            }
            for t in body.get("volumeClaimTemplates", [])
        ]
        pod["volumes"] = [*pod.get("volumes", []), *claims]
        found[f"{obj['kind']}/{obj['metadata']['name']}"] = pod
    return found


@pytest.mark.parametrize("profile", PROFILES)
async def test_every_engine_pod_is_admitted_under_the_restricted_pod_security_level(
    profile: str,
    store_namespace: tuple[StoreSpec, StoreKube],
    helm_binary: Path,
    kube_api: ApiClient,
) -> None:
    spec, kube = store_namespace
    rails = guardrails(spec, cluster_shape(profile))
    for manifest in rails.policies:
        if manifest["kind"] in ("ResourceQuota", "LimitRange"):
            await kube.apply(manifest)
    await _quota_counted(kube, spec)
    engine = await render(helm_binary, kube, spec, profile)
    for obj in engine.workloads:  # the pods' ServiceAccount must exist for admission
        if obj["kind"] == "ServiceAccount":
            await kube.apply(obj)
    core = CoreV1Api(kube_api)
    pods = _pod_specs(engine)
    assert set(pods) == {
        "StatefulSet/mariadb",
        "Deployment/wordpress",
        "Job/wordpress-setup",
        "CronJob/wordpress-cron",
    }

    for name, pod_spec in pods.items():
        body = {"metadata": {"name": name.split("/")[1].lower()}, "spec": pod_spec}
        await core.create_namespaced_pod(spec.namespace, body, dry_run="All")

    privileged = {
        "metadata": {"name": "control"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "registry.invalid/x:1",
                    "securityContext": {"privileged": True},
                }
            ]
        },
    }
    with pytest.raises(ApiException) as refused:
        await core.create_namespaced_pod(spec.namespace, privileged, dry_run="All")
    assert refused.value.status == 403
    assert "violates PodSecurity" in refused.value.body
    assert "restricted" in refused.value.body
