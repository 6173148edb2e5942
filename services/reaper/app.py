"""The reaper process: opens NATS, Postgres and the Kubernetes client, then runs the
deletion handler on the durable `reaper` consumer (`store.delete.*`) and the sweeper
side by side until told to stop.

Called from `services.reaper.__main__` through `shared.service.run_service`.
"""

from __future__ import annotations

from datetime import timedelta

from nats.js import JetStreamContext

from services.reaper.deletion import DeletionHandler, DeletionTiming, Publish
from services.reaper.namespaces import Namespaces
from services.reaper.records import Records
from services.reaper.settings import ReaperSettings
from services.reaper.sweep_plan import SweepPolicy
from services.reaper.sweeper import Sweeper, SweeperLock
from shared.events import Envelope
from shared.jetstream import publish_event
from shared.resources import open_database, open_kube, open_nats
from shared.service import Runtime
from shared.subjects import REAPER
from shared.tasks import CANCEL_DEADLINE, run_until_stopped
from shared.worker import WorkerPool


def publisher(js: JetStreamContext, stream: str) -> Publish:
    async def publish(envelope: Envelope) -> object:
        return await publish_event(js, envelope, stream=stream)

    return publish


def policy(settings: ReaperSettings) -> SweepPolicy:
    return SweepPolicy(
        orphan_grace=timedelta(seconds=settings.orphan_grace_seconds),
        provisioning_deadline=timedelta(seconds=settings.provisioning_deadline_seconds),
        deletion_deadline=timedelta(seconds=settings.deletion_deadline_seconds),
        terminating_report_after=timedelta(seconds=settings.terminating_report_seconds),
    )


async def main(settings: ReaperSettings, runtime: Runtime) -> None:
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
    runtime.mark_started()

    def stop() -> None:
        runtime.stopping.set()  # the sweeper watches it
        workers.stop()

    await run_until_stopped(
        runtime.stopping,
        {"reaper deletions": workers.run(), "reaper sweeps": sweeper.run(runtime.stopping)},
        stop,
        # In-flight deletions finish within the grace period or are handed back.
        grace=settings.shutdown_grace_seconds + CANCEL_DEADLINE,
    )
