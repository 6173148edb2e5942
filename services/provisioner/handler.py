"""The provisioner's handler: one `store.requested` delivery in, one `Outcome` out.

For each delivery it builds the store spec (at the address of the primary domain its
owner chose, if any: the store's last `store.domain.primary`), checks the stream for a
delete request, publishes `store.provisioning`, renders the engine chart (before anything
is created), then applies the waves, each followed by `store.progress`:

1. guardrails: namespace, quota, limits, network policies, Secrets (progress
   `guardrails`); then waits for the namespace to settle (default ServiceAccount,
   counted quota), since admission refuses pods before;
2. workloads: everything in the chart but the Ingress (progress `workloads`; its Jobs are
   created once, never changed); then waits until the engine's Deployments and
   StatefulSets are ready and its setup Jobs complete (progress `setup`);
3. ingress: after a delete check, so the store answers only once it is set up (before
   that, its web pod would offer anyone WordPress's installer); then a last delete check,
   the namespace's ready mark, and `store.ready`.

A delete request found at any check (or heard while waiting) stops it, and the message
is acked. Only the reaper deletes namespaces. Found before this delivery wrote anything,
the request is the reaper's alone and nothing is published. Found once the waves began,
the handler hands the store to the reaper with a `delete` request of its own (id
`<request id>:delete`), published after its last write to Kubernetes: the user's request
may have reached the reaper while the waves still ran (even before the namespace
existed), and a namespace made after it would otherwise wait for the reaper's sweep. The
reaper handles a repeated request idempotently (found by label, deterministic event ids).

Temporary errors retry with backoff (`nak` with a delay) until the consumer's last
delivery; permanent ones publish `store.failed` and give up. Outcome events carry ids
derived from the request's id (`<request id>:ready`), so a redelivery publishes
duplicates the stream drops. The ack comes only after the outcome event's PubAck,
because the pool applies the returned Outcome after this returns.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from nats.js import JetStreamContext

from services.provisioner import metrics
from services.provisioner.backup_runs import BackupError
from services.provisioner.data_swap import DataSwap, SwapTimeout
from services.provisioner.engines import Engine
from services.provisioner.failures import RETRY, classify, owner_reason
from services.provisioner.guardrails import guardrails, store_secret
from services.provisioner.job_runs import JobFailed
from services.provisioner.publisher import ACTOR, Publisher
from services.provisioner.render import EngineRefused, Renderer, RenderError, engine_manifests
from services.provisioner.spec import (
    Cluster,
    SpecError,
    StoreSpec,
    check_namespace,
    on_primary,
    store_spec,
)
from services.provisioner.store_records import last_primary
from services.provisioner.waves import NotReady, StoreDeleted, Waves
from shared.engine_versions import EngineVersions
from shared.events import InvalidEvent, Payload, StoreRequested
from shared.kube_errors import KubeError
from shared.logs import bound
from shared.objectstore import ObjectStoreUnavailable
from shared.outcome import Outcome, TemporaryError
from shared.plans import Plan
from shared.worker import Delivery

log = structlog.get_logger(__name__)
HANDOFF_REASON = "provisioning stopped for the deletion; the reaper removes what was made"
SecretValues = Callable[[Engine], dict[str, str]]


def random_secret_values(engine: Engine) -> dict[str, str]:
    """64 URL-safe characters per key: passwords, and WordPress keys and salts."""
    return {key: secrets.token_urlsafe(48) for key in engine.secret_keys}


class StoreHandler:
    def __init__(
        self,
        *,
        js: JetStreamContext,
        stream: str,
        cluster: Cluster,
        plans: Mapping[str, Plan],
        engines: Mapping[str, Engine],
        renderer: Renderer,
        waves: Waves,
        worker: str,
        deadline: float,
        max_deliver: int,
        versions: Mapping[str, EngineVersions] | None = None,
        secret_values: SecretValues = random_secret_values,
    ) -> None:
        self.js, self.stream = js, stream
        self.cluster, self.plans, self.engines = cluster, plans, engines
        self.versions: Mapping[str, EngineVersions] = versions or {}
        self.renderer, self.waves = renderer, waves
        self.worker, self.deadline, self.max_deliver = worker, deadline, max_deliver
        self.secret_values = secret_values
        # Set when backups are on (the object store configured): clones need it.
        self.swap: DataSwap | None = None

    async def __call__(self, delivery: Delivery) -> Outcome:
        try:
            event = delivery.event()
        except InvalidEvent as exc:
            log.error(
                "dropping a message that is not a valid event",
                subject=delivery.subject,
                error=str(exc),
            )
            return Outcome.give_up(f"invalid event: {exc}")
        if not isinstance(event, StoreRequested):
            return Outcome.give_up(f"not a store request: {type(event).__name__}")
        with bound(store_id=event.store_id, correlation_id=event.correlation_id):
            return await self._measured(event, delivery)

    async def _measured(self, event: StoreRequested, delivery: Delivery) -> Outcome:
        started = time.monotonic()
        metrics.IN_FLIGHT.inc()
        try:
            label, outcome = await self._provision(event, delivery)
        except TemporaryError as exc:  # NATS did not answer; the store is unharmed
            metrics.RETRIES.labels(reason="nats_unavailable").inc()
            label, outcome = "retry", Outcome.retry(exc.delay, str(exc))
        finally:
            metrics.IN_FLIGHT.dec()
        metrics.DURATION.labels(outcome=label).observe(time.monotonic() - started)
        return outcome

    async def _provision(self, event: StoreRequested, delivery: Delivery) -> tuple[str, Outcome]:
        try:
            check_namespace(event)
            spec = store_spec(event, self.cluster, self.plans, self.engines, self.versions)
        except SpecError as exc:
            return await self._fail(event, exc.code, str(exc), exc.detail)
        # A retry keeps the primary domain its owner chose.
        primary = await last_primary(self.js, self.stream, event.store_id)
        spec = on_primary(spec, primary, self.cluster)
        # Listen before looking, so a delete published in between is not missed.
        with self.waves.deletes.listen(spec.store_id) as deleted:
            if await self.waves.deletes.requested(spec.store_id):
                log.info("store deleted before provisioning; left to the reaper")
                return "deleted", Outcome.ack()
            return await self._attempt(spec, event, delivery, deleted)

    async def _attempt(
        self, spec: StoreSpec, event: StoreRequested, delivery: Delivery, deleted: asyncio.Event
    ) -> tuple[str, Outcome]:
        attempt = max(1, delivery.num_delivered)
        await self._publish(
            event,
            "provisioning",
            {"worker": self.worker, "attempt": attempt},
            f"provisioning:{attempt}",
        )
        log.info("provisioning store", namespace=spec.namespace, attempt=attempt)
        try:
            await self._run_waves(spec, event, time.monotonic() + self.deadline, deleted)
        except StoreDeleted:
            log.info("store deleted during provisioning")
            return await self._deleted(spec, event)
        except RenderError as exc:
            return await self._fail_raw(
                event, "render_failed", f"the {spec.engine.name} engine did not render: {exc}"
            )
        except EngineRefused as exc:
            return await self._fail(
                event, "engine_refused", f"the {spec.engine.name} engine broke a store rule: {exc}"
            )
        except NotReady as exc:
            if await self.waves.deletes.requested(spec.store_id):
                return await self._deleted(spec, event)
            return await self._fail_raw(event, exc.code, str(exc))
        except KubeError as exc:
            return await self._kube_error(spec, event, delivery, exc)
        except (JobFailed, BackupError, SwapTimeout) as exc:
            return await self._fail(
                event, "clone_failed", f"the backup could not be restored into the store: {exc}"
            )
        except ObjectStoreUnavailable as exc:
            if delivery.num_delivered >= self.max_deliver:
                return await self._fail(event, "clone_failed", f"gave up: {exc}")
            return "retry", Outcome.retry(RETRY.delay(delivery.num_delivered), str(exc))
        await self._publish(event, "ready", {"url": spec.url}, "ready")
        log.info("store ready", url=spec.url)
        return "ready", Outcome.ack()

    async def _run_waves(
        self, spec: StoreSpec, event: StoreRequested, deadline: float, deleted: asyncio.Event
    ) -> None:
        engine = engine_manifests(await self.renderer.render(spec, self.cluster), spec)
        rails = guardrails(spec, self.cluster)
        waves, started = self.waves, time.monotonic()

        secret = store_secret(spec, self.secret_values(spec.engine))
        applied = await waves.apply(rails.all, create_once=[secret])
        started = await self._progress(
            event,
            "guardrails",
            applied,
            started,
            "namespace, quota, limits, network policies and secrets are in place",
        )

        await waves.settled(spec, deadline, deleted)
        # A Job cannot change once made: one an earlier attempt made is left as it is (its
        # setup ran; a later address or version runs setup again as a Job of its own).
        jobs = [m for m in engine.workloads if m["kind"] == "Job"]
        others = [m for m in engine.workloads if m["kind"] != "Job"]
        applied = await waves.apply(others, create_once=jobs)
        started = await self._progress(
            event,
            "workloads",
            applied,
            started,
            f"applied; waiting for {_names(spec.engine.waits)}",
        )
        await waves.ready(spec, spec.engine.workloads, deadline, deleted)
        await waves.ready(spec, spec.engine.setup, deadline, deleted)
        started = await self._progress(
            event,
            "setup",
            [str(w) for w in spec.engine.waits],
            started,
            f"{_names(spec.engine.workloads)} ready, {_names(spec.engine.setup)} complete",
        )

        if event.data.from_backup is not None:
            await self._clone(spec, event)
            started = await self._progress(
                event, "restore", [], started, "the backup's data is in place"
            )

        if await waves.deletes.requested(spec.store_id):
            raise StoreDeleted(spec.store_id)
        applied = await waves.apply(engine.ingress)
        await self._progress(event, "ingress", applied, started, f"answering at {spec.url}")
        if await waves.deletes.requested(spec.store_id):
            raise StoreDeleted(spec.store_id)
        await waves.mark_ready(spec)

    async def _clone(self, spec: StoreSpec, event: StoreRequested) -> None:
        """Put the backup's data into the new store (`event.data.from_backup`)."""
        source = event.data.from_backup
        assert source is not None
        if self.swap is None:
            raise BackupError("backups_off", "backups are off on this platform")
        manifest = await self.swap.runner.manifest(source.store_id, source.backup_id)
        if manifest is None:
            raise BackupError("backup_missing", "the backup does not exist (no manifest)")
        await self.swap.replace(spec, manifest, spec.store_id, event.data.attempt)

    async def _progress(
        self, event: StoreRequested, wave: str, applied: Sequence[str], started: float, message: str
    ) -> float:
        metrics.WAVE.labels(wave=wave).observe(time.monotonic() - started)
        await self._publish(
            event,
            "progress",
            {"wave": wave, "applied": list(applied), "message": message},
            f"progress:{wave}",
        )
        log.info("wave done", wave=wave, objects=len(applied))
        return time.monotonic()

    async def _kube_error(
        self, spec: StoreSpec, event: StoreRequested, delivery: Delivery, exc: KubeError
    ) -> tuple[str, Outcome]:
        if await self.waves.deletes.requested(spec.store_id):
            return await self._deleted(spec, event)
        failure = classify(exc)
        if not failure.temporary:
            return await self._fail_raw(event, failure.code, failure.reason)
        if delivery.num_delivered >= self.max_deliver:
            return await self._fail_raw(
                event,
                "retries_exhausted",
                f"gave up after {delivery.num_delivered} attempts: {failure.reason}",
            )
        delay = RETRY.delay(delivery.num_delivered)
        metrics.RETRIES.labels(reason=failure.code).inc()
        log.warning(
            "temporary failure, will retry", code=failure.code, error=failure.reason, delay=delay
        )
        return "retry", Outcome.retry(delay, failure.reason)

    async def _deleted(self, spec: StoreSpec, event: StoreRequested) -> tuple[str, Outcome]:
        """Stop writing, then ask the reaper (again) to delete the store: it removes the
        namespace and reports the deletion; this publishes nothing else."""
        handoff = {"requested_by": ACTOR, "reason": HANDOFF_REASON}
        await self._publish(event, "delete", handoff, "delete")
        log.info("deleted store stopped; handed to the reaper", namespace=spec.namespace)
        return "deleted", Outcome.ack()

    async def _fail(
        self, event: StoreRequested, code: str, reason: str, detail: str = ""
    ) -> tuple[str, Outcome]:
        """Publish `store.failed` with `code` and `reason`, the platform's own words that
        the owner reads; `detail` (raw text from the API server, helm or a pod, which may
        name cluster internals) goes to the operator's log line only."""
        metrics.FAILURES.labels(reason=code).inc()
        await self._publish(event, "failed", {"code": code, "reason": reason}, "failed")
        log.warning("store failed", code=code, reason=reason, detail=detail)
        return "failed", Outcome.give_up(detail or reason)

    async def _fail_raw(self, event: StoreRequested, code: str, detail: str) -> tuple[str, Outcome]:
        """Fail the store with the owner's reason for `code`, keeping `detail` for operators."""
        return await self._fail(event, code, owner_reason(code), detail)

    async def _publish(
        self, event: StoreRequested, event_type: str, data: Payload | dict[str, Any], suffix: str
    ) -> None:
        await Publisher(self.js, self.stream)(
            event_type,
            event.store_id,
            data,
            correlation_id=event.correlation_id,
            event_id=f"{event.id}:{suffix}",
        )


def _names(workloads: Sequence[Any]) -> str:
    return ", ".join(str(w) for w in workloads)
