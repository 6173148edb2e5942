"""The store's guardrails, owned by the platform: its namespace (labels, Pod Security
admission), ResourceQuota and LimitRange from its plan, NetworkPolicies, and its
Secrets. They are applied before the engine and re-applied on every delivery, so no
engine chart can loosen them (the chart may not render these kinds at all; see
`services.provisioner.render`).

Network policy, in words:
- everything in and out of the store's pods is denied unless allowed below;
- the ingress controller's namespace may reach the engine's web pods on its web ports;
- inside the store, only the flows the engine declares (for example web -> database);
- every pod may resolve names through the cluster DNS;
- every pod may reach the outside web (80/443), but not the private ranges (pods,
  services, nodes, metadata), so nothing in another store or in the platform namespace
  is reachable;
- when the platform runs a mail relay, every pod may reach the relay's pods in the
  platform namespace on its port, and nothing else there. Mail leaves only through the
  relay: no store reaches an outside SMTP server directly;
- backup Jobs' pods (`engines.BACKUP_PODS`) may reach the store's database and the
  object store their pre-signed URLs name: the platform's bundled one, or private
  addresses the operator lists (a public endpoint on 443 is outside web already).

The store's mail Secret (`store-smtp`) holds the store's own relay login (its id and a
password derived from the relay key, `shared.mailauth`), never the operator's upstream
credentials, which stay with the relay in the platform namespace.

Pure: no I/O. Called by the handler; the random values of the store Secret are made by
the caller and passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.provisioner.engines import BACKUP_PODS, Flow
from services.provisioner.spec import (
    LIMITS,
    QUOTA,
    SMTP_SECRET,
    STORE_SECRET,
    URL_ANNOTATION,
    USERNAME_KEY,
    Cluster,
    Manifest,
    StoreSpec,
)
from shared.mailauth import store_mail_password
from shared.namespaces import OWNER

NAME_LABEL = "kubernetes.io/metadata.name"
# The relay's pods in the platform namespace (charts/storefleet: component mailrelay).
MAIL_RELAY_PODS = {"app.kubernetes.io/component": "mailrelay"}
# The platform's bundled object store (charts/storefleet: component objectstore).
OBJECT_STORE_PODS = {"app.kubernetes.io/component": "objectstore"}
WEB_PORTS = (80, 443)
DNS_PORT = 53
# cert-manager's HTTP-01 solver pods: their label and the port they answer on.
ACME_SOLVER_PODS = {"acme.cert-manager.io/http01-solver": "true"}
ACME_SOLVER_PORT = 8089
EPHEMERAL = "ephemeral-storage"


@dataclass(frozen=True)
class Guardrails:
    namespace: Manifest
    policies: list[Manifest]  # quota, limits, network policies, platform-owned Secrets

    @property
    def all(self) -> list[Manifest]:
        return [self.namespace, *self.policies]


def guardrails(spec: StoreSpec, cluster: Cluster) -> Guardrails:
    """Every platform-owned object of the store except its random-valued Secret."""
    objects = [resource_quota(spec), limit_range(spec), *network_policies(spec, cluster)]
    if cluster.mail is not None:
        objects.append(mail_secret(spec, cluster))
    return Guardrails(namespace(spec), objects)


def _meta(spec: StoreSpec, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": spec.namespace, "labels": spec.labels(), **extra}


def namespace(spec: StoreSpec) -> Manifest:
    level = spec.engine.pod_security
    labels = {
        **spec.labels(),
        OWNER: spec.owner,
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/enforce-version": "latest",
        # Warn and audit at the strictest level, so a chart drifting from it shows up.
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/audit-version": "latest",
    }
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": spec.namespace,
            "labels": labels,
            "annotations": {URL_ANNOTATION: spec.url},
        },
    }


def resource_quota(spec: StoreSpec) -> Manifest:
    plan = spec.plan
    hard = {
        "requests.cpu": plan.requests_cpu,
        "requests.memory": plan.requests_memory,
        "limits.cpu": plan.limits_cpu,
        "limits.memory": plan.limits_memory,
        "persistentvolumeclaims": str(plan.max_pvcs),
        "requests.storage": plan.storage,
        "requests.ephemeral-storage": plan.requests_ephemeral_storage,
        "limits.ephemeral-storage": plan.limits_ephemeral_storage,
        # A store is reached through its Ingress only.
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta(spec, QUOTA),
        "spec": {"hard": hard},
    }


def limit_range(spec: StoreSpec) -> Manifest:
    plan = spec.plan
    default = {"cpu": plan.container_default_cpu, "memory": plan.container_default_memory}
    container = {
        "type": "Container",
        "default": {**default, EPHEMERAL: plan.container_default_ephemeral_limit},
        "defaultRequest": {**default, EPHEMERAL: plan.container_default_ephemeral_request},
        "max": {"cpu": plan.container_max_cpu, "memory": plan.container_max_memory},
    }
    claim = {"type": "PersistentVolumeClaim", "max": {"storage": plan.storage}}
    # The kubelet measures scratch space per pod (its emptyDirs, logs and writable
    # layers against the sum of its containers' limits), so the maximum is per pod.
    pod = {"type": "Pod", "max": {EPHEMERAL: plan.pod_max_ephemeral_storage}}
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _meta(spec, LIMITS),
        "spec": {"limits": [container, claim, pod]},
    }


def _policy(spec: StoreSpec, name: str, pods: Mapping[str, str], **rules: Any) -> Manifest:
    types = [t for t, key in (("Ingress", "ingress"), ("Egress", "egress")) if key in rules]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(spec, name),
        "spec": {"podSelector": {"matchLabels": dict(pods)}, "policyTypes": types, **rules},
    }


def _ports(ports: Iterable[int], protocol: str = "TCP") -> list[dict[str, Any]]:
    return [{"protocol": protocol, "port": port} for port in ports]


def _in_namespace(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {NAME_LABEL: name}}}


def network_policies(spec: StoreSpec, cluster: Cluster) -> list[Manifest]:
    engine = spec.engine
    deny = _policy(spec, "default-deny", {}, ingress=[], egress=[])
    from_ingress = _policy(
        spec,
        "allow-from-ingress-controller",
        engine.web_pods,
        ingress=[
            {"from": [_in_namespace(cluster.ingress_namespace)], "ports": _ports(engine.web_ports)}
        ],
    )
    # cert-manager answers an HTTP-01 challenge (the store's own certificate, a custom
    # domain's) from a solver pod it starts in this namespace, reached through the
    # ingress controller like the store itself.
    ingress_controller = [_in_namespace(cluster.ingress_namespace)]
    acme_solver = _policy(
        spec,
        "allow-acme-solver-from-ingress-controller",
        ACME_SOLVER_PODS,
        ingress=[{"from": ingress_controller, "ports": _ports([ACME_SOLVER_PORT])}],
    )
    dns = _policy(
        spec,
        "allow-dns",
        {},
        egress=[
            {
                "to": [_in_namespace(cluster.dns_namespace)],
                "ports": _ports([DNS_PORT], "UDP") + _ports([DNS_PORT]),
            }
        ],
    )
    outside = {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(cluster.egress_blocked_cidrs)}}
    web = _policy(
        spec, "allow-outbound-web", {}, egress=[{"to": [outside], "ports": _ports(WEB_PORTS)}]
    )
    mail = [_mail_policy(spec, cluster)] if cluster.mail else []
    storage = _storage_policy(spec, cluster)
    flows = [policy for flow in engine.flows for policy in _flow_policies(spec, flow)]
    return [deny, from_ingress, acme_solver, dns, web, *mail, *storage, *flows]


def _storage_policy(spec: StoreSpec, cluster: Cluster) -> list[Manifest]:
    """Backup Jobs' egress to the object store: the platform's bundled one, or the
    private addresses the operator named; nothing else of the platform."""
    storage = cluster.backup_storage
    if storage is None or not (storage.bundled or storage.cidrs):
        return []
    peers: list[dict[str, Any]] = [{"ipBlock": {"cidr": cidr}} for cidr in storage.cidrs]
    if storage.bundled:
        peers.append(
            {
                **_in_namespace(cluster.platform_namespace),
                "podSelector": {"matchLabels": OBJECT_STORE_PODS},
            }
        )
    rule = {"to": peers, "ports": _ports([storage.port])}
    return [_policy(spec, "allow-backup-storage", BACKUP_PODS, egress=[rule])]


def _mail_policy(spec: StoreSpec, cluster: Cluster) -> Manifest:
    """Egress to the relay's pods only (a NetworkPolicy sees the pods' port, so the
    chart gives the relay's Service the same port as its pods)."""
    assert cluster.mail is not None
    relay = {
        **_in_namespace(cluster.platform_namespace),
        "podSelector": {"matchLabels": MAIL_RELAY_PODS},
    }
    return _policy(
        spec,
        "allow-mail-relay",
        {},
        egress=[{"to": [relay], "ports": _ports([cluster.mail.port])}],
    )


