"""A store requested on the stream becomes a working store on the real control plane:
guardrails, engine objects, pods Ready, setup complete, events in order, credentials
answered; and the ways a request fails say why."""

from __future__ import annotations

import base64
import json
import shutil
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
from nats.aio.client import Client as NATS
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from shared.namespaces import STORE_ID
from shared.plans import DEFAULT_PLANS
from shared.subjects import CREDENTIALS_SUBJECT
from tests.provisioner.harness import Harness, Store, failure_detail
from tests.provisioner.netpol import Cluster, Endpoint

pytestmark = pytest.mark.cluster
CHARTS = Path(__file__).resolve().parents[2] / "charts" / "engines"
PLATFORM_LABELS = {"app.kubernetes.io/managed-by": "storefleet"}


def as_dict(api: ApiClient, obj: Any) -> dict[str, Any]:
    return dict(api.sanitize_for_serialization(obj))


def ready_count() -> float:
    return (
        REGISTRY.get_sample_value(
            "storefleet_provisioner_duration_seconds_count", {"outcome": "ready"}
        )
        or 0.0
    )


async def provision(harness: Harness, **request: Any) -> tuple[Store, Any]:
    async with harness.running(workers=2):
        store = await harness.request(**request)
        outcome = await harness.events.outcome(store.id)
    return store, outcome


async def test_a_requested_store_becomes_ready_with_its_guardrails_and_engine_in_place(
    harness: Harness, kube_api: ApiClient
) -> None:
    before = ready_count()
    store, outcome = await provision(harness)

    assert outcome.type == "ready", outcome.data
    assert outcome.data.url == f"http://{store.slug}.stores.localhost"
    assert harness.events.types(store.id) == [
        "requested",
        "provisioning",
        "progress",
        "progress",
        "progress",
        "progress",
        "ready",
    ]
    waves = [e.data.wave for e in harness.events.of_type(store.id, "progress")]
    assert waves == ["guardrails", "workloads", "setup", "ingress"]
    assert ready_count() == before + 1

    core, ns = CoreV1Api(kube_api), store.namespace
    labels = (await core.read_namespace(ns)).metadata.labels
    assert labels["app.kubernetes.io/managed-by"] == "storefleet"
    assert labels[STORE_ID] == store.id
    assert labels["storefleet.io/owner"] == "user-1"
    assert labels["storefleet.io/engine"] == "woocommerce"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"

    quota = await core.read_namespaced_resource_quota("store-quota", ns)
    assert quota.spec.hard == {
        "requests.cpu": "2",
        "requests.memory": "4Gi",
        "limits.cpu": "4",
        "limits.memory": "8Gi",
        "persistentvolumeclaims": "5",
        "requests.storage": "20Gi",
        "services.loadbalancers": "0",
        "services.nodeports": "0",
        "requests.ephemeral-storage": "4Gi",
        "limits.ephemeral-storage": "8Gi",
    }
    limits = (await core.read_namespaced_limit_range("store-limits", ns)).spec.limits
    container = next(item for item in limits if item.type == "Container")
    assert container.default == {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "1Gi"}
    assert container.default_request == {
        "cpu": "100m",
        "memory": "128Mi",
        "ephemeral-storage": "256Mi",
    }
    assert container.max == {"cpu": "2", "memory": "2Gi"}

    policies = (await NetworkingV1Api(kube_api).list_namespaced_network_policy(ns)).items
    assert {p.metadata.name for p in policies} == {
        "default-deny",
        "allow-from-ingress-controller",
        "allow-acme-solver-from-ingress-controller",
        "allow-dns",
        "allow-outbound-web",
        "flow-web-to-database-in",
        "flow-web-to-database-out",
        "flow-setup-to-database-in",
        "flow-setup-to-database-out",
        "flow-cron-to-database-in",
        "flow-cron-to-database-out",
        "flow-backup-to-database-in",
        "flow-backup-to-database-out",
    }

    secret = await core.read_namespaced_secret("store-secret", ns)
    assert base64.b64decode(secret.data["admin-username"]).decode() == "storeadmin"
    assert {"admin-password", "database-password", "database-root-password", "auth-key"} <= set(
        secret.data
    )
    stream_text = json.dumps([e.model_dump(mode="json") for e in harness.events.by_store[store.id]])
    for value in secret.data.values():
        assert base64.b64decode(value).decode() not in stream_text

    await _assert_engine_objects(kube_api, ns, store)


