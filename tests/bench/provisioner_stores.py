"""The provisioner benchmark's stores and its ceilings: a store request event, the
cluster's shape, and `ceiling`, which writes the objects of many stores straight to the
API server (POST, or server-side apply) with no platform, and times it.

Called by `tests.bench.bench_provisioner`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client import ApiClient

from services.provisioner.engines import ENGINES
from services.provisioner.failures import classify
from services.provisioner.guardrails import guardrails, store_secret
from services.provisioner.handler import random_secret_values
from services.provisioner.kinds import kind_of
from services.provisioner.kubeapi import StoreKube
from services.provisioner.render import Renderer, engine_manifests
from services.provisioner.spec import Cluster, StoreSpec, store_spec
from shared.events import Envelope, new_event
from shared.kube_errors import KubeError
from shared.plans import DEFAULT_PLANS
from tests.fixtures.cluster import STORAGE_CLASS

CHARTS = Path(__file__).resolve().parents[2] / "charts" / "engines"
# A request the API server answers with a temporary error (a 504 on a loaded machine) is
# sent again, at most this many times in all.
CEILING_ATTEMPTS = 5


def requested(index: int, prefix: str) -> Envelope:
    store_id = str(uuid.uuid4())
    slug = f"{prefix}{index}-{store_id[:6]}"
    data = {
        "name": f"Bench {index}",
        "slug": slug,
        "engine": "woocommerce",
        "plan": "small",
        "owner": "bench",
        "namespace": f"store-{slug}-{store_id.replace('-', '')[:6]}",
    }
    return new_event("requested", store_id, data, actor="bench", correlation_id="bench")


def bench_cluster() -> Cluster:
    return Cluster(
        base_domain="stores.localhost",
        ingress_class="nginx",
        ingress_namespace="ingress-nginx",
        platform_namespace="storefleet",
        dns_namespace="kube-system",
        storage_class=STORAGE_CLASS,
        tls_issuer="",
        egress_blocked_cidrs=("10.0.0.0/8",),
        values_profile="local",
        country="US:CA",
        currency="USD",
    )


async def ceiling(api: ApiClient, helm: Path, count: int, apply: bool) -> dict[str, Any]:
    """Create (or with `apply`, server-side apply) the objects of `count` stores directly
    and concurrently; no platform."""
    kube = StoreKube(api, timeout=120)
    renderer = Renderer(str(helm), CHARTS, "local", await kube.server_version(), 120)
    shape = bench_cluster()

    async def manifests(event: Envelope) -> list[dict[str, Any]]:
        spec: StoreSpec = store_spec(event, shape, DEFAULT_PLANS, ENGINES)  # type: ignore[arg-type]
        engine = engine_manifests(await renderer.render(spec, shape), spec)
        rails = guardrails(spec, shape)
        secret = store_secret(spec, random_secret_values(spec.engine))
        return [*rails.all, secret, *engine.workloads, *engine.ingress]

    stores = await asyncio.gather(*(manifests(requested(i, "c")) for i in range(count)))

    async def create_one(obj: dict[str, Any]) -> None:
        for attempt in range(1, CEILING_ATTEMPTS + 1):
            try:
                await (kube.apply(obj) if apply else kube.create(obj))
                return
            except KubeError as exc:
                if attempt == CEILING_ATTEMPTS or not classify(exc).temporary:
                    raise
                await asyncio.sleep(1)

    async def create(objects: list[dict[str, Any]]) -> None:
        await create_one(objects[0])  # the namespace first, then the rest at once
        await asyncio.gather(*(create_one(obj) for obj in objects[1:]))

    started = time.monotonic()
    await asyncio.gather(*(create(objects) for objects in stores))
    took = time.monotonic() - started
    objects = sum(len(s) for s in stores)
    kinds = sorted({kind_of(o).kind for o in stores[0]})
    return {
        "stores": count,
        "objects": objects,
        "objects_per_store": objects // count,
        "kinds": kinds,
        "seconds": round(took, 2),
        "objects_per_second": round(objects / took, 1),
        "stores_per_minute": round(count / took * 60, 1),
    }
