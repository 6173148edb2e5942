"""Engine upgrades on the real control plane (simulated nodes): a store upgraded to an
allowed version runs that version's workloads and the provisioner's later renders read it;
a version whose workloads never come up is rolled back, the previous version's workloads
back and the pre-upgrade backup's data put back; a version not allowed from the store's
is refused and moves nothing, and so is one whose pre-upgrade backup cannot be taken
(that backup ended failed); a request redelivered after the worker stopped mid-way
settles the store on one version.

The upgrades consumer's handler runs in the test, over the test's stream and the real API
server; its data side is `Kept`, which records what it was asked to keep and put back:
backup and restore Jobs write nothing on simulated nodes (tests/real covers them)."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from kubernetes_asyncio.client import ApiClient, AppsV1Api, BatchV1Api

from services.provisioner.app import cluster_of
from services.provisioner.engines import ENGINES
from services.provisioner.kubeapi import StoreKube
from services.provisioner.publisher import Publisher
from services.provisioner.render import Renderer
from services.provisioner.spec import Manifest, StoreSpec
from services.provisioner.store_records import StoreRecords
from services.provisioner.suspensions import Suspender
from services.provisioner.upgrade_runs import Gate, ReadinessGate, Upgrader
from services.provisioner.upgrades import UpgradeHandler, pre_upgrade_backup_id
from shared.engine_versions import load_versions
from shared.events import Envelope, new_event
from shared.jetstream import ensure_consumer, publish_event
from shared.objectstore import ObjectStoreError
from shared.subjects import UPGRADES
from shared.worker import WorkerPool
from tests.provisioner.harness import Harness, Store

pytestmark = pytest.mark.cluster
CHARTS = Path(__file__).resolve().parents[2] / "charts" / "engines"
OLD, NEW, BROKEN, LATER = "6.8.3-wc10.2.2", "6.8.3-wc10.3.0", "6.8.3-wc10.3.1", "6.8.3-wc11.0.0"
NEW_IMAGE = "docker.io/library/wordpress:6.8.3-php8.4-apache"
# BROKEN asks for more memory than the store's LimitRange allows a container: its web
# pods are never admitted, so they never become ready.
VERSIONS = f"""default: "{OLD}"
versions:
  "{OLD}": {{values: {{}}}}
  "{NEW}":
    values: {{woocommerce: {{version: "10.3.0"}}, images: {{wordpress: "{NEW_IMAGE}"}}}}
    upgrades_from: ["{OLD}"]
  "{BROKEN}":
    values:
      woocommerce: {{version: "10.3.1"}}
      wordpress: {{resources: {{limits: {{memory: 64Gi}}}}}}
    upgrades_from: ["{OLD}"]
  "{LATER}":
    values: {{woocommerce: {{version: "11.0.0"}}}}
    upgrades_from: ["{NEW}"]
"""


@dataclass
class Kept:
    """The data side of an upgrade, recorded: which backups were taken, and which were
    put back on which version."""

    taken: list[str] = field(default_factory=list)
    restored: list[tuple[str, str | None]] = field(default_factory=list)
    abandoned: list[tuple[str, str]] = field(default_factory=list)
    refusal: Exception | None = None  # what taking a backup raises, if anything

    async def keep(
        self, spec: StoreSpec, cause: Envelope, backup_id: str, requested_by: str, attempt: int
    ) -> None:
        if self.refusal is not None:
            raise self.refusal
        self.taken.append(backup_id)

    async def abandon(self, cause: Envelope, backup_id: str, code: str, reason: str) -> None:
        self.abandoned.append((backup_id, code))

    async def put_back(
        self, spec: StoreSpec, backup_id: str, operation_id: str, attempt: int
    ) -> None:
        self.restored.append((backup_id, spec.engine_version))


@dataclass(frozen=True)
class Stalled:
    """A gate that never returns: the worker is stopped while it waits."""

    reached: asyncio.Event

    async def check(
        self, spec: StoreSpec, workloads: Sequence[Manifest], setup: Sequence[Manifest],
        deadline: float,
    ) -> None:  # fmt: skip
        self.reached.set()
        await asyncio.Event().wait()


@pytest.fixture
def charts(tmp_path: Path) -> Path:
    charts = tmp_path / "charts"
    shutil.copytree(CHARTS, charts)
    (charts / "woocommerce" / "versions.yaml").write_text(VERSIONS)
    return charts


def records_of(harness: Harness, charts: Path) -> StoreRecords:
    settings = harness.settings(charts_dir=str(charts))
    versions = {"woocommerce": load_versions(charts, "woocommerce")}
    return StoreRecords(harness.js, harness.stream, cluster_of(settings), settings.plans,
                        ENGINES, versions)  # fmt: skip


@asynccontextmanager
async def upgrading(
    harness: Harness, kube_api: ApiClient, charts: Path, kept: Kept,
    gate: Callable[[Suspender], Gate] = ReadinessGate, grace: float = 20.0,
) -> AsyncIterator[None]:  # fmt: skip
    """The upgrades consumer's pool, in this process, until the block ends."""
    settings = harness.settings(charts_dir=str(charts))
    kube = StoreKube(kube_api)
    renderer = Renderer(str(harness.helm), charts, settings.engine_values,
                        await kube.server_version(), 60)  # fmt: skip
    records = records_of(harness, charts)
    suspender = Suspender(kube, renderer, records.cluster, None, 30)
    upgrader = Upgrader(suspender, gate(suspender), 30)
    publish = Publisher(harness.js, harness.stream)
    handler = UpgradeHandler(records, upgrader, kept, records.versions, publish, 5)
    fast = dataclasses.replace(UPGRADES, ack_wait=timedelta(seconds=5))
    await ensure_consumer(harness.js, harness.stream, fast)
    pool = WorkerPool(harness.js, harness.stream, UPGRADES.durable, handler, grace=grace)
    task = asyncio.create_task(pool.run())
    try:
        yield
    finally:
        pool.stop()
        await task