async def _assert_engine_objects(kube_api: ApiClient, ns: str, store: Store) -> None:
    core, apps, batch = CoreV1Api(kube_api), AppsV1Api(kube_api), BatchV1Api(kube_api)
    expected_labels = {**PLATFORM_LABELS, STORE_ID: store.id}
    objects = [
        await apps.read_namespaced_deployment("wordpress", ns),
        await apps.read_namespaced_stateful_set("mariadb", ns),
        await batch.read_namespaced_job("wordpress-setup", ns),
        await batch.read_namespaced_cron_job("wordpress-cron", ns),
        await core.read_namespaced_service("wordpress", ns),
        await core.read_namespaced_service("mariadb", ns),
        await core.read_namespaced_persistent_volume_claim("wordpress-content", ns),
        await core.read_namespaced_config_map("wordpress-config", ns),
        await core.read_namespaced_service_account("woocommerce", ns),
        await NetworkingV1Api(kube_api).read_namespaced_ingress("wordpress", ns),
    ]
    for obj in objects:
        assert expected_labels.items() <= obj.metadata.labels.items(), obj.metadata.name
    deployment, stateful_set, job, _, web, database, *_rest, ingress = objects
    assert deployment.status.available_replicas == 1
    assert stateful_set.status.ready_replicas == 1
    assert job.status.succeeded == 1
    assert any(c.type == "Complete" and c.status == "True" for c in job.status.conditions)
    assert database.spec.cluster_ip == "None"
    assert web.spec.type == "ClusterIP"
    assert ingress.spec.rules[0].host == f"{store.slug}.stores.localhost"
    assert ingress.spec.ingress_class_name == "nginx"

    claims = (await core.list_namespaced_persistent_volume_claim(ns)).items
    assert {c.metadata.name: c.status.phase for c in claims} == {
        "wordpress-content": "Bound",
        "data-mariadb-0": "Bound",
    }
    pods = (await core.list_namespaced_pod(ns)).items
    running = {
        p.metadata.labels["app.kubernetes.io/component"]: p
        for p in pods
        if p.status.phase == "Running"
    }
    assert set(running) == {"web", "database"}
    for pod in running.values():
        assert any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)
    setup_pods = [p for p in pods if p.metadata.labels.get("job-name") == "wordpress-setup"]
    assert [p.status.phase for p in setup_pods] == ["Succeeded"]


async def test_the_store_network_admits_only_the_ingress_controller_and_declared_flows(
    harness: Harness, kube_api: ApiClient
) -> None:
    async with harness.running(workers=2):
        shop, other = await harness.request(), await harness.request()
        assert (await harness.events.outcome(shop.id)).type == "ready"
        assert (await harness.events.outcome(other.id)).type == "ready"
    core, net = CoreV1Api(kube_api), NetworkingV1Api(kube_api)
    policies = [
        as_dict(kube_api, p)
        for ns in (shop.namespace, other.namespace)
        for p in (await net.list_namespaced_network_policy(ns)).items
    ]
    namespaces = {
        ns: (await core.read_namespace(ns)).metadata.labels
        for ns in (shop.namespace, other.namespace)
    }
    for name in ("ingress-nginx", "storefleet", "kube-system"):
        namespaces[name] = {"kubernetes.io/metadata.name": name}
    cluster = Cluster(policies, namespaces)
    pods = await _pods(core, shop.namespace, "10.244.1.")
    cron = await BatchV1Api(kube_api).read_namespaced_cron_job("wordpress-cron", shop.namespace)
    cron_labels = cron.spec.job_template.spec.template.metadata.labels
    pods["cron"] = Endpoint("10.244.1.99", shop.namespace, cron_labels)
    web, db, setup = pods["web"], pods["database"], pods["setup"]
    other_web = (await _pods(core, other.namespace, "10.244.2."))["web"]
    controller = Endpoint("10.244.9.1", "ingress-nginx", {"app": "ingress-nginx"})
    platform = Endpoint("10.244.8.1", "storefleet", {"app": "gateway"})
    dns = Endpoint("10.244.7.1", "kube-system", {"k8s-app": "kube-dns"})

    assert cluster.allows(controller, web, 8080)
    assert not cluster.allows(controller, web, 22)
    assert not cluster.allows(controller, db, 3306)
    for client in (web, setup, pods["cron"]):
        assert cluster.allows(client, db, 3306)
    assert not cluster.allows(db, web, 8080)
    assert not cluster.allows(web, setup, 8080)
    assert not cluster.allows(other_web, web, 8080), "another store reached this one"
    assert not cluster.allows(other_web, db, 3306), "another store reached the database"
    assert not cluster.allows(web, other_web, 8080)
    for port in (80, 443, 8080, 4222, 5432):
        assert not cluster.allows(web, platform, port), f"reached the platform on {port}"
    assert cluster.allows(web, dns, 53, "UDP")
    assert cluster.allows(setup, Endpoint("93.184.216.34"), 443)
    assert not cluster.allows(setup, Endpoint("93.184.216.34"), 25)
    assert not cluster.allows(web, Endpoint("169.254.169.254"), 80), "metadata endpoint"


