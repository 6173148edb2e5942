"""The webhooks process: checks the schema is current, opens Postgres (as its own role,
`storefleet_webhooks`) and NATS (the `webhooks` durable consumer on the store stream),
then runs two things until told to stop: the intake, which queues store events, a batch
at a time, for the endpoints that want them (`intake`), and the dispatcher, which sends
what is due, signed, with retries (`senders`); the intake wakes the dispatcher after
each batch.

Called from `services.webhooks.__main__` through `shared.service.run_service`.
"""

from __future__ import annotations

from services.webhooks.intake import Intake
from services.webhooks.schedule import RetryPolicy
from services.webhooks.sender import Sender
from services.webhooks.senders import Dispatcher
from services.webhooks.settings import WebhooksSettings
from shared.backoff import Backoff
from shared.resources import open_database, open_nats
from shared.service import Runtime
from shared.subjects import WEBHOOKS
from shared.tasks import run_until_stopped


def policy_of(settings: WebhooksSettings) -> RetryPolicy:
    backoff = Backoff(
        settings.webhook_retry_base_seconds,
        settings.webhook_retry_factor,
        settings.retry_cap_seconds,
        jitter=0.1,
    )
    return RetryPolicy(backoff, settings.webhook_max_attempts)


async def main(settings: WebhooksSettings, runtime: Runtime) -> None:
    pool = await open_database(
        runtime, settings, max_size=settings.database_pool_size, run_migrations=True
    )
    _, js = await open_nats(runtime, settings, consumers=(WEBHOOKS,))
    sender = await runtime.stack.enter_async_context(
        Sender(settings.allowed(), settings.webhook_timeout_seconds)
    )
    dispatcher = Dispatcher(
        pool,
        sender,
        policy_of(settings),
        timeout=settings.webhook_timeout_seconds,
        senders=settings.webhook_senders,
        poll=settings.webhook_poll_seconds,
        grace=settings.shutdown_grace_seconds,
        retention_days=settings.webhook_retention_days,
        per_endpoint=settings.webhook_endpoint_concurrency,
        run=settings.webhook_store_run,
    )
    intake = Intake(
        js,
        pool,
        settings.stream_name,
        WEBHOOKS.durable,
        batch=settings.webhook_intake_batch,
        fetch_timeout=settings.fetch_timeout_seconds,
        on_queued=dispatcher.wake,
    )
    runtime.mark_started()
    await run_until_stopped(
        runtime.stopping,
        {"webhooks intake": intake.run(), "webhooks senders": dispatcher.run(runtime.stopping)},
        intake.stop,
        settings.shutdown_grace_seconds,
    )
