"""A store's engine moved to its primary domain's address on the real control plane
(simulated nodes): a ready store asked to answer at `shop.example.org` gets its web
Deployment, cron and a setup Job of the change's own at `https://shop.example.org`
(WooCommerce's setup moves WordPress's home and siteurl there), or Medusa's URL and CORS
lists with it, while its own Ingress keeps its platform host; going back moves it all
back. A request a later one replaced does nothing; one redelivered after the worker
stopped mid-way ends at the address once; a suspended store is refused; a retry of the
store keeps its primary domain.

The primary domains consumer's handler runs in the test, over the test's stream and the
real API server; the store itself is provisioned by the provisioner's `main`."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, AppsV1Api, BatchV1Api, CoreV1Api, NetworkingV1Api

from services.provisioner.app import cluster_of
from services.provisioner.engines import ENGINES
from services.provisioner.kubeapi import StoreKube
from services.provisioner.primary_domains import AddressMover, PrimaryDomainHandler
from services.provisioner.publisher import Publisher
from services.provisioner.render import Renderer
from services.provisioner.spec import URL_ANNOTATION, Manifest, StoreSpec
from services.provisioner.store_records import StoreRecords
from services.provisioner.suspensions import Suspender
from services.provisioner.upgrade_runs import Gate, ReadinessGate
from shared.events import Envelope, new_event
from shared.jetstream import ensure_consumer, publish_event
from shared.subjects import PRIMARY_DOMAINS
from shared.worker import WorkerPool
from tests.provisioner.harness import Harness, Store

pytestmark = pytest.mark.cluster
DOMAIN = "shop.example.org"
URL = f"https://{DOMAIN}"


@dataclasses.dataclass(frozen=True)
class Stalled:
    """A gate that never returns: the worker is stopped while it waits."""

    reached: asyncio.Event

    async def check(
        self, spec: StoreSpec, workloads: Sequence[Manifest], setup: Sequence[Manifest],
        deadline: float,
    ) -> None:  # fmt: skip
        self.reached.set()
        await asyncio.Event().wait()


def records_of(harness: Harness) -> StoreRecords:
    settings = harness.settings()
    return StoreRecords(harness.js, harness.stream, cluster_of(settings), settings.plans,
                        ENGINES)  # fmt: skip


@asynccontextmanager
async def moving(
    harness: Harness, kube_api: ApiClient,
    gate: Callable[[Suspender], Gate] = ReadinessGate, grace: float = 20.0,
) -> AsyncIterator[None]:  # fmt: skip
    """The primary domains consumer's pool, in this process, until the block ends."""
    settings = harness.settings()
    kube = StoreKube(kube_api)
    renderer = Renderer(str(harness.helm), settings.charts_dir, settings.engine_values,
                        await kube.server_version(), 60)  # fmt: skip
    records = records_of(harness)
    suspender = Suspender(kube, renderer, records.cluster, None, 60)
    handler = PrimaryDomainHandler(records, AddressMover(suspender, gate(suspender)),
                                   Publisher(harness.js, harness.stream), 5)  # fmt: skip
    fast = dataclasses.replace(PRIMARY_DOMAINS, ack_wait=timedelta(seconds=5))
    await ensure_consumer(harness.js, harness.stream, fast)
    pool = WorkerPool(harness.js, harness.stream, PRIMARY_DOMAINS.durable, handler, grace=grace)
    task = asyncio.create_task(pool.run())
    try:
        yield
    finally:
        pool.stop()
        await task


async def ask(harness: Harness, store: Store, domain: str | None, tls: bool = True) -> str:
    """Publish `domain.primary` as the gateway would (None: back to the platform host)."""
    operation_id = str(uuid.uuid4())
    data = {"operation_id": operation_id, "domain_id": str(uuid.uuid4()) if domain else None,
            "domain": domain, "tls": tls, "reason": "owner", "requested_by": "user-1"}  # fmt: skip
    event = new_event("domain.primary", store.id, data, actor="user-1", correlation_id="c")
    await publish_event(harness.js, event, stream=harness.stream)
    return operation_id


