"""The Medusa engine on the local control plane: every manifest of a `medusa` store,
guardrails and chart, passes the API server's server-side dry run with each values file
and its pods are admitted under the restricted Pod Security level; and a `medusa` store
requested on the stream becomes ready with its guardrails in place and deletes cleanly."""

from __future__ import annotations

import base64
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio.client import (
    ApiClient,
    AppsV1Api,
    BatchV1Api,
    CoreV1Api,
    NetworkingV1Api,
)
from kubernetes_asyncio.client.exceptions import ApiException

from services.provisioner.guardrails import guardrails, store_secret
from services.provisioner.handler import random_secret_values
from services.provisioner.kubeapi import StoreKube
from services.provisioner.render import EngineManifests
from services.provisioner.spec import StoreSpec
from shared.events import EVENT_MODELS
from shared.namespaces import STORE_ID
from tests.provisioner.harness import Harness, eventually
from tests.provisioner.test_manifests import (
    PROFILES,
    _pod_specs,
    _quota_counted,
    a_store,
    cluster_shape,
    render,
)

pytestmark = pytest.mark.cluster
PLATFORM_LABELS = {"app.kubernetes.io/managed-by": "storefleet"}
SECRET_KEYS = {"database-password", "admin-password", "jwt-secret", "cookie-secret"}


@pytest.fixture
async def medusa_namespace(kube_api: ApiClient) -> AsyncIterator[tuple[StoreSpec, StoreKube]]:
    """A `medusa` store's namespace with its real quota and limits."""
    spec, kube = a_store("medusa"), StoreKube(kube_api)
    assert spec.engine.name == "medusa"
    rails = guardrails(spec, cluster_shape("none"))
    await kube.apply(rails.namespace)
    for manifest in rails.policies:
        if manifest["kind"] in ("ResourceQuota", "LimitRange"):
            await kube.apply(manifest)
    await _quota_counted(kube, spec)
    try:
        yield spec, kube
    finally:
        await CoreV1Api(kube_api).delete_namespace(spec.namespace)


@pytest.mark.parametrize("profile", PROFILES)
async def test_every_medusa_store_manifest_passes_server_side_dry_run_with_each_values_file(
    profile: str, medusa_namespace: tuple[StoreSpec, StoreKube], helm_binary: Path
) -> None:
    spec, kube = medusa_namespace
    rails = guardrails(spec, cluster_shape(profile))
    secret = store_secret(spec, random_secret_values(spec.engine))
    for manifest in [*rails.all, secret]:
        await kube.apply(manifest, dry_run=True)
    engine = await render(helm_binary, kube, spec, profile)

    applied = [await kube.apply(m, dry_run=True) for m in [*engine.workloads, *engine.ingress]]

    names = {f"{obj['kind']}/{obj['metadata']['name']}" for obj in applied}
    assert {
        "StatefulSet/postgres",
        "Service/postgres",
        "PersistentVolumeClaim/medusa-uploads",
        "Deployment/medusa",
        "Service/medusa",
        "Job/medusa-setup",
        "Ingress/medusa",
        "ServiceAccount/medusa",
    } <= names
    assert ("Deployment/redis" in names) == (profile == "prod")
    ingress = next(obj for obj in applied if obj["kind"] == "Ingress")
    assert ingress["spec"]["rules"][0]["host"] == spec.host
    assert ingress["spec"]["tls"][0]["hosts"] == [spec.host]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"
    database = next(
        o for o in applied if o["kind"] == "Service" and o["metadata"]["name"] == "postgres"
    )
    assert database["spec"]["clusterIP"] == "None"

    for name, pod in _pod_specs(engine).items():
        for container in pod["containers"]:
            where = f"{name}/{container['name']}"
            assert {"requests", "limits"} <= set(container["resources"]), where
            assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(container), where
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert context["seccompProfile"]["type"] == "RuntimeDefault", where
        assert pod["securityContext"]["runAsNonRoot"] is True, name


