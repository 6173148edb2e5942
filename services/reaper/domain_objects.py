"""The Kubernetes objects that serve one verified custom domain in its store's namespace,
as plain dicts for server-side apply (issue 16, the certificate half).

Each domain gets objects of its own, never shared with another domain, so one domain's
failed challenge cannot hold up another's certificate:

- a Certificate `domain-<id>` (cert-manager) for that one name, from the operator's
  issuer, into the Secret `domain-<id>-tls`;
- an Ingress `domain-<id>` labelled `storefleet.io/custom-domain`, routing the name to
  the store's web Service over TLS with that Secret. Until the Secret exists the ingress
  controller serves its default certificate; the HTTP-01 challenge is answered by the
  solver Ingress cert-manager adds beside it.

The namespace's ConfigMap `storefleet-domains` lists the domains the reaper has
verified for the store (domain -> domain id): the chart's admission policy lets a
custom-domain Ingress name only those, and lets only the reaper write that ConfigMap.

Pure: no I/O. Called by `services.reaper.domain_certs`.
"""

from __future__ import annotations

from typing import Any

from shared.namespaces import MANAGED_BY, PLATFORM, STORE_ID

CUSTOM_DOMAIN = "storefleet.io/custom-domain"
DOMAIN_ID = "storefleet.io/domain-id"
ALLOWED_DOMAINS = "storefleet-domains"
# The Service and port each engine chart's Ingress sends a store's traffic to
# (charts/engines/*/templates/ingress.yaml; tests/chart checks they agree).
WEB_SERVICE = {"woocommerce": ("wordpress", "http"), "medusa": ("medusa", "http")}
# The provisioner's ExternalName Service to the paused page in a suspended store's
# namespace (services/provisioner/suspensions.py).
PAUSED_SERVICE = "storefleet-paused"


def object_name(domain_id: str) -> str:
    """`domain-<the id's 32 hex digits>`: unique in the namespace, a DNS label."""
    return f"domain-{domain_id.replace('-', '')}"


def secret_name(domain_id: str) -> str:
    return f"{object_name(domain_id)}-tls"


def _metadata(name: str, namespace: str, store_id: str, domain_id: str) -> dict[str, Any]:
    labels = {MANAGED_BY: PLATFORM, STORE_ID: store_id, CUSTOM_DOMAIN: "true", DOMAIN_ID: domain_id}
    return {"name": name, "namespace": namespace, "labels": labels}


def certificate(
    namespace: str, store_id: str, domain_id: str, domain: str, issuer: str, issuer_kind: str
) -> dict[str, Any]:
    """A certificate for `domain` alone from `issuer` (a ClusterIssuer or, in the store's
    namespace, an Issuer)."""
    name = object_name(domain_id)
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": _metadata(name, namespace, store_id, domain_id),
        "spec": {
            "secretName": secret_name(domain_id),
            "dnsNames": [domain],
            "issuerRef": {"group": "cert-manager.io", "kind": issuer_kind, "name": issuer},
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "secretTemplate": {"labels": {MANAGED_BY: PLATFORM, STORE_ID: store_id}},
        },
    }


def ingress(
    namespace: str,
    store_id: str,
    domain_id: str,
    domain: str,
    engine: str,
    ingress_class: str,
    paused_port: int | None = None,
) -> dict[str, Any]:
    """The route of `domain` to the store's web Service, TLS from the domain's Secret; to
    the paused page's Service (`storefleet-paused`, on `paused_port`) instead while the
    store is suspended, as the store's own Ingress is then."""
    if paused_port is None:
        service, port = WEB_SERVICE[engine]
        backend = {"service": {"name": service, "port": {"name": port}}}
    else:
        backend = {"service": {"name": PAUSED_SERVICE, "port": {"number": paused_port}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(object_name(domain_id), namespace, store_id, domain_id),
        "spec": {
            "ingressClassName": ingress_class,
            "tls": [{"hosts": [domain], "secretName": secret_name(domain_id)}],
            "rules": [
                {
                    "host": domain,
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
            ],
        },
    }


def allowed_domains(namespace: str, store_id: str, domains: dict[str, str]) -> dict[str, Any]:
    """The namespace's list of verified domains (domain -> domain id), read by the
    admission policy; written whole each time, so a removed domain leaves it."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": ALLOWED_DOMAINS,
            "namespace": namespace,
            "labels": {MANAGED_BY: PLATFORM, STORE_ID: store_id},
        },
        "data": dict(sorted(domains.items())),
    }