async def ask(harness: Harness, store: Store, version: str, previous: str = OLD) -> str:
    operation_id = str(uuid.uuid4())
    data = {"operation_id": operation_id, "version": version, "previous_version": previous,
            "requested_by": "user-1"}  # fmt: skip
    event = new_event("upgrade.requested", store.id, data, actor="user-1", correlation_id="c")
    await publish_event(harness.js, event, stream=harness.stream)
    return operation_id


async def outcome(harness: Harness, store: Store, operation_id: str) -> Envelope:
    ends = ("upgrade.completed", "upgrade.rolled_back", "upgrade.failed")

    def of_it() -> list[Envelope]:
        return [
            e for e in harness.events.by_store[store.id]
            if e.type in ends and e.data.operation_id == operation_id  # type: ignore[attr-defined]
        ]  # fmt: skip

    await harness.events.until(lambda: bool(of_it()), 180, f"upgrade {operation_id}")
    return of_it()[0]


async def web(kube_api: ApiClient, namespace: str) -> tuple[str, str]:
    """The web Deployment's image and memory limit."""
    deployment = await AppsV1Api(kube_api).read_namespaced_deployment("wordpress", namespace)
    container = next(c for c in deployment.spec.template.spec.containers if c.name == "wordpress")
    return container.image, container.resources.limits["memory"]


async def cron_images(kube_api: ApiClient, namespace: str) -> set[str]:
    """The images of the WooCommerce CronJob's pods."""
    cron = await BatchV1Api(kube_api).read_namespaced_cron_job("wordpress-cron", namespace)
    pod = cron.spec.job_template.spec.template.spec
    return {c.image for c in [*(pod.init_containers or []), *pod.containers]}


async def setup_versions(kube_api: ApiClient, namespace: str) -> dict[str, str]:
    """Each setup Job's WOOCOMMERCE_VERSION, by Job name."""
    jobs = (await BatchV1Api(kube_api).list_namespaced_job(namespace)).items
    return {
        j.metadata.name: e.value
        for j in jobs for c in j.spec.template.spec.containers for e in c.env or []
        if e.name == "WOOCOMMERCE_VERSION"
    }  # fmt: skip


async def a_ready_store(harness: Harness, charts: Path) -> Store:
    async with harness.running(workers=2, charts_dir=str(charts)):
        store = await harness.request()
        assert (await harness.events.outcome(store.id)).type == "ready"
    return store


