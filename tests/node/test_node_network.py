"""What the real node gives the pods on it, observed the way an operator would: the node
is a real kubelet on containerd; Services answer through their ClusterIP and through
cluster DNS; pods reach the API server through the `kubernetes` Service; an Ingress
routes by Host through the ingress controller on 127.0.0.1; a claim of the default
StorageClass keeps its data across a pod restart; pods have no route off the machine."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
import uuid
from typing import Any

from devtools.node import RealCluster
from tests.node.conftest import Kubectl, eventually, restricted_namespace, toolbox_pod

# busybox's httpd: the toolbox's python3 is python3-minimal, without http.server.
WEB = ["sh", "-c", "mkdir -p /tmp/www && echo \"hello from $HOSTNAME\" > /tmp/www/index.html"
       " && exec httpd -f -p 8080 -h /tmp/www"]  # fmt: skip
READY = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
TMP = {"volumes": [{"name": "tmp", "emptyDir": {}}],
       "container": {"volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                     "readinessProbe": READY}}  # fmt: skip


def _namespace(kubectl: Kubectl) -> str:
    name = f"t-node-{uuid.uuid4().hex[:8]}"
    kubectl.apply(restricted_namespace(name))
    account = ("get", "serviceaccount", "default", "-n", name, "--ignore-not-found", "-o", "name")
    eventually(lambda: bool(kubectl(*account).strip()), "the default service account")
    return name


def _web(kubectl: Kubectl, namespace: str) -> None:
    """A web pod and its Service `web` (port 80 -> 8080), and a client pod."""
    kubectl.apply(
        toolbox_pod("web", namespace, WEB, **TMP),
        toolbox_pod("client", namespace, ["sleep", "3600"]),
        _service("web", namespace, {"app": "web"}, 80, 8080),
    )
    kubectl.wait_ready(namespace, "web", "client")


def _service(name: str, namespace: str, selector: dict[str, str], port: int,
             target: int) -> dict[str, Any]:  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": selector, "ports": [{"port": port, "targetPort": target}]},
    }


def test_the_node_is_a_real_kubelet_on_containerd_and_ready(kubectl: Kubectl) -> None:
    node = kubectl.get("node", "storefleet-node")

    info = node["status"]["nodeInfo"]
    assert info["containerRuntimeVersion"].startswith("containerd://")
    assert info["kubeletVersion"] == "v1.36.3"
    assert "kwok.x-k8s.io/node" not in node["metadata"].get("annotations", {})
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert ready["Ready"] == "True"


def test_a_service_answers_through_its_cluster_ip_and_through_cluster_dns(
    kubectl: Kubectl,
) -> None:
    namespace = _namespace(kubectl)
    _web(kubectl, namespace)
    cluster_ip = kubectl.get("service", "web", "-n", namespace)["spec"]["clusterIP"]

    for url in (f"http://{cluster_ip}/", f"http://web.{namespace}.svc.cluster.local/",
                "http://web/"):  # fmt: skip
        # kube-proxy programs a new Service within a second or two; a connection tried
        # before that stays un-NATed in conntrack, so retry with fresh connections.
        eventually(lambda url=url: _curl(kubectl, namespace, url).returncode == 0, url)
        assert _curl(kubectl, namespace, url).stdout.strip() == "hello from web"


def _curl(kubectl: Kubectl, namespace: str, url: str) -> subprocess.CompletedProcess[str]:
    return kubectl.exec(namespace, "client", "curl", "-sS", "--max-time", "2", url)


def test_pods_reach_the_api_server_through_the_kubernetes_service(kubectl: Kubectl) -> None:
    namespace = _namespace(kubectl)
    sa = "/var/run/secrets/kubernetes.io/serviceaccount"
    kubectl.apply(toolbox_pod("api-client", namespace, ["sleep", "3600"],
                              automountServiceAccountToken=True))  # fmt: skip
    kubectl.wait_ready(namespace, "api-client")

    # Verified against the cluster's CA under the Service's DNS name: a real in-cluster
    # client, authenticated by its service-account token.
    script = (f'curl -sS --max-time 5 --cacert {sa}/ca.crt -H "Authorization: Bearer '
              f'$(cat {sa}/token)" https://kubernetes.default.svc/api/v1/namespaces/'
              f'{namespace}/pods')  # fmt: skip
    done = kubectl.exec(namespace, "api-client", "sh", "-c", script)

    assert done.returncode == 0, done.stderr
    assert f"system:serviceaccount:{namespace}:default" in done.stdout  # RBAC said no
    assert '"reason": "Forbidden"' in done.stdout


def test_an_ingress_routes_by_host_through_the_ingress_controller(
    kubectl: Kubectl, real_cluster: RealCluster
) -> None:
    namespace = _namespace(kubectl)
    _web(kubectl, namespace)
    host = f"{namespace}.stores.localhost"
    rule = {"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": "web", "port": {"number": 80}}}}]}}  # fmt: skip
    kubectl.apply({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"ingressClassName": "traefik", "rules": [rule]},
    })  # fmt: skip

    def get(host_header: str) -> tuple[int, str]:
        req = urllib.request.Request(real_cluster.ingress_url + "/", headers={"Host": host_header})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""

    eventually(lambda: get(host)[0] == 200, f"the ingress for {host}")
    assert get(host) == (200, "hello from web\n")
    assert get(f"other-{host}")[0] == 404


def test_a_claim_of_the_default_storage_class_keeps_its_data_across_a_pod_restart(
    kubectl: Kubectl,
) -> None:
    namespace = _namespace(kubectl)
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}},
    }
    volume = {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
              "container": {"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
              "securityContext": {"fsGroup": 65532}}  # fmt: skip
    writer = ["sh", "-c", "echo kept > /data/proof && sleep 3600"]
    kubectl.apply(claim, toolbox_pod("writer", namespace, writer, **volume))
    kubectl.wait_ready(namespace, "writer")
    kubectl("delete", "pod", "writer", "-n", namespace, "--wait=true")

    kubectl.apply(toolbox_pod("reader", namespace, ["sleep", "3600"], **volume))
    kubectl.wait_ready(namespace, "reader")
    done = kubectl.exec(namespace, "reader", "cat", "/data/proof")

    assert done.stdout == "kept\n"
    bound = kubectl.get("pvc", "data", "-n", namespace)
    assert bound["status"]["phase"] == "Bound"
    assert bound["spec"]["storageClassName"] == "local-path"


def test_pods_have_no_route_off_the_machine(kubectl: Kubectl) -> None:
    namespace = _namespace(kubectl)
    kubectl.apply(toolbox_pod("client", namespace, ["sleep", "3600"]))
    kubectl.wait_ready(namespace, "client")

    routes = kubectl.exec(namespace, "client", "cat", "/proc/net/route").stdout.splitlines()[1:]

    destinations = {line.split()[1] for line in routes}
    assert destinations, "the pod has routes"
    assert "00000000" not in destinations, f"a default route: {routes}"
