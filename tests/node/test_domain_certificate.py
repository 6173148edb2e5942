"""A custom domain's certificate on the real node (issue 16): a real ACME server (Pebble)
and cert-manager's controller issue it by HTTP-01, answered by cert-manager's real solver
pod (our acmesolver image) behind the ingress controller (Traefik on the host), in a
store namespace with the guardrails the provisioner renders (default-deny policies, Pod
Security `restricted`, the plan's quota). The domain's objects are the ones the reaper
applies (services/reaper/domain_objects.py through its DomainKube).

Every name resolves to 127.0.0.1 for Pebble (challtestsrv) and the test connects to the
ingress itself, so `shop.example.test` needs no DNS: an HTTPS request with that SNI gets
the store's page with a certificate chaining to Pebble's root, and once the domain is
removed its route, Certificate and key are gone.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import new_client_from_config

from devtools.images import import_images
from devtools.node import RealCluster
from devtools.node_agents import LAYOUT
from services.provisioner.engines import ENGINES
from services.provisioner.guardrails import guardrails
from services.provisioner.spec import Cluster, StoreSpec, store_spec
from services.reaper import domain_objects
from services.reaper.domain_certs import DomainKube
from shared.events import new_event
from shared.plans import DEFAULT_PLANS
from tests.fixtures.acme import (
    INGRESS_CLASS,
    ISSUER_KIND,
    ISSUER_NAME,
    IssuancePath,
    has_failed,
    is_ready,
    issuance_path,
    skip_unless_built,
)
from tests.node.conftest import Kubectl, eventually, node_cluster, toolbox_pod

DOMAIN = "shop.example.test"
PAGE = "the store behind shop.example.test"
WEB_PORT = 8080  # the WooCommerce web pods' port, which the guardrails let the ingress reach
ISSUE_TIMEOUT = 240.0  # the solver pod starts on the node, then cert-manager's self-check


@dataclass(frozen=True)
class Issuer:
    path: IssuancePath
    api: ApiClient
    tls_port: int


@pytest.fixture(scope="module")
async def issuer(
    real_cluster: RealCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Issuer]:
    skip_unless_built()
    await asyncio.to_thread(import_images, str(LAYOUT.containerd_socket), ["acmesolver"])
    api = await new_client_from_config(
        config_file=str(real_cluster.kubeconfig), persist_config=False
    )
    try:
        async with issuance_path(
            api, real_cluster.kubeconfig, tmp_path_factory.mktemp("acme"), real_cluster.ingress_port
        ) as path:
            yield Issuer(path, api, real_cluster.ingress_tls_port)
    finally:
        await api.close()


def _store() -> tuple[StoreSpec, Cluster]:
    cluster = node_cluster()
    token = uuid.uuid4().hex[:8]
    data = {"name": "Domain Shop", "slug": f"cd-{token}", "engine": "woocommerce",
            "plan": "small", "owner": "user-1", "namespace": f"store-cd-{token}"}  # fmt: skip
    event = new_event("requested", str(uuid.uuid4()), data, actor="user-1", correlation_id="t")
    return store_spec(event, cluster, DEFAULT_PLANS, ENGINES), cluster  # type: ignore[arg-type]


def _web(namespace: str) -> list[dict[str, Any]]:
    """A stand-in for WordPress (its image cannot be fetched here): the web pods' labels
    and port, behind the Service and port name the WooCommerce chart's Ingress names."""
    script = f"mkdir -p /tmp/www && echo '{PAGE}' > /tmp/www/index.html && " \
             f"exec httpd -f -p {WEB_PORT} -h /tmp/www"  # fmt: skip
    labels = {"app.kubernetes.io/component": "web"}
    pod = toolbox_pod(
        "web", namespace, ["sh", "-c", script], labels=labels,
        volumes=[{"name": "tmp", "emptyDir": {}}],
        container={"volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                   "readinessProbe": {"tcpSocket": {"port": WEB_PORT}, "periodSeconds": 1}},
    )  # fmt: skip
    service_name, port_name = domain_objects.WEB_SERVICE["woocommerce"]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service_name, "namespace": namespace},
        "spec": {
            "selector": labels,
            "ports": [{"name": port_name, "port": 80, "targetPort": WEB_PORT}],
        },
    }
    return [pod, service]