def url_events(harness: Harness, store: Store, operation_id: str | None = None) -> list[Envelope]:
    return [
        e for e in harness.events.by_store[store.id]
        if e.type in ("url.changed", "url.failed")  # type: ignore[attr-defined]
        and operation_id in (None, e.data.operation_id)  # type: ignore[attr-defined]
    ]  # fmt: skip


async def outcome(harness: Harness, store: Store, operation_id: str) -> Envelope:
    await harness.events.until(
        lambda: bool(url_events(harness, store, operation_id)), 180, f"change {operation_id}"
    )
    return url_events(harness, store, operation_id)[0]


def env_of(containers: Sequence[Any], name: str) -> dict[str, str]:
    container = next(c for c in containers if c.name == name)
    return {e.name: e.value for e in container.env or [] if e.value is not None}


async def web_env(kube_api: ApiClient, namespace: str, name: str = "wordpress") -> dict[str, str]:
    deployment = await AppsV1Api(kube_api).read_namespaced_deployment(name, namespace)
    return env_of(deployment.spec.template.spec.containers, name)


async def setup_urls(kube_api: ApiClient, namespace: str) -> dict[str, str]:
    """Each setup Job's STORE_URL, by Job name."""
    jobs = (await BatchV1Api(kube_api).list_namespaced_job(namespace)).items
    found = {}
    for job in jobs:
        [container] = job.spec.template.spec.containers
        found[job.metadata.name] = env_of([container], container.name)["STORE_URL"]
    return found


async def own_hosts(kube_api: ApiClient, namespace: str) -> list[str]:
    ingresses = (await NetworkingV1Api(kube_api).list_namespaced_ingress(namespace)).items
    return sorted(rule.host for i in ingresses for rule in i.spec.rules)


async def address_of(kube_api: ApiClient, namespace: str) -> str:
    found = await CoreV1Api(kube_api).read_namespace(namespace)
    return str(found.metadata.annotations[URL_ANNOTATION])


async def a_ready_store(harness: Harness, engine: str = "woocommerce") -> Store:
    async with harness.running(workers=2):
        store = await harness.request(engine=engine)
        assert (await harness.events.outcome(store.id)).type == "ready"
    return store


async def test_a_store_moves_to_its_primary_domain_and_back_to_its_host(
    harness: Harness, kube_api: ApiClient
) -> None:
    store = await a_ready_store(harness)
    host_url = harness.events.of_type(store.id, "ready")[0].data.url  # type: ignore[attr-defined]
    replaced = await ask(harness, store, "older.example.org")
    operation_id = await ask(harness, store, DOMAIN)

    async with moving(harness, kube_api):
        ended = await outcome(harness, store, operation_id)

        assert ended.type == "url.changed", ended.data
        assert (ended.data.url, ended.data.domain) == (URL, DOMAIN)  # type: ignore[attr-defined]
        assert url_events(harness, store, replaced) == []  # a later one replaced it
        assert (await web_env(kube_api, store.namespace))["STORE_URL"] == URL
        jobs = await setup_urls(kube_api, store.namespace)
        assert jobs[f"url-1-{operation_id[:8]}-wordpress-setup"] == URL
        assert jobs["wordpress-setup"] == host_url  # the store's first setup, as it was
        cron = await BatchV1Api(kube_api).read_namespaced_cron_job("wordpress-cron",
                                                                   store.namespace)  # fmt: skip
        cron_env = env_of(cron.spec.job_template.spec.template.spec.containers, "wp-cli")
        assert cron_env["STORE_URL"] == URL
        assert await own_hosts(kube_api, store.namespace) == [f"{store.slug}.stores.localhost"]
        assert await address_of(kube_api, store.namespace) == URL  # the credentials' URL
        assert (await records_of(harness).spec(store.id)).url == URL

        back = await ask(harness, store, None)
        ended = await outcome(harness, store, back)

    assert ended.type == "url.changed", ended.data
    assert (ended.data.url, ended.data.domain) == (host_url, None)  # type: ignore[attr-defined]
    assert (await web_env(kube_api, store.namespace))["STORE_URL"] == host_url
    assert (await setup_urls(kube_api, store.namespace))[f"url-1-{back[:8]}-wordpress-setup"] == (
        host_url
    )
    assert await address_of(kube_api, store.namespace) == host_url


