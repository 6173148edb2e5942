"""The typed store spec: everything the guardrails and the engine chart need to know
about one store, built from a `store.requested` event, the plan catalog, the engine
registry and the cluster's shape. Also the names of the store's own objects and the
annotations on its namespace, which the credentials responder relies on; the labels that
mark store objects come from `shared.namespaces`.

The store answers at `url`: its platform host's (`<slug>.<base domain>`) unless its owner
chose a primary domain (`on_primary`, from the store's last `store.domain.primary`), whose
address the engine then takes as its own; `platform_url` stays the host's, which the
store's own Ingress keeps serving.

Pure: no I/O. Called by the handler once per delivery; a request naming an unknown
engine, engine version or plan, or a namespace other than the store's own
(`check_namespace`), raises `SpecError`, which fails the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from services.provisioner.engines import Engine
from shared.engine_versions import EngineVersions
from shared.events import DomainPrimary, StoreRequested
from shared.namespaces import namespace_for, store_labels
from shared.plans import Plan

Manifest = dict[str, Any]

URL_ANNOTATION = "storefleet.io/url"
READY_ANNOTATION = "storefleet.io/ready-at"
# The store's own Secret: random passwords and keys, made once, never rewritten.
STORE_SECRET = "store-secret"
QUOTA = "store-quota"
LIMITS = "store-limits"
SMTP_SECRET = "store-smtp"
USERNAME_KEY = "admin-username"
PASSWORD_KEY = "admin-password"


class SpecError(Exception):
    """The request cannot be provisioned as asked; `code` and the message reach the user,
    `detail` only the operator's log."""

    def __init__(self, code: str, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.detail = detail  # for the operator's log only


@dataclass(frozen=True)
class MailRelay:
    """The platform's mail relay (`services.mailrelay`) as stores reach it: its Service
    and port in the platform namespace, the From address stores send as by default
    (empty: wordpress@<store host>), and the key each store's password is derived from
    (`shared.mailauth`)."""

    host: str
    port: int
    sender: str
    key: bytes = field(repr=False)


@dataclass(frozen=True)
class BackupStorage:
    """How a store's backup Jobs reach the object store their pre-signed URLs name: the
    platform's bundled one (pods in the platform namespace), or addresses in private
    ranges the operator lists; on `port`. A public endpoint on 443 needs neither."""

    port: int
    bundled: bool
    cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cluster:
    """The cluster's shape and the operator's choices, the same for every store."""

    base_domain: str
    ingress_class: str
    ingress_namespace: str
    platform_namespace: str
    dns_namespace: str
    storage_class: str
    tls_issuer: str
    egress_blocked_cidrs: tuple[str, ...]
    values_profile: str
    country: str
    currency: str
    mail: MailRelay | None = None
    public_port: int | None = None  # where the ingress controller answers, when not 80/443
    backup_storage: BackupStorage | None = None


@dataclass(frozen=True)
class StoreSpec:
    store_id: str
    name: str
    slug: str
    owner: str
    namespace: str
    engine: Engine
    engine_version: str | None  # None: the engine has no versions file
    plan_name: str
    plan: Plan
    host: str
    url: str  # where the engine answers: its primary domain's address, else platform_url
    tls: bool
    request_id: str
    correlation_id: str
    version_values: Mapping[str, Any] = field(default_factory=dict)
    platform_url: str = ""  # the store's own host's address, which its Ingress serves
    primary_domain: str | None = None

    def labels(self) -> dict[str, str]:
        """The labels every object of the store carries."""
        return store_labels(self.store_id, self.engine.name)


def store_url(host: str, tls: bool, port: int | None) -> str:
    """What a browser opens: the ingress controller's port only when it is not the
    scheme's own."""
    scheme = "https" if tls else "http"
    default = 443 if tls else 80
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def primary_url(domain: str, tls: bool, cluster: Cluster) -> str:
    """A primary domain's address: https when the reaper serves it with a certificate. The
    ingress controller's public port applies when the domain's scheme is the stores' own
    (a controller answers one port per scheme)."""
    same_scheme = tls == bool(cluster.tls_issuer)
    return store_url(domain, tls, cluster.public_port if same_scheme else None)


def on_primary(spec: StoreSpec, primary: DomainPrimary | None, cluster: Cluster) -> StoreSpec:
    """`spec` answering at `primary`'s domain, or at its platform host when there is none
    (no change asked for, or back to the host)."""
    if primary is None or primary.domain is None:
        return replace(spec, url=spec.platform_url, primary_domain=None)
    url = primary_url(primary.domain, primary.tls, cluster)
    return replace(spec, url=url, primary_domain=primary.domain)


def check_namespace(event: StoreRequested) -> None:
    """`SpecError` unless the request names the namespace derived from its own slug and
    store id: the event's namespace is never trusted to aim the provisioner elsewhere."""
    expected = namespace_for(event.data.slug, event.store_id)
    if event.data.namespace != expected:
        raise SpecError(
            "namespace_mismatch",
            "the request named a namespace that is not this store's; nothing was created",
            f"the request named namespace {event.data.namespace!r}; the store's is {expected!r}",
        )


def store_spec(
    event: StoreRequested,
    cluster: Cluster,
    plans: Mapping[str, Plan],
    engines: Mapping[str, Engine],
    versions: Mapping[str, EngineVersions] | None = None,
) -> StoreSpec:
    """The spec of the requested store, or `SpecError` naming what is unknown.
    `versions` maps an engine's name to its chart's version registry."""
    data = event.data
    engine = engines.get(data.engine)
    if engine is None:
        known = ", ".join(sorted(engines))
        raise SpecError("unknown_engine", f"engine {data.engine!r} is not offered (known: {known})")
    version, values = _engine_version(engine, data.engine_version, versions or {})
    plan = plans.get(data.plan)
    if plan is None:
        known = ", ".join(sorted(plans))
        raise SpecError("unknown_plan", f"plan {data.plan!r} is not offered (known: {known})")
    host = f"{data.slug}.{cluster.base_domain}"
    tls = bool(cluster.tls_issuer)
    url = store_url(host, tls, cluster.public_port)
    return StoreSpec(
        store_id=event.store_id,
        name=data.name,
        slug=data.slug,
        owner=data.owner,
        namespace=data.namespace,
        engine=engine,
        engine_version=version,
        plan_name=data.plan,
        plan=plan,
        host=host,
        url=url,
        tls=tls,
        request_id=event.id,
        correlation_id=event.correlation_id,
        version_values=values,
        platform_url=url,
    )


def _engine_version(
    engine: Engine, asked: str | None, versions: Mapping[str, EngineVersions]
) -> tuple[str | None, Mapping[str, Any]]:
    """The version the store runs (None asked: the default) and its chart values."""
    registry = versions.get(engine.name)
    if registry is None and asked is None:
        return None, {}  # a chart without versions renders as its values say
    chosen = registry.resolve(asked) if registry is not None else None
    if registry is None or chosen is None:
        known = ", ".join(sorted(registry.versions)) if registry is not None else "none"
        raise SpecError(
            "unknown_engine_version",
            f"{engine.name} version {asked!r} is not offered (known: {known})",
        )
    return chosen, registry.versions[chosen].values