async def test_a_store_upgraded_to_an_allowed_version_runs_it_and_stays_on_it(
    harness: Harness, kube_api: ApiClient, charts: Path
) -> None:
    store = await a_ready_store(harness, charts)
    kept = Kept()
    async with upgrading(harness, kube_api, charts, kept):
        operation_id = await ask(harness, store, NEW)
        ended = await outcome(harness, store, operation_id)

    assert ended.type == "upgrade.completed", ended.data
    assert (ended.data.version, ended.data.previous_version) == (NEW, OLD)  # type: ignore[attr-defined]
    started = harness.events.of_type(store.id, "upgrade.started")
    backup_id = pre_upgrade_backup_id(operation_id)
    assert [e.data.pre_upgrade_backup_id for e in started] == [backup_id]  # type: ignore[attr-defined]
    assert kept.taken == [backup_id]
    assert kept.restored == []
    assert (await web(kube_api, store.namespace))[0] == NEW_IMAGE
    assert NEW_IMAGE in await cron_images(kube_api, store.namespace)
    assert "10.3.0" in (await setup_versions(kube_api, store.namespace)).values()
    # What the provisioner reads of the store from now on is on the new version.
    spec = await records_of(harness, charts).spec(store.id)
    assert spec.engine_version == NEW
    assert spec.version_values["images"]["wordpress"] == NEW_IMAGE


async def test_a_version_that_fails_its_gate_is_rolled_back_with_the_data_put_back(
    harness: Harness, kube_api: ApiClient, charts: Path
) -> None:
    store = await a_ready_store(harness, charts)
    before = await web(kube_api, store.namespace)
    kept = Kept()
    async with upgrading(harness, kube_api, charts, kept):
        operation_id = await ask(harness, store, BROKEN)
        ended = await outcome(harness, store, operation_id)

    assert ended.type == "upgrade.rolled_back", ended.data
    assert ended.data.code == "gate_failed"  # type: ignore[attr-defined]
    assert ended.data.previous_version == OLD  # type: ignore[attr-defined]
    assert await web(kube_api, store.namespace) == before
    backup_id = pre_upgrade_backup_id(operation_id)
    assert kept.taken == [backup_id]
    assert kept.restored == [(backup_id, OLD)]
    assert (await records_of(harness, charts).spec(store.id)).engine_version == OLD


@pytest.mark.parametrize(
    ("version", "refusal", "code"),
    [
        (LATER, None, "upgrade_not_allowed"),  # not offered from the store's version
        (NEW, ObjectStoreError("AccessDenied"), "pre_upgrade_backup_failed"),
    ],
)
async def test_a_refused_upgrade_moves_nothing_and_leaves_no_backup_running(
    harness: Harness, kube_api: ApiClient, charts: Path, version: str,
    refusal: Exception | None, code: str,
) -> None:  # fmt: skip
    store = await a_ready_store(harness, charts)
    before = await web(kube_api, store.namespace)
    kept = Kept(refusal=refusal)
    async with upgrading(harness, kube_api, charts, kept):
        operation_id = await ask(harness, store, version)
        ended = await outcome(harness, store, operation_id)

    assert ended.type == "upgrade.failed"
    assert ended.data.code == code  # type: ignore[attr-defined]
    assert "nothing was changed" in ended.data.reason  # type: ignore[attr-defined]
    assert harness.events.of_type(store.id, "upgrade.started") == []
    assert kept.taken == []
    # A backup begun and given up ends failed, not `running` until the reaper's
    # stuck-backup deadline; a refusal before any backup abandons none.
    begun = [(pre_upgrade_backup_id(operation_id), "storage_refused")] if refusal else []
    assert kept.abandoned == begun
    assert await web(kube_api, store.namespace) == before
    assert (await records_of(harness, charts).spec(store.id)).engine_version == OLD


async def test_a_request_redelivered_after_the_worker_stopped_midway_ends_on_one_version(
    harness: Harness, kube_api: ApiClient, charts: Path
) -> None:
    store = await a_ready_store(harness, charts)
    kept, reached = Kept(), asyncio.Event()
    async with upgrading(harness, kube_api, charts, kept, lambda _: Stalled(reached), grace=0.1):
        operation_id = await ask(harness, store, NEW)
        await asyncio.wait_for(reached.wait(), 120)
    # Stopped between versions: the workloads are applied at NEW, not yet proven healthy.
    assert [e.type for e in harness.events.by_store[store.id] if e.type.startswith("upgrade.")] == [  # type: ignore[attr-defined]
        "upgrade.requested", "upgrade.started",
    ]  # fmt: skip

    async with upgrading(harness, kube_api, charts, kept):
        ended = await outcome(harness, store, operation_id)

    assert ended.type == "upgrade.completed", ended.data
    assert len(harness.events.of_type(store.id, "upgrade.started")) == 1
    assert kept.taken == [pre_upgrade_backup_id(operation_id)]
    assert (await web(kube_api, store.namespace))[0] == NEW_IMAGE
    assert (await records_of(harness, charts).spec(store.id)).engine_version == NEW
