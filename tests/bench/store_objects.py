"""What one store puts on the API server, for the benchmarks that create stores' objects
directly, without the platform: the provisioner's ceiling (tests/bench/bench_provisioner.py)
and the scale benchmark's ceiling and seeded stores (tests/bench/bench_scale.py).

`StoreObjects.render` runs the provisioner's own code (spec, guardrails, Secret, engine
chart through helm) for a `requested` event; `StoreObjects.copy` gives another store the
objects of one rendered store with its names swapped in, so thousands of stores cost one
helm run. `create_stores` POSTs them, or server-side applies them as the provisioner
does (each namespace first, then the rest at once), and times it; `ceiling_figures`
turns that into stores per minute.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

from services.provisioner.engines import ENGINES
from services.provisioner.guardrails import guardrails, store_secret
from services.provisioner.handler import random_secret_values
from services.provisioner.kinds import kind_of
from services.provisioner.kubeapi import StoreKube
from services.provisioner.render import Renderer, engine_manifests
from services.provisioner.spec import Cluster, StoreSpec, store_spec
from shared.events import Envelope, new_event
from shared.kube_errors import KubeUnavailable
from shared.plans import DEFAULT_PLANS
from tests.fixtures.cluster import STORAGE_CLASS

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts" / "engines"
Manifest = dict[str, Any]
RETRIES = 10


def requested(index: int, prefix: str, owner: str = "bench") -> Envelope:
    """A `requested` event for a WooCommerce store on the small plan."""
    store_id = str(uuid.uuid4())
    slug = f"{prefix}{index}-{store_id[:6]}"
    data = {
        "name": f"Bench {index}",
        "slug": slug,
        "engine": "woocommerce",
        "plan": "small",
        "owner": owner,
        "namespace": f"store-{slug}-{store_id.replace('-', '')[:6]}",
    }
    return new_event("requested", store_id, data, actor="bench", correlation_id="bench")


def bench_cluster(storage_class: str = STORAGE_CLASS) -> Cluster:
    """The cluster settings the local platform's provisioner runs with."""
    return Cluster(
        base_domain="stores.localhost",
        ingress_class="nginx",
        ingress_namespace="ingress-nginx",
        platform_namespace="storefleet",
        dns_namespace="kube-system",
        storage_class=storage_class,
        tls_issuer="",
        egress_blocked_cidrs=("10.0.0.0/8",),
        values_profile="local",
        country="US:CA",
        currency="USD",
    )


class StoreObjects:
    """Renders stores' objects with the provisioner's code, on the API server `kube`."""

    def __init__(
        self,
        kube: StoreKube,
        helm: Path,
        server_version: str,
        storage_class: str = STORAGE_CLASS,
        apply: bool = False,
    ) -> None:
        self.kube = kube
        self.apply = apply  # server-side apply, as the provisioner writes, instead of POST
        self.shape = bench_cluster(storage_class)
        self.renderer = Renderer(str(helm), CHARTS, "local", server_version, 120)
        self.retries = 0  # creations the API server turned away for a moment

    def spec(self, event: Envelope) -> StoreSpec:
        return store_spec(event, self.shape, DEFAULT_PLANS, ENGINES)  # type: ignore[arg-type]

    async def render(self, event: Envelope) -> list[Manifest]:
        """Every object of the store, in creation order; the namespace first."""
        spec = self.spec(event)
        engine = engine_manifests(await self.renderer.render(spec, self.shape), spec)
        return [*self._platform_objects(spec), *engine.workloads, *engine.ingress]

    def copy(self, rendered: list[Manifest], model: Envelope, event: Envelope) -> list[Manifest]:
        """The objects of `event`'s store, made from those rendered for `model`'s: the
        guardrails and Secret its own, the engine's with the model's names swapped."""
        spec = self.spec(event)
        own = self._platform_objects(spec)
        text = json.dumps(rendered[len(own) :])
        for old, new in _names(model, event):
            text = text.replace(old, new)
        return [*own, *json.loads(text)]

    def _platform_objects(self, spec: StoreSpec) -> list[Manifest]:
        rails = guardrails(spec, self.shape)
        return [*rails.all, store_secret(spec, random_secret_values(spec.engine))]

    async def create(self, objects: list[Manifest]) -> None:
        await self._create(objects[0])  # the namespace first, then the rest at once
        await asyncio.gather(*(self._create(obj) for obj in objects[1:]))

    async def _create(self, obj: Manifest) -> None:
        """Create `obj`, again after a pause when the API server is overloaded (a 504 or
        429 under a burst on a busy machine); an object already there counts as made (a
        504 can come after the object was stored)."""
        for attempt in range(1, RETRIES + 1):
            try:
                await (self.kube.apply(obj) if self.apply else self.kube.create(obj))
                return
            except KubeUnavailable:
                if attempt == RETRIES:
                    raise
                self.retries += 1
                await asyncio.sleep(min(2.0 * attempt, 15.0))


def _names(model: Envelope, event: Envelope) -> list[tuple[str, str]]:
    # The namespace before the slug: it contains it.
    old, new = model.data, event.data  # type: ignore[attr-defined]
    return [
        (old.namespace, new.namespace),
        (old.slug, new.slug),
        (model.store_id, event.store_id),
        (old.name, new.name),
    ]


async def create_stores(
    objects: StoreObjects, stores: list[list[Manifest]], at_once: int = 0
) -> float:
    """Create every store's objects, `at_once` stores at a time (0: all); the seconds."""
    limit = asyncio.Semaphore(at_once or len(stores) or 1)

    async def one(store: list[Manifest]) -> None:
        async with limit:
            await objects.create(store)

    started = time.monotonic()
    await asyncio.gather(*(one(store) for store in stores))
    return time.monotonic() - started


def ceiling_figures(stores: list[list[Manifest]], took: float) -> dict[str, Any]:
    """Stores and objects a second and a minute, from `create_stores`' seconds."""
    count = len(stores)
    created = sum(len(s) for s in stores)
    return {
        "stores": count,
        "objects": created,
        "objects_per_store": created // count,
        "kinds": sorted({kind_of(o).kind for o in stores[0]}),
        "seconds": round(took, 2),
        "objects_per_second": round(created / took, 1),
        "stores_per_minute": round(count / took * 60, 1),
    }
