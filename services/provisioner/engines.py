"""The engine registry: what the provisioner knows about each store engine, and nothing
more. An engine is a Helm chart under `charts/engines/<chart>/` plus one `Engine` entry
here that says which of the chart's workloads must be ready, which Jobs must complete,
which pods are web pods the ingress controller may reach, how the store's pods may talk
to each other (the guardrails turn that into NetworkPolicies), and which random values
the store's Secret holds. Adding an engine is a chart and an entry; no other module
names an engine.

Pure: no I/O. Read by `services.provisioner.spec` (lookup by the requested engine name),
the guardrails (policies, Secret) and the handler (readiness).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

WorkloadKind = Literal["Deployment", "StatefulSet", "Job"]


@dataclass(frozen=True)
class Workload:
    """One object the provisioner waits for: Deployments and StatefulSets until all their
    replicas are ready, Jobs until they complete."""

    kind: WorkloadKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Flow:
    """Pods matching `source` may open connections to pods matching `target` on `ports`
    (TCP), inside the store's namespace. Everything else inside the store is denied."""

    name: str
    source: Mapping[str, str]
    target: Mapping[str, str]
    ports: tuple[int, ...]


@dataclass(frozen=True)
class Engine:
    name: str
    chart: str  # directory under the charts dir
    workloads: tuple[Workload, ...]
    setup: tuple[Workload, ...]
    web_pods: Mapping[str, str]
    web_ports: tuple[int, ...]
    flows: tuple[Flow, ...]
    secret_keys: tuple[str, ...]  # keys of random values, made once per store
    admin_username: str
    pod_security: Literal["restricted", "baseline"] = "restricted"

    @property
    def waits(self) -> tuple[Workload, ...]:
        return self.workloads + self.setup


def _component(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/component": name}


WOOCOMMERCE = Engine(
    name="woocommerce",
    chart="woocommerce",
    workloads=(Workload("StatefulSet", "mariadb"), Workload("Deployment", "wordpress")),
    setup=(Workload("Job", "wordpress-setup"),),
    web_pods=_component("web"),
    web_ports=(8080,),
    flows=(
        Flow("web-to-database", _component("web"), _component("database"), (3306,)),
        Flow("setup-to-database", _component("setup"), _component("database"), (3306,)),
        Flow("cron-to-database", _component("cron"), _component("database"), (3306,)),
    ),
    secret_keys=(
        "database-root-password",
        "database-password",
        "admin-password",
        "auth-key",
        "secure-auth-key",
        "logged-in-key",
        "nonce-key",
        "auth-salt",
        "secure-auth-salt",
        "logged-in-salt",
        "nonce-salt",
    ),
    admin_username="storeadmin",
)

MEDUSA = Engine(
    name="medusa",
    chart="medusa",
    workloads=(Workload("StatefulSet", "postgres"), Workload("Deployment", "medusa")),
    setup=(Workload("Job", "medusa-setup"),),
    web_pods=_component("web"),
    web_ports=(9000,),
    flows=(
        Flow("web-to-database", _component("web"), _component("database"), (5432,)),
        Flow("setup-to-database", _component("setup"), _component("database"), (5432,)),
        # Redis runs only where the chart's values turn it on (values-prod).
        Flow("web-to-cache", _component("web"), _component("cache"), (6379,)),
        Flow("setup-to-cache", _component("setup"), _component("cache"), (6379,)),
    ),
    secret_keys=(
        "database-password",
        "admin-password",
        "jwt-secret",
        "cookie-secret",
        "redis-password",
    ),
    # Medusa's admin logs in with an email; the chart passes this as ADMIN_EMAIL.
    admin_username="admin@storefleet.example",
)

ENGINES: dict[str, Engine] = {engine.name: engine for engine in (WOOCOMMERCE, MEDUSA)}
