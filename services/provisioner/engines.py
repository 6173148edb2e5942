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
class Database:
    """Where an engine keeps its data, as a backup Job in the store reaches it."""

    kind: Literal["postgres", "mariadb"]
    service: str
    port: int
    name: str
    user: str
    password_key: str  # key of the store Secret holding the user's password


@dataclass(frozen=True)
class DataVolume:
    """A volume claim whose files a backup holds, as the object `name`."""

    name: str
    claim: str


@dataclass(frozen=True)
class BackupSpec:
    """What a backup of a store of this engine holds and how a restore puts it back: the
    database, the file volumes, the uid that owns the files (the Jobs run as it), the web
    workloads a restore stops, and the check query a verification counts orders with."""

    database: Database
    volumes: tuple[DataVolume, ...]
    run_as: int
    web: tuple[Workload, ...]


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
    backup: BackupSpec
    pod_security: Literal["restricted", "baseline"] = "restricted"

    @property
    def waits(self) -> tuple[Workload, ...]:
        return self.workloads + self.setup


def _component(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/component": name}


# Backup, restore and verification Jobs (services.provisioner.backup_jobs) carry this label:
# the guardrails let them reach the database and the object store, nothing else.
BACKUP_PODS = {"storefleet.io/role": "backup"}


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
        Flow("backup-to-database", BACKUP_PODS, _component("database"), (3306,)),
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
    backup=BackupSpec(
        database=Database(
            "mariadb", "mariadb", 3306, "wordpress", "wordpress", "database-password"
        ),
        volumes=(DataVolume("files", "wordpress-content"),),
        run_as=33,
        web=(Workload("Deployment", "wordpress"),),
    ),
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
        Flow("backup-to-database", BACKUP_PODS, _component("database"), (5432,)),
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
    backup=BackupSpec(
        database=Database("postgres", "postgres", 5432, "medusa", "medusa", "database-password"),
        volumes=(DataVolume("files", "medusa-uploads"),),
        run_as=1000,
        web=(Workload("Deployment", "medusa"),),
    ),
)

ENGINES: dict[str, Engine] = {engine.name: engine for engine in (WOOCOMMERCE, MEDUSA)}