def _https_get(port: int, root_pem: str | None) -> tuple[int, str, dict[str, Any]]:
    """GET / from the ingress's HTTPS entrypoint with SNI and Host `DOMAIN`, verifying
    the chain against `root_pem` (no verification when None); status, body, the peer's
    certificate (empty unless verified)."""
    if root_pem is None:
        context = ssl._create_unverified_context()
    else:
        context = ssl.create_default_context(cadata=root_pem)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=DOMAIN) as tls,
    ):
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
        peer = tls.getpeercert() or {}
    head, _, body = answer.decode(errors="replace").partition("\r\n\r\n")
    return int(head.split()[1]), body, dict(peer)


async def _certificate(kube: DomainKube, namespace: str, domain_id: str) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + ISSUE_TIMEOUT
    while asyncio.get_running_loop().time() < deadline:
        found = await kube.certificate(namespace, domain_id)
        if found and is_ready(found):
            return found
        assert not (found and has_failed(found)), f"issuance failed: {found.get('status')}"
        await asyncio.sleep(1)
    raise AssertionError(f"no certificate within {ISSUE_TIMEOUT}s: {found}")


async def test_a_custom_domain_gets_a_certificate_through_the_ingress_and_loses_it_on_removal(
    issuer: Issuer, kubectl: Kubectl
) -> None:
    spec, cluster = _store()
    namespace, store_id, domain_id = spec.namespace, spec.store_id, str(uuid.uuid4())
    kubectl.apply(*guardrails(spec, cluster).all)
    kubectl.apply(*_web(namespace))
    kubectl.wait_ready(namespace, "web")
    kube = DomainKube(issuer.api)

    # What the reaper's issuer applies for a verified domain, in its order.
    listed = {DOMAIN: domain_id}
    await kube.apply(domain_objects.allowed_domains(namespace, store_id, listed))
    await kube.apply_listed(domain_objects.certificate(
        namespace, store_id, domain_id, DOMAIN, ISSUER_NAME, ISSUER_KIND))  # fmt: skip
    await kube.apply_listed(domain_objects.ingress(
        namespace, store_id, domain_id, DOMAIN, "woocommerce", INGRESS_CLASS))  # fmt: skip
    issued = await _certificate(kube, namespace, domain_id)

    # cert-manager's solver pod ran on the node, in the store's namespace, and its answer
    # came through the ingress (nothing else serves HTTP-01 on the real node).
    assert _solver_pods_started(kubectl, namespace), "no solver pod started"
    secret = domain_objects.secret_name(domain_id)
    assert issued["spec"]["secretName"] == secret
    status, body, peer = await asyncio.to_thread(
        _wait_served, issuer.tls_port, issuer.path.root_pem
    )
    assert (status, body.strip()) == (200, PAGE)
    assert peer["subjectAltName"] == (("DNS", DOMAIN),)
    issuers = dict(field for entry in peer["issuer"] for field in entry)
    assert "Pebble" in issuers["commonName"]

    # Removed: the list loses it, then the reaper deletes the domain's objects.
    await kube.apply(domain_objects.allowed_domains(namespace, store_id, {}))
    await kube.remove(namespace, domain_id)
    assert await kube.certificate(namespace, domain_id) is None
    gone = kubectl("get", "secret", secret, "-n", namespace, "--ignore-not-found", "-o", "name")
    assert gone == ""
    name = domain_objects.object_name(domain_id)
    assert kubectl("get", "ingress", name, "-n", namespace, "--ignore-not-found") == ""
    eventually(
        lambda: _https_get(issuer.tls_port, None)[0] == 404,
        f"{DOMAIN} no longer routed",
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        _https_get(issuer.tls_port, issuer.path.root_pem)  # the ingress's own default


def _solver_pods_started(kubectl: Kubectl, namespace: str) -> list[str]:
    events = kubectl.get("events", "-n", namespace)["items"]
    return sorted({
        e["involvedObject"]["name"] for e in events
        if e["involvedObject"]["name"].startswith("cm-acme-http-solver-")
        and e["reason"] == "Started"
    })  # fmt: skip


def _wait_served(port: int, root_pem: str) -> tuple[int, str, dict[str, Any]]:
    """The first answer over a chain to `root_pem`: Traefik picks the new Secret up from
    its watch a moment after cert-manager writes it."""
    last: Exception | None = None
    for _ in range(60):
        try:
            answer = _https_get(port, root_pem)
            if answer[0] == 200:
                return answer
        except (ssl.SSLError, OSError) as exc:
            last = exc
        time.sleep(1)
    raise AssertionError(f"{DOMAIN} not served over a chain to Pebble's root: {last}")