async def test_a_medusa_store_takes_its_primary_domain_as_url_and_in_its_cors_lists(
    harness: Harness, kube_api: ApiClient
) -> None:
    store = await a_ready_store(harness, "medusa")
    host_url = harness.events.of_type(store.id, "ready")[0].data.url  # type: ignore[attr-defined]

    async with moving(harness, kube_api):
        ended = await outcome(harness, store, await ask(harness, store, DOMAIN))

    assert ended.type == "url.changed", ended.data
    env = await web_env(kube_api, store.namespace, "medusa")
    assert env["STORE_URL"] == URL
    for cors in ("STORE_CORS", "AUTH_CORS", "ADMIN_CORS"):
        assert env[cors].split(",") == [URL, host_url], cors
    assert await own_hosts(kube_api, store.namespace) == [f"{store.slug}.stores.localhost"]


async def test_a_change_redelivered_after_the_worker_stopped_midway_ends_at_the_address_once(
    harness: Harness, kube_api: ApiClient
) -> None:
    store = await a_ready_store(harness)
    reached = asyncio.Event()
    async with moving(harness, kube_api, lambda _: Stalled(reached), grace=0.1):
        operation_id = await ask(harness, store, DOMAIN, tls=False)
        await asyncio.wait_for(reached.wait(), 120)
    # Stopped between the apply and the setup: the web Deployment is at the address.
    assert url_events(harness, store) == []
    assert (await web_env(kube_api, store.namespace))["STORE_URL"] == f"http://{DOMAIN}"

    async with moving(harness, kube_api):
        ended = await outcome(harness, store, operation_id)
        await asyncio.sleep(1)  # nothing more comes

    assert ended.type == "url.changed", ended.data
    assert ended.data.url == f"http://{DOMAIN}"  # type: ignore[attr-defined]
    assert len(url_events(harness, store)) == 1
    runs = [n for n in await setup_urls(kube_api, store.namespace) if n.startswith("url-")]
    assert runs == [f"url-2-{operation_id[:8]}-wordpress-setup"]


async def test_a_suspended_store_is_refused_and_a_retry_keeps_its_primary_domain(
    harness: Harness, kube_api: ApiClient
) -> None:
    store = await a_ready_store(harness)
    async with moving(harness, kube_api):
        moved = await outcome(harness, store, await ask(harness, store, DOMAIN))
        assert moved.type == "url.changed", moved.data
        suspension = {"operation_id": str(uuid.uuid4())}
        for step, extra in (("started", {}), ("completed", {"seconds": 1.0})):
            event = new_event(f"suspend.{step}", store.id, {**suspension, **extra},
                              actor="provisioner", correlation_id="c")  # fmt: skip
            await publish_event(harness.js, event, stream=harness.stream)
        refused = await outcome(harness, store, await ask(harness, store, None))

    assert refused.type == "url.failed"
    assert refused.data.code == "store_not_ready"  # type: ignore[attr-defined]
    assert (await web_env(kube_api, store.namespace))["STORE_URL"] == URL

    # A retry (the store failed meanwhile, say) provisions it at the address last asked
    # for; the setup Job it made first is left as it was, not refused as changed.
    await ask(harness, store, DOMAIN)
    data = {**store.request.data.model_dump(), "attempt": 2}  # type: ignore[attr-defined]
    retry = new_event("requested", store.id, data, actor="user-1", correlation_id="retry")
    async with harness.running(workers=2):
        await publish_event(harness.js, retry, stream=harness.stream)
        await harness.events.until(
            lambda: (
                len(harness.events.of_type(store.id, "ready")) == 2
                or bool(harness.events.of_type(store.id, "failed"))
            ),
            180,
            "the retry's outcome",
        )
    assert harness.events.of_type(store.id, "failed") == []
    assert harness.events.of_type(store.id, "ready")[-1].data.url == URL  # type: ignore[attr-defined]
    assert (await web_env(kube_api, store.namespace))["STORE_URL"] == URL