async def _pods(core: CoreV1Api, ns: str, prefix: str) -> dict[str, Endpoint]:
    found = {}
    for i, pod in enumerate((await core.list_namespaced_pod(ns)).items):
        labels = pod.metadata.labels
        found[labels["app.kubernetes.io/component"]] = Endpoint(f"{prefix}{i + 10}", ns, labels)
    return found


def _cpu_millis(value: str) -> int:
    return int(value[:-1]) if value.endswith("m") else int(float(value) * 1000)


async def test_a_pod_over_the_store_quota_is_refused_inside_its_namespace(
    harness: Harness, kube_api: ApiClient
) -> None:
    store, outcome = await provision(harness)
    assert outcome.type == "ready"
    core = CoreV1Api(kube_api)
    quota = await core.read_namespaced_resource_quota("store-quota", store.namespace)
    free = _cpu_millis(quota.status.hard["requests.cpu"]) - _cpu_millis(
        quota.status.used["requests.cpu"]
    )

    await core.create_namespaced_pod(store.namespace, _pod("fits", "100m"))
    with pytest.raises(ApiException) as refused:
        await core.create_namespaced_pod(store.namespace, _pod("too-big", f"{free}m"))

    assert refused.value.status == 403
    assert "exceeded quota: store-quota" in refused.value.body


