"""The provisioner process: opens NATS and the Kubernetes client, checks helm and the
engine charts, starts the status watch, the delete signals, the credentials responder and
the consumer-pending gauge, then runs the worker pool on the `provisioner` durable
consumer until told to stop. Everything long-lived is closed by the service's exit stack
in reverse order; the pool is stopped first so in-flight stores finish or are handed back.
"""

from __future__ import annotations

import asyncio
import os
import socket
from urllib.parse import urlsplit

import nats.errors
import structlog
from nats.js import JetStreamContext

from services.provisioner import metrics
from services.provisioner.backup_jobs import JobSettings
from services.provisioner.backup_runs import BackupRunner
from services.provisioner.backups import BackupHandler
from services.provisioner.credentials import CredentialsResponder
from services.provisioner.data_swap import DataSwap
from services.provisioner.deletes import DeleteSignals
from services.provisioner.engines import ENGINES
from services.provisioner.handler import StoreHandler
from services.provisioner.kubeapi import StoreKube
from services.provisioner.plan_changes import PlanChanger, PlanHandler
from services.provisioner.primary_domains import AddressMover, PrimaryDomainHandler
from services.provisioner.publisher import Publisher
from services.provisioner.render import Renderer, helm_version
from services.provisioner.restores import RestoreHandler
from services.provisioner.settings import ProvisionerSettings
from services.provisioner.spec import BackupStorage, Cluster, MailRelay
from services.provisioner.store_records import StoreRecords
from services.provisioner.suspensions import Kind, PausedPage, Suspender, SuspensionHandler
from services.provisioner.upgrade_runs import (
    BackupSafekeeping,
    ReadinessGate,
    Safekeeping,
    Upgrader,
)
from services.provisioner.upgrades import UpgradeHandler
from services.provisioner.watch import StatusWatch
from services.provisioner.waves import Waves
from shared.engine_versions import EngineVersions, VersionsError, load_versions
from shared.objectstore import open_object_store
from shared.resources import open_kube, open_nats
from shared.service import Runtime
from shared.settings import ObjectStoreSettings, SettingsError, object_store_settings
from shared.subjects import (
    BACKUPS,
    PLANS,
    PRIMARY_DOMAINS,
    PROVISIONER,
    RESTORES,
    RESUMES,
    SUSPENDS,
    UPGRADES,
    ConsumerSpec,
)
from shared.tasks import CANCEL_DEADLINE, background, run_until_stopped
from shared.worker import WorkerPool

log = structlog.get_logger(__name__)