def _flow_policies(spec: StoreSpec, flow: Flow) -> list[Manifest]:
    """One flow needs both ends opened: ingress on the target, egress on the source."""
    ports = _ports(flow.ports)
    inbound = _policy(
        spec,
        f"flow-{flow.name}-in",
        flow.target,
        ingress=[{"from": [{"podSelector": {"matchLabels": dict(flow.source)}}], "ports": ports}],
    )
    outbound = _policy(
        spec,
        f"flow-{flow.name}-out",
        flow.source,
        egress=[{"to": [{"podSelector": {"matchLabels": dict(flow.target)}}], "ports": ports}],
    )
    return [inbound, outbound]


def store_secret(spec: StoreSpec, random_values: Mapping[str, str]) -> Manifest:
    """The store's Secret. Created once and never updated: a database initialised with
    these passwords would lock everyone out if a redelivery rewrote them."""
    missing = set(spec.engine.secret_keys) - set(random_values)
    if missing:
        raise ValueError(f"missing secret values: {sorted(missing)}")
    data = {USERNAME_KEY: spec.engine.admin_username, **random_values}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _meta(spec, STORE_SECRET),
        "stringData": data,
    }


def mail_secret(spec: StoreSpec, cluster: Cluster) -> Manifest:
    """The store's own login at the platform's mail relay (re-applied, so a new relay
    address or key spreads on the next delivery)."""
    mail = cluster.mail
    assert mail is not None
    data = {
        "host": mail.host,
        "port": str(mail.port),
        "username": spec.store_id,
        "password": store_mail_password(mail.key, spec.store_id),
        "from": mail.sender or f"wordpress@{spec.host}",
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _meta(spec, SMTP_SECRET),
        "stringData": data,
    }
