"""The provisioner's pure rules, without a cluster: what the guardrails contain, what an
engine chart may not do, how each values profile fits the smallest plan, when a workload
counts as ready, and which Kubernetes errors are worth a retry."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.provisioner.engines import ENGINES, Workload
from services.provisioner.failures import RETRY, classify
from services.provisioner.guardrails import guardrails, store_secret
from services.provisioner.readiness import workload_state
from services.provisioner.render import EngineRefused, Renderer, RenderError, engine_manifests
from services.provisioner.spec import (
    Cluster,
    MailRelay,
    SpecError,
    StoreSpec,
    store_spec,
    store_url,
)
from shared.engine_versions import load_versions, parse_versions
from shared.events import new_event
from shared.kube_errors import Forbidden, Invalid, KubeUnavailable
from shared.plans import DEFAULT_PLANS

CHARTS = Path(__file__).resolve().parents[2] / "charts" / "engines"


def cluster(mail: bool = False) -> Cluster:
    return Cluster(
        base_domain="stores.localhost",
        ingress_class="nginx",
        ingress_namespace="ingress-nginx",
        platform_namespace="storefleet",
        dns_namespace="kube-system",
        storage_class="",
        tls_issuer="",
        egress_blocked_cidrs=("10.0.0.0/8",),
        values_profile="local",
        country="US:CA",
        currency="USD",
        mail=MailRelay("storefleet-mailrelay.storefleet.svc", 2525, "", b"k" * 32)
        if mail
        else None,
    )


def spec(plan: str = "small") -> StoreSpec:
    data = {
        "name": "Shop",
        "slug": "shop",
        "engine": "woocommerce",
        "plan": plan,
        "owner": "user-7",
        "namespace": "store-shop-abc123",
    }
    event = new_event("requested", "abc123", data, actor="user-7", correlation_id="c")
    return store_spec(event, cluster(), DEFAULT_PLANS, ENGINES)  # type: ignore[arg-type]


def test_the_guardrails_hold_the_plan_in_quota_and_limits() -> None:
    rails = guardrails(spec("medium"), cluster())
    by_kind = {m["kind"]: m for m in rails.policies}

    assert rails.namespace["metadata"]["labels"]["storefleet.io/owner"] == "user-7"
    assert (
        rails.namespace["metadata"]["annotations"]["storefleet.io/url"]
        == "http://shop.stores.localhost"
    )
    hard = by_kind["ResourceQuota"]["spec"]["hard"]
    assert (hard["requests.cpu"], hard["limits.memory"], hard["requests.storage"]) == (
        "4",
        "16Gi",
        "50Gi",
    )
    container = by_kind["LimitRange"]["spec"]["limits"][0]
    assert container["max"] == {"cpu": "4", "memory": "4Gi"}
    assert all(m["metadata"]["namespace"] == "store-shop-abc123" for m in rails.policies)


def test_every_store_pod_is_denied_everything_not_allowed_and_mail_reaches_only_the_relay() -> None:
    plain = {
        m["metadata"]["name"]: m
        for m in guardrails(spec(), cluster()).policies
        if m["kind"] == "NetworkPolicy"
    }
    deny = plain["default-deny"]["spec"]
    assert deny == {
        "podSelector": {"matchLabels": {}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [],
        "egress": [],
    }
    web_ports = {p["port"] for p in plain["allow-outbound-web"]["spec"]["egress"][0]["ports"]}
    assert web_ports == {80, 443}
    assert "allow-mail-relay" not in plain
    with_mail = {m["metadata"]["name"]: m for m in guardrails(spec(), cluster(mail=True)).policies}
    egress = with_mail["allow-outbound-web"]["spec"]["egress"]
    assert {p["port"] for p in egress[0]["ports"]} == {80, 443}  # no SMTP to the outside
    assert with_mail["allow-mail-relay"]["spec"]["egress"] == [
        {
            "to": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "storefleet"}
                    },
                    "podSelector": {"matchLabels": {"app.kubernetes.io/component": "mailrelay"}},
                }
            ],
            "ports": [{"protocol": "TCP", "port": 2525}],
        }
    ]
    assert with_mail["store-smtp"]["kind"] == "Secret"


def test_only_cert_managers_solver_pods_take_the_ingress_controllers_challenge_traffic() -> None:
    policies = {m["metadata"]["name"]: m for m in guardrails(spec(), cluster()).policies}
    solver = policies["allow-acme-solver-from-ingress-controller"]["spec"]

    assert solver["podSelector"] == {"matchLabels": {"acme.cert-manager.io/http01-solver": "true"}}
    assert solver["policyTypes"] == ["Ingress"]
    (rule,) = solver["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8089}]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]


def test_the_store_secret_needs_every_value_its_engine_declares() -> None:
    with pytest.raises(ValueError, match="missing secret values"):
        store_secret(spec(), {"admin-password": "x"})


OK_SERVICE = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n"


def doc(api: str, kind: str, meta: str = "{name: x}", spec: str = "{}") -> str:
    return f"apiVersion: {api}\nkind: {kind}\nmetadata: {meta}\nspec: {spec}\n"


HOST_NETWORK = "{template: {spec: {hostNetwork: true, containers: []}}}"
HOST_PATH = (
    "{jobTemplate: {spec: {template: {spec: "
    "{volumes: [{name: h, hostPath: {path: /}}], containers: []}}}}}"
)


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        (doc("v1", "Namespace"), "Namespace"),
        (doc("networking.k8s.io/v1", "NetworkPolicy"), "NetworkPolicy"),
        (doc("rbac.authorization.k8s.io/v1", "RoleBinding"), "RoleBinding"),
        (doc("v1", "ConfigMap", "{name: x, namespace: kube-system}"), "kube-system"),
        (doc("v1", "Service", spec="{type: LoadBalancer}"), "ClusterIP"),
        (doc("v1", "Secret", "{name: store-secret}"), "belongs to the platform"),
        (
            doc("networking.k8s.io/v1", "Ingress", spec="{rules: [{host: bank.example.com}]}"),
            "bank.example.com",
        ),
        (doc("apps/v1", "Deployment", spec=HOST_NETWORK), "hostNetwork"),
        (doc("batch/v1", "CronJob", spec=HOST_PATH), "hostPath"),
    ],
)
def test_an_engine_chart_may_not_render_what_would_loosen_the_guardrails(
    document: str, complaint: str
) -> None:
    with pytest.raises(EngineRefused, match=complaint):
        engine_manifests(OK_SERVICE + "---\n" + document, spec())


def test_engine_objects_are_placed_in_the_store_namespace_and_labelled() -> None:
    rendered = OK_SERVICE + (
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, labels: {a: b}}\n"
        "spec: {template: {metadata: {labels: {c: d}}, spec: {containers: []}}}\n"
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\n"
        "spec: {rules: [{host: shop.stores.localhost}]}\n"
    )
    result = engine_manifests(rendered, spec())

    assert [m["kind"] for m in result.workloads] == ["Service", "Deployment"]
    assert [m["kind"] for m in result.ingress] == ["Ingress"]
    deployment = result.workloads[1]
    assert deployment["metadata"]["namespace"] == "store-shop-abc123"
    assert deployment["metadata"]["labels"]["storefleet.io/store-id"] == "abc123"
    assert deployment["metadata"]["labels"]["a"] == "b"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["app.kubernetes.io/managed-by"] == "storefleet"
    assert pod_labels["c"] == "d"


def test_a_chart_that_renders_no_kubernetes_object_is_a_render_error() -> None:
    with pytest.raises(RenderError):
        engine_manifests("just: [a, list]\n---\n- 1\n", spec())


def _millis(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


def _bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(float(quantity[:-2]) * factor)
    return int(quantity)


def _containers(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for obj in objects:
        body = obj.get("spec", {})
        if obj["kind"] == "CronJob":
            body = body["jobTemplate"]["spec"]
        pod = body.get("template", {}).get("spec", {})
        replicas = body.get("replicas", 1)
        # An init container runs before the others, so it never adds to their sum.
        found += pod.get("containers", []) * replicas
    return found


@pytest.mark.parametrize("profile", ["none", "local", "prod"])
async def test_every_values_profile_fits_inside_the_smallest_plan(
    profile: str, helm_binary: Path
) -> None:
    store = spec("small")
    renderer = Renderer(str(helm_binary), CHARTS, profile, "v1.36.3", 60)
    engine = engine_manifests(await renderer.render(store, cluster()), store)
    plan = store.plan
    containers = _containers(engine.workloads)

    for field, limit, parse in (
        ("requests", plan.requests_cpu, _millis),
        ("limits", plan.limits_cpu, _millis),
    ):
        assert sum(parse(c["resources"][field]["cpu"]) for c in containers) <= parse(limit)
    assert sum(_bytes(c["resources"]["requests"]["memory"]) for c in containers) <= _bytes(
        plan.requests_memory
    )
    assert sum(_bytes(c["resources"]["limits"]["memory"]) for c in containers) <= _bytes(
        plan.limits_memory
    )
    for c in containers:
        assert _millis(c["resources"]["limits"]["cpu"]) <= _millis(plan.container_max_cpu)
        assert _bytes(c["resources"]["limits"]["memory"]) <= _bytes(plan.container_max_memory)
        assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(c), c["name"]
    claims = [
        m["spec"]["resources"]["requests"]["storage"]
        for m in engine.workloads
        if m["kind"] == "PersistentVolumeClaim"
    ]
    claims += [
        t["spec"]["resources"]["requests"]["storage"]
        for m in engine.workloads
        for t in m.get("spec", {}).get("volumeClaimTemplates", [])
    ]
    assert len(claims) <= plan.max_pvcs
    assert sum(map(_bytes, claims)) <= _bytes(plan.storage)


async def test_the_chart_passes_the_plan_php_limits_and_pins_its_images(helm_binary: Path) -> None:
    store = spec("medium")
    renderer = Renderer(str(helm_binary), CHARTS, "prod", "v1.36.3", 60)
    text = await renderer.render(store, cluster())
    config = next(
        d for d in yaml.safe_load_all(text) if d and d["metadata"]["name"] == "wordpress-config"
    )
    assert "memory_limit = 512M" in config["data"]["storefleet.ini"]
    assert "upload_max_filesize = 128M" in config["data"]["storefleet.ini"]
    images = {line.split("image:")[1].strip() for line in text.splitlines() if "image:" in line}
    assert images and all(":" in image and not image.endswith(":latest") for image in images)
    assert "DISABLE_WP_CRON" in text and "HTTP_X_FORWARDED_PROTO" in text


VERSIONED = parse_versions(
    """