def backup_storage(
    settings: ProvisionerSettings, storage: ObjectStoreSettings | None
) -> BackupStorage | None:
    """How backup Jobs reach the object store: its URL names a Service of the platform's
    namespace when it is the bundled one."""
    if storage is None:
        return None
    url = urlsplit(storage.backup_s3_endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    host = url.hostname or ""
    bundled = host.split(".")[1:3] == [settings.platform_namespace, "svc"]
    return BackupStorage(port, bundled, tuple(settings.backup_egress_cidrs))


def cluster_of(
    settings: ProvisionerSettings, storage: ObjectStoreSettings | None = None
) -> Cluster:
    mail = None
    if settings.mail_relay_host:
        mail = MailRelay(
            settings.mail_relay_host,
            settings.mail_relay_port,
            settings.mail_from,
            settings.mail_relay_key.get_secret_value().encode(),
        )
    return Cluster(
        base_domain=settings.base_domain,
        ingress_class=settings.ingress_class,
        ingress_namespace=settings.ingress_namespace,
        platform_namespace=settings.platform_namespace,
        dns_namespace=settings.dns_namespace,
        storage_class=settings.storage_class,
        tls_issuer=settings.tls_issuer,
        egress_blocked_cidrs=tuple(settings.egress_blocked_cidrs),
        values_profile=settings.engine_values,
        country=settings.store_country,
        currency=settings.store_currency,
        mail=mail,
        public_port=settings.public_port,
        backup_storage=backup_storage(settings, storage),
    )


async def _check_helm(settings: ProvisionerSettings) -> None:
    try:
        version = await helm_version(settings.helm_binary)
    except OSError as exc:
        raise SettingsError(f"invalid setting STOREFLEET_HELM_BINARY: {exc}") from None
    missing = [
        e.chart
        for e in ENGINES.values()
        if not (settings.charts_dir / e.chart / "Chart.yaml").is_file()
    ]
    if missing:
        log.warning(
            "engine charts missing; their stores will fail",
            charts=missing,
            charts_dir=str(settings.charts_dir),
        )
    log.info("helm found", version=version)


def _load_versions(settings: ProvisionerSettings) -> dict[str, EngineVersions]:
    """Each engine's version registry, from its chart's versions.yaml. An invalid one
    stops the start-up; a missing chart was warned about, and its stores fail anyway."""
    versions = {}
    for engine in ENGINES.values():
        if not (settings.charts_dir / engine.chart / "Chart.yaml").is_file():
            continue
        try:
            versions[engine.name] = load_versions(settings.charts_dir, engine.chart)
        except VersionsError as exc:
            raise SettingsError(f"invalid engine versions: {exc}") from None
    log.info("engine versions", defaults={n: v.default for n, v in versions.items()})
    return versions


async def _watch_pending(js: JetStreamContext, stream: str, every: float) -> None:
    """Keep the consumer's pending counts in a gauge, for autoscaling and alerts."""
    while True:
        try:
            info = await js.consumer_info(stream, PROVISIONER.durable)
            metrics.PENDING.labels(state="pending").set(info.num_pending or 0)
            metrics.PENDING.labels(state="ack_pending").set(info.num_ack_pending or 0)
        except (nats.errors.Error, TimeoutError) as exc:
            log.debug("consumer info unavailable", error=type(exc).__name__)
        await asyncio.sleep(every)


def engine_versions(settings: ProvisionerSettings) -> dict[str, str]:
    """Each engine chart's appVersion, as backups record it."""
    versions = {}
    for engine in ENGINES.values():
        chart = settings.charts_dir / engine.chart / "Chart.yaml"
        found = chart.read_text().split("appVersion:", 1) if chart.is_file() else []
        versions[engine.name] = found[1].split()[0].strip("\"'") if len(found) == 2 else ""
    return versions


async def _backup_pools(
    settings: ProvisionerSettings,
    storage: ObjectStoreSettings,
    runtime: Runtime,
    js: JetStreamContext,
    handler: StoreHandler,
) -> dict[str, WorkerPool]:
    """The backups, restores and upgrades consumers' pools, over the object store (an
    upgrade takes a backup first)."""
    store = await runtime.stack.enter_async_context(open_object_store(storage))
    await store.wait_for_bucket(storage.backup_s3_startup_wait_seconds)
    runner = BackupRunner(
        handler.waves.kube,
        store,
        JobSettings(settings.backup_image, settings.backup_job_deadline_seconds),
        part_size=settings.backup_part_mib * 1024 * 1024,
        max_parts=settings.backup_max_parts,
        engine_versions=engine_versions(settings),
    )
    metrics.start_backup_series(sorted(ENGINES))
    publish = Publisher(js, settings.stream_name)
    records = StoreRecords(js, settings.stream_name, handler.cluster, settings.plans, ENGINES,
                           handler.versions)  # fmt: skip
    backups = BackupHandler(records, runner, publish, handler.worker, BACKUPS.max_deliver,
                            verify=settings.backup_verify)  # fmt: skip
    swap = DataSwap(handler.waves.kube, handler.renderer, handler.cluster, runner,
                    settings.backup_job_deadline_seconds)  # fmt: skip
    handler.swap = swap
    restores = RestoreHandler(backups, swap, RESTORES.max_deliver)
    grace = settings.shutdown_grace_seconds
    upgrades = upgrade_handler(settings, handler, records, BackupSafekeeping(backups, swap))
    return {
        "backups": WorkerPool(js, settings.stream_name, BACKUPS.durable, backups,
                              concurrency=settings.backup_workers, grace=grace),
        "restores": WorkerPool(js, settings.stream_name, RESTORES.durable, restores,
                               concurrency=settings.restore_workers, grace=grace),
        "upgrades": WorkerPool(js, settings.stream_name, UPGRADES.durable, upgrades,
                               concurrency=settings.upgrade_workers, grace=grace),
    }  # fmt: skip


def upgrade_handler(
    settings: ProvisionerSettings,
    handler: StoreHandler,
    records: StoreRecords,
    safekeeping: Safekeeping,
) -> UpgradeHandler:
    """The upgrades consumer's handler, its gate the readiness rules (`ReadinessGate`)."""
    suspender = Suspender(handler.waves.kube, handler.renderer, handler.cluster, None,
                          settings.upgrade_gate_seconds)  # fmt: skip
    upgrader = Upgrader(suspender, ReadinessGate(suspender), settings.upgrade_gate_seconds)
    publish = Publisher(records.js, settings.stream_name)
    return UpgradeHandler(records, upgrader, safekeeping, handler.versions, publish,
                          UPGRADES.max_deliver)  # fmt: skip


def _suspension_pools(
    settings: ProvisionerSettings, js: JetStreamContext, handler: StoreHandler
) -> dict[str, WorkerPool]:
    """The suspends, resumes, plans and primary domains consumers' pools."""
    paused = (
        PausedPage(settings.paused_host, settings.paused_port) if settings.paused_host else None
    )
    suspender = Suspender(handler.waves.kube, handler.renderer, handler.cluster, paused,
                          settings.suspend_deadline_seconds)  # fmt: skip
    records = StoreRecords(js, settings.stream_name, handler.cluster, settings.plans, ENGINES,
                           handler.versions)  # fmt: skip
    publish = Publisher(js, settings.stream_name)
    pools = {}
    kinds: tuple[tuple[Kind, ConsumerSpec], ...] = (("suspend", SUSPENDS), ("resume", RESUMES))
    for kind, spec in kinds:
        operate = SuspensionHandler(kind, records, suspender, publish, spec.max_deliver)
        pools[spec.durable] = WorkerPool(js, settings.stream_name, spec.durable, operate,
                                         concurrency=settings.suspend_workers,
                                         grace=settings.shutdown_grace_seconds)  # fmt: skip
    plans = PlanHandler(records, PlanChanger(suspender), settings.plans, publish, PLANS.max_deliver)
    mover = AddressMover(suspender, ReadinessGate(suspender))
    addresses = PrimaryDomainHandler(records, mover, publish, PRIMARY_DOMAINS.max_deliver)
    changes: dict[str, PlanHandler | PrimaryDomainHandler] = {
        PLANS.durable: plans, PRIMARY_DOMAINS.durable: addresses,
    }  # fmt: skip
    for durable, change in changes.items():
        pools[durable] = WorkerPool(js, settings.stream_name, durable, change,
                                    concurrency=settings.suspend_workers,
                                    grace=settings.shutdown_grace_seconds)  # fmt: skip
    return pools


async def main(settings: ProvisionerSettings, runtime: Runtime) -> None:
    storage = object_store_settings()
    consumers: tuple[ConsumerSpec, ...] = (PROVISIONER, SUSPENDS, RESUMES, PLANS, PRIMARY_DOMAINS)
    consumers += (BACKUPS, RESTORES, UPGRADES) if storage else ()
    nc, js = await open_nats(runtime, settings, consumers=consumers)
    kube = StoreKube(await open_kube(runtime, settings), settings.kube_request_timeout_seconds)
    kube_version = await kube.server_version()
    await _check_helm(settings)
    versions = _load_versions(settings)

    watch = StatusWatch(kube)
    await runtime.stack.enter_async_context(background(watch.run(), "status watch"))
    deletes = DeleteSignals(nc, js, settings.stream_name)
    await deletes.start()
    runtime.stack.push_async_callback(deletes.stop)
    responder = CredentialsResponder(nc, kube)
    await responder.start()
    runtime.stack.push_async_callback(responder.stop)
    pending = _watch_pending(js, settings.stream_name, settings.pending_poll_seconds)
    await runtime.stack.enter_async_context(background(pending, "pending gauge"))

    async def watching() -> bool:
        return watch.healthy

    runtime.health.add("status-watch", watching)
    renderer = Renderer(
        settings.helm_binary,
        settings.charts_dir,
        settings.engine_values,
        kube_version,
        settings.render_timeout_seconds,
        concurrency=max(2, (os.cpu_count() or 1) * 2),
    )
    handler = StoreHandler(
        js=js,
        stream=settings.stream_name,
        cluster=cluster_of(settings, storage),
        plans=settings.plans,
        engines=ENGINES,
        versions=versions,
        renderer=renderer,
        waves=Waves(kube, watch, deletes, attempts=settings.apply_attempts),
        worker=settings.worker_name or f"{socket.gethostname()}/{os.getpid()}",
        deadline=settings.ready_deadline_seconds,
        max_deliver=PROVISIONER.max_deliver,
    )
    pools = {
        "worker pool": WorkerPool(
            js,
            settings.stream_name,
            PROVISIONER.durable,
            handler,
            concurrency=settings.workers,
            grace=settings.shutdown_grace_seconds,
        )
    }
    pools |= _suspension_pools(settings, js, handler)
    if storage is not None:
        pools |= await _backup_pools(settings, storage, runtime, js, handler)
    else:
        log.info("backups off: no object store configured (STOREFLEET_BACKUP_S3_ENDPOINT)")

    def stop() -> None:
        for pool in pools.values():
            pool.stop()

    await run_until_stopped(
        runtime.stopping,
        {name: pool.run() for name, pool in pools.items()},
        stop,
        # In-flight stores finish within the grace period or are handed back.
        grace=settings.shutdown_grace_seconds + CANCEL_DEADLINE,
    )