def _pod(name: str, cpu: str) -> dict[str, Any]:
    resources = {"cpu": cpu, "memory": "64Mi"}
    return {
        "metadata": {"name": name},
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 1000,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "c",
                    "image": "registry.invalid/extra:1",
                    "resources": {"requests": resources, "limits": resources},
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


async def test_credentials_come_from_the_store_secret_once_it_is_ready(
    harness: Harness, kube_api: ApiClient, nc: NATS
) -> None:
    async def ask(store_id: str) -> dict[str, Any]:
        reply = await nc.request(
            CREDENTIALS_SUBJECT, json.dumps({"store_id": store_id}).encode(), timeout=10
        )
        return dict(json.loads(reply.data))

    async with harness.running(workers=2):
        unknown = await ask("no-such-store")
        malformed = json.loads(
            (await nc.request(CREDENTIALS_SUBJECT, b"nonsense", timeout=10)).data
        )
        store = await harness.request()
        assert (await harness.events.outcome(store.id)).type == "ready"
        answer = await ask(store.id)

    assert unknown["error"]["code"] == "not_found"
    assert malformed["error"]["code"] == "not_found"
    secret = await CoreV1Api(kube_api).read_namespaced_secret("store-secret", store.namespace)
    assert answer == {
        "username": "storeadmin",
        "password": base64.b64decode(secret.data["admin-password"]).decode(),
        "url": f"http://{store.slug}.stores.localhost",
    }


async def test_a_store_still_provisioning_has_no_credentials_yet(
    harness: Harness, nc: NATS, volume_binder: Any
) -> None:
    async with harness.running(workers=2):
        ids = harness.new_store()
        namespace = ids[2]
        volume_binder.hold(namespace)
        try:
            store = await harness.request(ids=ids)
            await harness.events.first(store.id, ("progress",), within=60)
            reply = await nc.request(
                CREDENTIALS_SUBJECT, json.dumps({"store_id": store.id}).encode(), timeout=10
            )
        finally:
            await volume_binder.release(namespace)
        assert (await harness.events.outcome(store.id)).type == "ready"

    assert json.loads(reply.data)["error"]["code"] == "not_ready"


async def test_a_spec_the_api_server_refuses_fails_the_store_with_its_reason(
    harness: Harness,
) -> None:
    plans = {
        **DEFAULT_PLANS,
        "odd": DEFAULT_PLANS["small"].model_copy(update={"limits_memory": "-8Gi"}),
    }
    with capture_logs() as logs:
        async with harness.running(workers=2, plans={k: p.model_dump() for k, p in plans.items()}):
            store = await harness.request(plan="odd")
            outcome = await harness.events.outcome(store.id)

    assert outcome.type == "failed"
    assert outcome.data.code == "apply_refused"
    # The API server's own words are for operators: in the log, not in the owner's event.
    reason = failure_detail(logs)
    assert "store-quota" in reason
    assert "limits.memory" in reason
    assert "must be greater than or equal to 0" in reason
    await harness.consumer_settled()


def _chart_copy(tmp_path: Path, extra: str) -> Path:
    charts = tmp_path / "charts"
    shutil.copytree(CHARTS, charts)
    (charts / "woocommerce" / "templates" / "extra.yaml").write_text(extra)
    return charts


async def test_a_store_whose_engine_chart_does_not_render_fails_before_anything_is_created(
    harness: Harness, tmp_path: Path
) -> None:
    charts = _chart_copy(tmp_path, '{{ fail "the chart is broken on purpose" }}\n')
    with capture_logs() as logs:
        async with harness.running(workers=2, charts_dir=str(charts)):
            store = await harness.request()
            outcome = await harness.events.outcome(store.id)

    assert outcome.type == "failed"
    assert outcome.data.code == "render_failed"
    assert "the chart is broken on purpose" in failure_detail(logs)
    assert not await harness.namespace_exists(store.namespace)


async def test_an_engine_chart_cannot_loosen_the_store_network_policy(
    harness: Harness, tmp_path: Path
) -> None:
    allow_all = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-all}\n"
        "spec: {podSelector: {}, ingress: [{}], egress: [{}]}\n"
    )
    async with harness.running(workers=2, charts_dir=str(_chart_copy(tmp_path, allow_all))):
        store = await harness.request()
        outcome = await harness.events.outcome(store.id)

    assert outcome.type == "failed"
    assert outcome.data.code == "engine_refused"
    assert "NetworkPolicy" in outcome.data.reason
    assert not await harness.namespace_exists(store.namespace)


async def test_a_request_for_an_engine_nobody_offers_fails_at_once(harness: Harness) -> None:
    async with harness.running(workers=2):
        store = await harness.request(engine="magento")
        outcome = await harness.events.outcome(store.id, within=30)

    assert (outcome.type, outcome.data.code) == ("failed", "unknown_engine")
    assert "magento" in outcome.data.reason
    assert harness.events.types(store.id) == ["requested", "failed"]


async def test_a_request_for_an_engine_version_nobody_offers_fails_at_once(
    harness: Harness,
) -> None:
    async with harness.running(workers=2):
        store = await harness.request(engine_version="0.0.1-gone")
        outcome = await harness.events.outcome(store.id, within=30)

    assert (outcome.type, outcome.data.code) == ("failed", "unknown_engine_version")
    assert "0.0.1-gone" in outcome.data.reason
    assert harness.events.types(store.id) == ["requested", "failed"]
    assert not await harness.namespace_exists(store.namespace)


NEWER = """default: "6.8.3-wc10.2.2"
versions:
  "6.8.3-wc10.2.2": {values: {}}
  "6.8.3-wc10.3.0":
    values: {woocommerce: {version: "10.3.0"}}
    upgrades_from: ["6.8.3-wc10.2.2"]
"""


async def test_a_store_requested_on_a_version_runs_what_that_version_pins(
    harness: Harness, kube_api: ApiClient, tmp_path: Path
) -> None:
    charts = tmp_path / "charts"
    shutil.copytree(CHARTS, charts)
    (charts / "woocommerce" / "versions.yaml").write_text(NEWER)
    async with harness.running(workers=2, charts_dir=str(charts)):
        store = await harness.request(engine_version="6.8.3-wc10.3.0")
        outcome = await harness.events.outcome(store.id)

    assert outcome.type == "ready", outcome.data
    job = await BatchV1Api(kube_api).read_namespaced_job("wordpress-setup", store.namespace)
    env = {e.name: e.value for c in job.spec.template.spec.containers for e in c.env or []}
    assert env["WOOCOMMERCE_VERSION"] == "10.3.0"
