"""The guardrails' NetworkPolicies enforced on the real node with real traffic: two
Medusa stores' namespaces with the policies the provisioner renders
(`services.provisioner.guardrails`), and a stand-in platform namespace. Before the
policies every pod reaches every other; once they apply, a store's web pod still
reaches its own database (the flow the engine declares) through cluster DNS, but not
another store's database, the platform's pods or the API server, and the platform cannot
reach into a store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devtools.node import RealCluster
from services.provisioner.engines import ENGINES
from services.provisioner.guardrails import guardrails
from services.provisioner.spec import Cluster, StoreSpec, store_spec
from shared.events import new_event
from shared.plans import DEFAULT_PLANS
from tests.node.conftest import (
    Kubectl,
    eventually,
    node_cluster,
    restricted_namespace,
    toolbox_pod,
)

HTTPD = (
    "mkdir -p /tmp/www && echo {text} > /tmp/www/index.html && exec httpd -f -p {port} -h /tmp/www"
)
TMP = {"volumes": [{"name": "tmp", "emptyDir": {}}]}
COMPONENT = "app.kubernetes.io/component"


def _store(cluster: Cluster) -> StoreSpec:
    token = uuid.uuid4().hex[:8]
    data = {"name": "Policy Shop", "slug": f"np-{token}", "engine": "medusa", "plan": "small",
            "owner": "user-1", "namespace": f"store-np-{token}"}  # fmt: skip
    event = new_event("requested", str(uuid.uuid4()), data, actor="user-1", correlation_id="t")
    return store_spec(event, cluster, DEFAULT_PLANS, ENGINES)  # type: ignore[arg-type]


def _server(name: str, namespace: str, port: int, labels: dict[str, str]) -> dict[str, object]:
    command = ["sh", "-c", HTTPD.format(text=f"{name}.{namespace}", port=port)]
    mounts = [{"name": "tmp", "mountPath": "/tmp"}]
    ready = {"tcpSocket": {"port": port}, "periodSeconds": 1}
    container = {"volumeMounts": mounts, "readinessProbe": ready}
    return toolbox_pod(name, namespace, command, labels, container=container, **TMP)


@dataclass
class Stores:
    a: StoreSpec
    b: StoreSpec
    platform: str
    ips: dict[str, str]


@pytest.fixture(scope="module")
def stores(kubectl: Kubectl) -> Iterator[Stores]:
    platform = f"storefleet-np-{uuid.uuid4().hex[:6]}"
    cluster = node_cluster(platform)
    a, b = _store(cluster), _store(cluster)
    kubectl.apply(restricted_namespace(platform))
    for spec in (a, b):
        kubectl.apply(guardrails(spec, cluster).namespace)
    pods = [
        _server("database", a.namespace, 5432, {COMPONENT: "database"}),
        toolbox_pod("web", a.namespace, ["sleep", "3600"], {COMPONENT: "web"}),
        _server("database", b.namespace, 5432, {COMPONENT: "database"}),
        _server("nats", platform, 4222, {"app": "nats"}),
    ]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "database", "namespace": a.namespace},
        "spec": {"selector": {COMPONENT: "database"}, "ports": [{"port": 5432}]},
    }
    _wait_for_service_accounts(kubectl, a.namespace, b.namespace, platform)
    kubectl.apply(*pods, service)
    for namespace, pod in ((a.namespace, "database"), (a.namespace, "web"),
                           (b.namespace, "database"), (platform, "nats")):  # fmt: skip
        kubectl.wait_ready(namespace, pod)
    ips = {
        "a-database": _ip(kubectl, a.namespace, "database"),
        "b-database": _ip(kubectl, b.namespace, "database"),
        "nats": _ip(kubectl, platform, "nats"),
    }
    yield Stores(a, b, platform, ips)
    for namespace in (a.namespace, b.namespace, platform):
        kubectl("delete", "namespace", namespace, "--wait=false")


def _wait_for_service_accounts(kubectl: Kubectl, *namespaces: str) -> None:
    for ns in namespaces:
        get = ("get", "serviceaccount", "default", "-n", ns, "--ignore-not-found", "-o", "name")
        eventually(lambda get=get: bool(kubectl(*get).strip()), f"{ns}'s service account")  # type: ignore[misc]


def _ip(kubectl: Kubectl, namespace: str, pod: str) -> str:
    return str(kubectl.get("pod", pod, "-n", namespace)["status"]["podIP"])


def _reaches(kubectl: Kubectl, namespace: str, pod: str, url: str) -> bool:
    done = kubectl.exec(namespace, pod, "curl", "-sS", "-k", "--max-time", "2", url)
    return done.returncode == 0


def test_store_pods_are_isolated_once_the_guardrails_apply(
    kubectl: Kubectl, stores: Stores, real_cluster: RealCluster
) -> None:
    a, b, ips = stores.a, stores.b, stores.ips
    api = real_cluster.server
    other_store = f"http://{ips['b-database']}:5432/"
    platform = f"http://{ips['nats']}:4222/"
    into_store = f"http://{ips['a-database']}:5432/"
    # Without policies, everything is open: what follows is the policies' doing.
    assert _reaches(kubectl, a.namespace, "web", other_store)
    assert _reaches(kubectl, a.namespace, "web", platform)
    assert _reaches(kubectl, stores.platform, "nats", into_store)

    cluster = node_cluster(stores.platform)
    for spec in (a, b):
        rails = guardrails(spec, cluster)
        kubectl.apply(*(p for p in rails.policies if p["kind"] == "NetworkPolicy"))

    eventually(lambda: not _reaches(kubectl, a.namespace, "web", other_store),
               "store A cut off from store B's database", timeout=30)  # fmt: skip
    assert not _reaches(kubectl, a.namespace, "web", platform), "the platform's NATS"
    assert not _reaches(kubectl, a.namespace, "web", f"{api}/version"), "the API server"
    assert not _reaches(kubectl, a.namespace, "web", "https://kubernetes.default.svc/version")
    assert not _reaches(kubectl, stores.platform, "nats", into_store), "into store A"
    # The engine's own flow, through cluster DNS (itself opened by the guardrails).
    done = kubectl.exec(a.namespace, "web", "curl", "-sS", "--max-time", "5",
                        "http://database:5432/")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"database.{a.namespace}"