@pytest.mark.parametrize("profile", PROFILES)
async def test_every_medusa_pod_is_admitted_under_the_restricted_pod_security_level(
    profile: str,
    medusa_namespace: tuple[StoreSpec, StoreKube],
    helm_binary: Path,
    kube_api: ApiClient,
) -> None:
    spec, kube = medusa_namespace
    engine = await render(helm_binary, kube, spec, profile)
    for obj in engine.workloads:  # the pods' ServiceAccount must exist for admission
        if obj["kind"] == "ServiceAccount":
            await kube.apply(obj)
    pods = _pod_specs(engine)
    expected = {"StatefulSet/postgres", "Deployment/medusa", "Job/medusa-setup"}
    if profile == "prod":
        expected.add("Deployment/redis")
    assert set(pods) == expected

    core = CoreV1Api(kube_api)
    for name, pod_spec in pods.items():
        body = {"metadata": {"name": name.split("/")[1].lower()}, "spec": pod_spec}
        await core.create_namespaced_pod(spec.namespace, body, dry_run="All")  # type: ignore[arg-type]


def _claims(engine: EngineManifests, namespace: str) -> list[dict[str, Any]]:
    """The store's claims as they exist once it runs: the chart's own and, as the
    StatefulSet controller makes them, one per volumeClaimTemplate."""
    claims = [m for m in engine.workloads if m["kind"] == "PersistentVolumeClaim"]
    for obj in engine.workloads:
        for template in obj.get("spec", {}).get("volumeClaimTemplates", []):
            name = f"{template['metadata']['name']}-{obj['metadata']['name']}-0"
            meta = {"name": name, "namespace": namespace}
            claims.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                           "metadata": meta, "spec": template["spec"]})  # fmt: skip
    return claims


async def test_the_stores_quota_counts_the_uploads_claim_next_to_the_databases(
    medusa_namespace: tuple[StoreSpec, StoreKube], helm_binary: Path, kube_api: ApiClient
) -> None:
    spec, kube = medusa_namespace
    engine = await render(helm_binary, kube, spec, "prod")  # the largest volumes
    core = CoreV1Api(kube_api)

    for claim in _claims(engine, spec.namespace):
        await kube.apply(claim)

    async def counted() -> bool:
        quota = await core.read_namespaced_resource_quota("store-quota", spec.namespace)
        used = quota.status.used or {}
        return used.get("persistentvolumeclaims") == "2"

    await eventually(counted, within=30, what="the quota to count the claims")
    quota = await core.read_namespaced_resource_quota("store-quota", spec.namespace)
    assert quota.status.used["requests.storage"] == "18Gi"  # Postgres 10Gi, uploads 8Gi
    # What is left of the small plan's 20Gi is all a further claim could get.
    extra = {"metadata": {"name": "more"},
             "spec": {"accessModes": ["ReadWriteOnce"],
                      "resources": {"requests": {"storage": "3Gi"}}}}  # fmt: skip
    with pytest.raises(ApiException) as refused:
        await core.create_namespaced_persistent_volume_claim(spec.namespace, extra)  # type: ignore[arg-type]
    assert refused.value.status == 403
    assert "exceeded quota" in refused.value.body


async def test_a_medusa_server_made_before_the_uploads_claim_moves_onto_it_on_the_next_apply(
    medusa_namespace: tuple[StoreSpec, StoreKube], helm_binary: Path, kube_api: ApiClient
) -> None:
    """A store made by the earlier chart (default rolling update, uploads in an emptyDir)
    takes the claim and the Recreate strategy when it is provisioned again (a retry)."""
    spec, kube = medusa_namespace
    engine = await render(helm_binary, kube, spec, "prod")
    server = next(m for m in engine.workloads if m["kind"] == "Deployment"
                  and m["metadata"]["name"] == "medusa")  # fmt: skip
    earlier = copy.deepcopy(server)
    del earlier["spec"]["strategy"]
    pod = earlier["spec"]["template"]["spec"]
    del pod["affinity"]
    pod["volumes"] = [v if v["name"] != "uploads" else {"name": "uploads", "emptyDir": {}}
                      for v in pod["volumes"]]  # fmt: skip
    made = await kube.apply(earlier)
    assert made["spec"]["strategy"]["type"] == "RollingUpdate"

    await kube.apply(server)

    now = await AppsV1Api(kube_api).read_namespaced_deployment("medusa", spec.namespace)
    assert now.spec.strategy.type == "Recreate"
    assert now.spec.strategy.rolling_update is None
    volumes = {v.name: v for v in now.spec.template.spec.volumes}
    assert volumes["uploads"].persistent_volume_claim.claim_name == "medusa-uploads"
    assert volumes["uploads"].empty_dir is None


