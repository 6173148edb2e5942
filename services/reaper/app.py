"""The reaper process: opens NATS, Postgres and the Kubernetes client (and the object
storage when backups are enabled), then runs the deletion handler on the durable
`reaper` consumer (`store.delete.*`), the sweeper, the rollout driver, the domain
verifier and the backup keeper side by side until told to stop.

Called from `services.reaper.__main__` through `shared.service.run_service`.
"""

from __future__ import annotations

from datetime import timedelta

from asyncpg import Pool
from kubernetes_asyncio.client import ApiClient
from nats.js import JetStreamContext

from services.reaper.backup_plan import KeeperPolicy
from services.reaper.backup_records import BackupRecords
from services.reaper.backups import BackupKeeper
from services.reaper.cert_plan import CertLimits
from services.reaper.cert_records import CertRecords
from services.reaper.deletion import DeletionHandler, DeletionTiming, Publish
from services.reaper.dns_lookup import TxtLookup
from services.reaper.domain_certs import DomainKube
from services.reaper.domain_issuer import DomainIssuer, IssuerConfig
from services.reaper.domain_plan import DomainPolicy
from services.reaper.domain_records import DomainRecords
from services.reaper.domains import DOMAIN_LOCK_KEY, DomainVerifier
from services.reaper.namespaces import Namespaces
from services.reaper.records import Records
from services.reaper.rollout_records import RolloutRecords
from services.reaper.rollouts import ROLLOUT_LOCK_KEY, RolloutDriver
from services.reaper.settings import ReaperSettings
from services.reaper.sweep_plan import SweepPolicy
from services.reaper.sweeper import BACKUP_LOCK_KEY, Sweeper, SweeperLock
from shared.engine_versions import load_versions
from shared.events import Envelope
from shared.jetstream import publish_event
from shared.objectstore import open_object_store
from shared.resources import open_database, open_kube, open_nats
from shared.service import Runtime
from shared.settings import ObjectStoreSettings
from shared.subjects import REAPER
from shared.tasks import CANCEL_DEADLINE, run_until_stopped
from shared.worker import WorkerPool


def publisher(js: JetStreamContext, stream: str) -> Publish:
    async def publish(envelope: Envelope) -> object:
        return await publish_event(js, envelope, stream=stream, once=True)

    return publish


def policy(settings: ReaperSettings) -> SweepPolicy:
    return SweepPolicy(
        orphan_grace=timedelta(seconds=settings.orphan_grace_seconds),
        provisioning_deadline=timedelta(seconds=settings.provisioning_deadline_seconds),
        deletion_deadline=timedelta(seconds=settings.deletion_deadline_seconds),
        terminating_report_after=timedelta(seconds=settings.terminating_report_seconds),
        suspend_deadline=timedelta(seconds=settings.suspend_deadline_seconds),
        resume_deadline=timedelta(seconds=settings.resume_deadline_seconds),
        upgrade_deadline=timedelta(seconds=settings.upgrade_deadline_seconds),
    )


def keeper_policy(settings: ReaperSettings) -> KeeperPolicy:
    return KeeperPolicy(
        requests_per_pass=settings.backup_requests_per_pass,
        backup_deadline=timedelta(seconds=settings.backup_deadline_seconds),
        restore_deadline=timedelta(seconds=settings.restore_deadline_seconds),
    )


async def backup_keeper(
    settings: ReaperSettings,
    runtime: Runtime,
    storage: ObjectStoreSettings,
    records: BackupRecords,
    publish: Publish,
) -> BackupKeeper:
    store = await runtime.stack.enter_async_context(open_object_store(storage))
    return BackupKeeper(
        SweeperLock(settings.database_url.get_secret_value(), key=BACKUP_LOCK_KEY),
        records,
        store,
        publish,
        settings.plans,
        keeper_policy(settings),
        settings.backup_pass_seconds,
        timedelta(seconds=settings.backup_orphan_scan_seconds),
    )


def domain_issuer(settings: ReaperSettings, pool: Pool, api: ApiClient) -> DomainIssuer:
    limits = CertLimits(
        max_pending=settings.domain_cert_max_pending,
        orders_per_hour=settings.domain_cert_orders_per_hour,
        issue_timeout=timedelta(minutes=settings.domain_cert_timeout_minutes),
    )
    config = IssuerConfig(
        settings.domain_cert_issuer,
        settings.domain_cert_issuer_kind,
        settings.ingress_class,
        limits,
        settings.paused_port,
        settings.domain_checks_per_pass,
    )
    return DomainIssuer(
        CertRecords(pool), DomainKube(api, settings.kube_request_timeout_seconds), config
    )


def domain_verifier(
    settings: ReaperSettings, pool: Pool, publish: Publish, issuer: DomainIssuer | None = None
) -> DomainVerifier:
    policy = DomainPolicy(
        verify_ttl=timedelta(hours=settings.domain_verify_ttl_hours),
        recheck=timedelta(hours=settings.domain_recheck_hours),
    )
    return DomainVerifier(
        SweeperLock(settings.database_url.get_secret_value(), key=DOMAIN_LOCK_KEY),
        DomainRecords(pool),
        TxtLookup(settings.resolvers(), settings.dns_timeout_seconds),
        publish,
        policy,
        settings.domain_pass_seconds,
        settings.domain_checks_per_pass,
        issuer=issuer,
    )


async def main(
    settings: ReaperSettings, runtime: Runtime, storage: ObjectStoreSettings | None = None
) -> None:
    _, js = await open_nats(runtime, settings)
    pool = await open_database(runtime, settings)
    api = await open_kube(runtime, settings)
    namespaces = Namespaces(api, settings.kube_request_timeout_seconds)
    records = Records(pool, js, settings.stream_name)
    publish = publisher(js, settings.stream_name)
    timing = DeletionTiming(
        settings.deletion_wait_seconds,
        settings.deletion_poll_seconds,
        settings.deletion_retry_seconds,
    )
    workers = WorkerPool(
        js,
        settings.stream_name,
        REAPER.durable,
        DeletionHandler(namespaces, records, publish, timing),
        concurrency=settings.deletion_workers,
        grace=settings.shutdown_grace_seconds,
    )
    sweeper = Sweeper(
        SweeperLock(settings.database_url.get_secret_value()),
        namespaces,
        records,
        publish,
        policy(settings),
        settings.sweep_interval_seconds,
    )
    rollouts = RolloutDriver(
        SweeperLock(settings.database_url.get_secret_value(), key=ROLLOUT_LOCK_KEY),
        RolloutRecords(pool),
        publish,
        lambda engine: load_versions(settings.charts_dir, engine),
        settings.rollout_pass_seconds,
    )
    keeper = None
    if storage is not None:
        backup_records = BackupRecords(pool, js, settings.stream_name)
        keeper = await backup_keeper(settings, runtime, storage, backup_records, publish)
    tasks = {
        "reaper deletions": workers.run(),
        "reaper sweeps": sweeper.run(runtime.stopping),
        "reaper rollouts": rollouts.run(runtime.stopping),
        "reaper domains": domain_verifier(
            settings, pool, publish, domain_issuer(settings, pool, api)
        ).run(runtime.stopping),
    }
    if keeper is not None:
        tasks["reaper backups"] = keeper.run(runtime.stopping)
    runtime.mark_started()

    def stop() -> None:
        runtime.stopping.set()  # the sweeper watches it
        workers.stop()

    await run_until_stopped(
        runtime.stopping,
        tasks,
        stop,
        # In-flight deletions finish within the grace period or are handed back.
        grace=settings.shutdown_grace_seconds + CANCEL_DEADLINE,
    )
