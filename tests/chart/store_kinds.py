"""Which kinds a store is made of, found by running the provisioner's own code: its
guardrails and, for every engine in its registry, the engine chart rendered with each of
the chart's values files through the provisioner's Renderer arguments and checks.

The chart's provisioner ClusterRole must grant exactly these (test_rendering.py).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

from services.provisioner.engines import ENGINES, Engine
from services.provisioner.guardrails import guardrails, store_secret
from services.provisioner.kinds import kind_of
from services.provisioner.render import Renderer, chart_values, engine_manifests
from services.provisioner.spec import Cluster, MailRelay, Manifest, StoreSpec, store_spec
from shared.events import StoreRequested, new_event
from shared.plans import DEFAULT_PLANS
from tests.chart.helm import ENGINE_CHARTS, KUBE_VERSION

PROFILES = ("none", "local", "prod")


def cluster(profile: str) -> Cluster:
    """A cluster shape that switches every optional part on (TLS, SMTP, a storage class)."""
    return Cluster(
        base_domain="stores.example.com", ingress_class="nginx",
        ingress_namespace="ingress-nginx", platform_namespace="storefleet",
        dns_namespace="kube-system", storage_class="fast", tls_issuer="letsencrypt",
        egress_blocked_cidrs=("10.0.0.0/8",), values_profile=profile, country="US:CA",
        currency="USD", mail=MailRelay("storefleet-mailrelay.storefleet.svc", 2525, "", b"k" * 32),
    )  # fmt: skip


def spec_for(engine: Engine, shape: Cluster) -> StoreSpec:
    store_id = str(uuid.uuid4())
    slug = f"shop-{store_id[:8]}"
    data = {"name": "Corner Shop", "slug": slug, "engine": engine.name, "plan": "small",
            "owner": "user-1", "namespace": f"store-{slug}-{store_id[:6]}"}  # fmt: skip
    event = new_event("requested", store_id, data, actor="user-1", correlation_id="kinds")
    assert isinstance(event, StoreRequested)
    return store_spec(event, shape, DEFAULT_PLANS, ENGINES)


def rendered_engine(helm: Path, spec: StoreSpec, shape: Cluster) -> list[Manifest]:
    renderer = Renderer(str(helm), ENGINE_CHARTS, shape.values_profile, KUBE_VERSION, 60.0)
    done = subprocess.run(
        renderer.argv(spec.engine.chart, spec.namespace),
        input=json.dumps(chart_values(spec, shape)), capture_output=True, text=True, check=True,
    )  # fmt: skip
    engine = engine_manifests(done.stdout, spec)
    return [*engine.workloads, *engine.ingress]


def store_manifests(helm: Path, engine: Engine, profile: str) -> list[Manifest]:
    shape = cluster(profile)
    spec = spec_for(engine, shape)
    secret = store_secret(spec, {key: "x" for key in engine.secret_keys})
    return [*guardrails(spec, shape).all, secret, *rendered_engine(helm, spec, shape)]


def rendered_store_kinds(helm: Path) -> set[tuple[str, str]]:
    """(API group, resource) of every object any store of any engine is made of."""
    used: set[tuple[str, str]] = set()
    for engine in ENGINES.values():
        if not (ENGINE_CHARTS / engine.chart / "Chart.yaml").is_file():
            continue
        for profile in PROFILES:
            for manifest in store_manifests(helm, engine, profile):
                kind = kind_of(manifest)
                used.add((kind.api_version.rpartition("/")[0], kind.plural))
    return used
