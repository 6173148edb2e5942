"""The auditor process: applies migrations, opens Postgres and NATS, then runs the batch
consumer (`services.auditor.consumer`) until told to stop; or, for `rebuild`, replays
the stream into empty tables and exits.

Called from `services.auditor.__main__` through `shared.service.run_service`.
"""

from __future__ import annotations

import structlog

from services.auditor.consumer import AuditConsumer
from services.auditor.rebuild import rebuild
from services.auditor.settings import AuditorSettings
from shared.resources import open_database, open_nats
from shared.service import Runtime
from shared.subjects import AUDITOR
from shared.tasks import CANCEL_DEADLINE, run_until_stopped

log = structlog.get_logger(__name__)


async def main(settings: AuditorSettings, runtime: Runtime) -> None:
    pool = await open_database(
        runtime, settings, max_size=settings.database_pool_size, run_migrations=True
    )
    nc, _ = await open_nats(runtime, settings)
    consumer = AuditConsumer(
        nc,
        pool,
        stream=settings.stream_name,
        durable=AUDITOR.durable,
        batch_size=settings.batch_size,
        fetch_timeout=settings.fetch_timeout_seconds,
        grace=settings.shutdown_grace_seconds,
        retry_delay=settings.store_retry_seconds,
        writers=settings.store_writers,
    )
    runtime.mark_started()
    await run_until_stopped(
        runtime.stopping,
        {"auditor consumer": consumer.run()},
        consumer.stop,
        # The consumer stores what it holds within the grace period, then hands back the rest.
        grace=settings.shutdown_grace_seconds + CANCEL_DEADLINE,
    )


async def rebuild_main(settings: AuditorSettings, runtime: Runtime, in_place: bool) -> None:
    pool = await open_database(
        runtime, settings, max_size=settings.database_pool_size, run_migrations=True
    )
    _, js = await open_nats(runtime, settings, consumers=())
    report = await rebuild(
        js, pool, settings.stream_name, in_place=in_place, batch_size=settings.batch_size
    )
    print(
        f"rebuild: replayed {report.messages} messages (stream seq {report.first_seq}.."
        f"{report.last_seq}), stored {report.stored} events, rejected {report.rejected}; "
        f"{report.rows_not_replayed} stores rows had no events in the stream and were kept"
    )