async def test_a_requested_medusa_store_becomes_ready_with_its_guardrails_and_deletes_cleanly(
    harness: Harness, kube_api: ApiClient
) -> None:
    async with harness.running(workers=2):
        store = await harness.request(engine="medusa")
        outcome = await harness.events.outcome(store.id)

        assert isinstance(outcome, EVENT_MODELS["ready"]), outcome
        assert outcome.data.url == f"http://{store.slug}.stores.localhost"
        progress = harness.events.of_type(store.id, "progress")
        waves = [e.data.wave for e in progress if isinstance(e, EVENT_MODELS["progress"])]
        assert waves == ["guardrails", "workloads", "setup", "ingress"]

        core, ns = CoreV1Api(kube_api), store.namespace
        labels = (await core.read_namespace(ns)).metadata.labels
        assert labels[STORE_ID] == store.id
        assert labels["storefleet.io/engine"] == "medusa"
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        assert await core.read_namespaced_resource_quota("store-quota", ns)
        assert await core.read_namespaced_limit_range("store-limits", ns)
        policies = (await NetworkingV1Api(kube_api).list_namespaced_network_policy(ns)).items
        assert {p.metadata.name for p in policies} == {
            "default-deny",
            "allow-from-ingress-controller",
            "allow-acme-solver-from-ingress-controller",
            "allow-dns",
            "allow-outbound-web",
            *(
                f"flow-{flow}-{end}"
                for flow in (
                    "web-to-database",
                    "setup-to-database",
                    "web-to-cache",
                    "setup-to-cache",
                    "backup-to-database",
                )
                for end in ("in", "out")
            ),
        }
        ingress_rule = next(
            p for p in policies if p.metadata.name == "allow-from-ingress-controller"
        )
        assert [port.port for port in ingress_rule.spec.ingress[0].ports] == [9000]

        secret = await core.read_namespaced_secret("store-secret", ns)
        assert base64.b64decode(secret.data["admin-username"]).decode() == (
            "admin@storefleet.example"
        )
        assert set(secret.data) >= SECRET_KEYS

        apps, batch = AppsV1Api(kube_api), BatchV1Api(kube_api)
        expected_labels = {**PLATFORM_LABELS, STORE_ID: store.id}
        deployment = await apps.read_namespaced_deployment("medusa", ns)
        database = await apps.read_namespaced_stateful_set("postgres", ns)
        job = await batch.read_namespaced_job("medusa-setup", ns)
        ingress = await NetworkingV1Api(kube_api).read_namespaced_ingress("medusa", ns)
        for obj in (deployment, database, job, ingress):
            assert expected_labels.items() <= obj.metadata.labels.items(), obj.metadata.name
        assert deployment.status.available_replicas == 1
        assert database.status.ready_replicas == 1
        assert job.status.succeeded == 1
        assert ingress.spec.rules[0].host == f"{store.slug}.stores.localhost"
        claims = (await core.list_namespaced_persistent_volume_claim(ns)).items
        assert {c.metadata.name: c.status.phase for c in claims} == {
            "data-postgres-0": "Bound",
            "medusa-uploads": "Bound",
        }
        volumes = {v.name: v for v in deployment.spec.template.spec.volumes}
        assert volumes["uploads"].persistent_volume_claim.claim_name == "medusa-uploads"

        await harness.delete(store)
        await core.delete_namespace(ns)  # what the reaper does on store.delete

        async def gone() -> bool:
            try:
                await core.read_namespace(ns)
            except ApiException as exc:
                return exc.status == 404
            return False

        await eventually(gone, within=120, what=f"namespace {ns} to go")
        await harness.consumer_settled()

    assert "failed" not in harness.events.types(store.id)
