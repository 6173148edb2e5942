"""The Kubernetes kinds the provisioner writes, with where each lives in the API, and the
order a wave applies them in. A static table on purpose: the provisioner's RBAC names
exactly these kinds, and an engine chart that renders anything else is refused.

Pure: no I/O. Read by the Kubernetes adapter (URLs) and by the engine rendering
(which kinds a chart may contain).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True
    # Lower applies first inside a wave; one order is applied concurrently. The namespace
    # comes first; everything a pod refers to (service account, secrets, config, claims)
    # before the workloads whose controllers make pods; the Ingress last.
    order: int = 50

    def collection(self, namespace: str | None) -> str:
        """The URL path of this kind's collection (in `namespace` when namespaced)."""
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace is not None:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"

    def path(self, name: str, namespace: str | None) -> str:
        return f"{self.collection(namespace)}/{name}"


KINDS: dict[tuple[str, str], Kind] = {
    (k.api_version, k.kind): k
    for k in (
        Kind("v1", "Namespace", "namespaces", namespaced=False, order=0),
        Kind("v1", "ResourceQuota", "resourcequotas", order=10),
        Kind("v1", "LimitRange", "limitranges", order=10),
        Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", order=10),
        Kind("v1", "ServiceAccount", "serviceaccounts", order=10),
        Kind("v1", "Secret", "secrets", order=10),
        Kind("v1", "ConfigMap", "configmaps", order=10),
        Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims", order=10),
        Kind("v1", "Service", "services", order=10),
        Kind("apps/v1", "StatefulSet", "statefulsets", order=40),
        Kind("apps/v1", "Deployment", "deployments", order=40),
        Kind("batch/v1", "Job", "jobs", order=40),
        Kind("batch/v1", "CronJob", "cronjobs", order=40),
        Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", order=40),
        Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", order=40),
        Kind("networking.k8s.io/v1", "Ingress", "ingresses", order=60),
        # Read only: a backup Job's pod, for the result in its termination message.
        Kind("v1", "Pod", "pods", order=40),
    )
}

# Only the platform writes these: an engine chart that renders one is refused.
GUARDRAIL_KINDS = frozenset({"Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy"})
# Engine charts render workloads, never bare pods.
ENGINE_KINDS = frozenset(k.kind for k in KINDS.values()) - GUARDRAIL_KINDS - {"Pod"}


class UnknownKind(KeyError):
    pass


def kind_of(manifest: dict[str, object]) -> Kind:
    key = (str(manifest.get("apiVersion", "")), str(manifest.get("kind", "")))
    try:
        return KINDS[key]
    except KeyError:
        raise UnknownKind(f"{key[1] or '?'} ({key[0] or 'no apiVersion'})") from None


def by_kind(kind: str) -> Kind:
    return next(k for k in KINDS.values() if k.kind == kind)


def ref(manifest: dict[str, object]) -> str:
    """`Kind/name`, as progress events and logs show an object."""
    meta = manifest.get("metadata")
    name = meta.get("name", "?") if isinstance(meta, dict) else "?"
    return f"{manifest.get('kind', '?')}/{name}"