default: "6.8.3"
versions:
  "6.8.3": {values: {}}
  "6.9.0":
    values:
      images: {wordpress: "docker.io/library/wordpress:6.9.0-php8.3-apache"}
      woocommerce: {version: "10.3.0"}
      store: {slug: "elsewhere"}
    upgrades_from: ["6.8.3"]
"""
)


def versioned_spec(version: str | None) -> StoreSpec:
    data = {
        "name": "Shop",
        "slug": "shop",
        "engine": "woocommerce",
        "plan": "small",
        "owner": "user-7",
        "namespace": "store-shop-abc123",
        "engine_version": version,
    }
    event = new_event("requested", "abc123", data, actor="user-7", correlation_id="c")
    versions = {"woocommerce": VERSIONED}
    return store_spec(event, cluster(), DEFAULT_PLANS, ENGINES, versions)  # type: ignore[arg-type]


async def test_a_store_on_a_version_renders_that_versions_values(helm_binary: Path) -> None:
    renderer = Renderer(str(helm_binary), CHARTS, "local", "v1.36.3", 60)
    newer = versioned_spec("6.9.0")
    text = await renderer.render(newer, cluster())

    assert newer.engine_version == "6.9.0"
    assert "wordpress:6.9.0-php8.3-apache" in text
    assert "10.3.0" in text
    assert "wordpress:6.8.3" not in text
    # A version pins what the store runs, never who the store is.
    assert "elsewhere" not in text and "shop.stores.localhost" in text


async def test_a_store_without_a_version_renders_the_default_as_the_chart_pins_it(
    helm_binary: Path,
) -> None:
    renderer = Renderer(str(helm_binary), CHARTS, "local", "v1.36.3", 60)
    store = versioned_spec(None)
    assert store.engine_version == "6.8.3"
    assert await renderer.render(store, cluster()) == await renderer.render(spec(), cluster())


def test_a_version_the_registry_does_not_know_fails_the_store() -> None:
    with pytest.raises(SpecError) as refused:
        versioned_spec("7.0")
    assert refused.value.code == "unknown_engine_version"
    assert "7.0" in str(refused.value) and "6.9.0" in str(refused.value)


def test_the_shipped_charts_current_versions_render_as_the_charts_pin_them() -> None:
    for engine in ENGINES.values():
        versions = load_versions(CHARTS, engine.chart)
        assert versions.versions[versions.default].values == {}


def _workload(kind: str, status: dict[str, Any], **spec_fields: Any) -> dict[str, Any]:
    return {
        "metadata": {"generation": 2},
        "spec": {"replicas": 1, **spec_fields},
        "status": {"observedGeneration": 2, **status},
    }


def test_workloads_are_ready_only_when_their_controllers_say_so() -> None:
    deployment = Workload("Deployment", "web")
    assert not workload_state(deployment, None).ready
    stale = _workload("Deployment", {"updatedReplicas": 1, "availableReplicas": 1, "replicas": 1})
    stale["status"]["observedGeneration"] = 1
    assert not workload_state(deployment, stale).ready
    done = _workload("Deployment", {"updatedReplicas": 1, "availableReplicas": 1, "replicas": 1})
    assert workload_state(deployment, done).ready

    database = Workload("StatefulSet", "db")
    rolling = _workload(
        "StatefulSet", {"readyReplicas": 1, "currentRevision": "a", "updateRevision": "b"}
    )
    assert not workload_state(database, rolling).ready
    settled = _workload(
        "StatefulSet", {"readyReplicas": 1, "currentRevision": "b", "updateRevision": "b"}
    )
    assert workload_state(database, settled).ready

    setup = Workload("Job", "setup")
    complete = {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    assert workload_state(setup, complete).ready
    failed = {
        "status": {
            "conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]
        }
    }
    assert "BackoffLimitExceeded" in workload_state(setup, failed).failed


def test_errors_that_clear_up_are_retried_and_refusals_are_not() -> None:
    assert classify(KubeUnavailable("could not apply: 503")).temporary
    assert classify(
        Forbidden('pods "x" is forbidden: status unknown for quota: store-quota')
    ).temporary
    assert classify(
        Forbidden('error looking up service account ns/default: serviceaccount "default" not found')
    ).temporary
    refused = classify(Invalid('Deployment.apps "web" is invalid: spec.replicas: Invalid value'))
    assert (refused.temporary, refused.code) == (False, "apply_refused")
    assert (
        classify(Forbidden("exceeded quota: store-quota, requested: requests.cpu=3")).code
        == "quota_exceeded"
    )
    undecodable = KubeUnavailable(
        "failed to convert new object (ns/q; /v1, Kind=ResourceQuota)", 500
    )
    assert not classify(undecodable).temporary
    assert [RETRY.delay(n) for n in (1, 2, 3, 9)] == [5.0, 10.0, 20.0, 120.0]


def test_a_store_url_names_the_ingress_port_only_when_it_is_not_the_schemes_own() -> None:
    assert store_url("shop.stores.localhost", False, None) == "http://shop.stores.localhost"
    assert store_url("shop.stores.localhost", False, 80) == "http://shop.stores.localhost"
    assert store_url("a.stores.localhost", False, 18080) == "http://a.stores.localhost:18080"
    assert store_url("a.example.com", True, 443) == "https://a.example.com"
    assert store_url("a.example.com", True, 8443) == "https://a.example.com:8443"
    ported = dataclasses.replace(cluster(), public_port=18080)
    event = new_event("requested", "abc123", {"name": "Shop", "slug": "shop",
                      "engine": "medusa", "plan": "small", "owner": "u",
                      "namespace": "store-shop-abc123"}, actor="u", correlation_id="c")  # fmt: skip
    made = store_spec(event, ported, DEFAULT_PLANS, ENGINES)  # type: ignore[arg-type]
    assert (made.host, made.url) == ("shop.stores.localhost", "http://shop.stores.localhost:18080")
