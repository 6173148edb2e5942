"""The primary domains consumer's handler: one `store.domain.primary.<id>` in, the store's
engine moved to the address it names (its primary domain's, or its platform host's again),
`url.changed` (or `url.failed`) out.

The gateway asks when an owner makes an active custom domain the store's primary (or goes
back to the platform host); the reaper asks when the chosen domain stops being served. In
order:

- a request a later one replaced in the stream, or whose outcome is out already (a
  redelivery after the publish), is acknowledged without acting;
- the store must be `ready` (its standing, read from its last events): one on its way
  somewhere (provisioning, restoring, upgrading, resuming...) is tried again a minute
  later while deliveries remain; a suspended or failed one is refused with `url.failed`
  (`store_not_ready`). Every later render of the store (a resume, a retry, an upgrade, a
  restore) takes the address asked for (`StoreRecords` reads the last request), so its
  workloads follow then;
- `AddressMover.move` renders the engine chart at the new address (`store.url`; the store's
  own Ingress keeps `store.host`) and applies every object of it but its Jobs and Ingress,
  as a plan change does, then runs the engine's setup again as a Job named after this
  change and attempt, as an upgrade does, and waits for it to complete and for the
  workloads to serve (`ReadinessGate`). WooCommerce's setup moves WordPress's `home` and
  `siteurl` (and the links in its content) with `wp search-replace`; Medusa reads its URL
  and CORS lists from its environment when its pods restart. Then the namespace's
  `storefleet.io/url`, the address the credentials responder hands out, follows;
- `url.changed` records the address; when a later request arrived meanwhile, `url.failed`
  (`replaced`) instead, so the store's URL never goes back to an older one.

A failure (the setup failed, the workloads did not serve in time, the API server refused)
is retried while deliveries remain, then published as `url.failed`: the store stays
`ready`, and its owner may ask again. Every step is idempotent and each attempt's setup
Job has a name of its own, so a redelivered request converges.

Called by the provisioner's `primary_domains` WorkerPool. Emits events and metrics.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from services.provisioner import metrics
from services.provisioner.backups import give_up_or_retry, request_of
from services.provisioner.guardrails import namespace
from services.provisioner.publisher import Publisher
from services.provisioner.render import engine_manifests
from services.provisioner.spec import StoreSpec, on_primary, primary_url
from services.provisioner.store_records import Recorded, StoreRecords
from services.provisioner.suspensions import SCALED, Suspender
from services.provisioner.upgrade_runs import Gate, GateFailed, setup_jobs
from services.provisioner.upgrades import STANDING, standing
from shared.events import DomainPrimary, Envelope
from shared.lifecycle import TRANSITIONAL, Status
from shared.logs import bound
from shared.outcome import Outcome
from shared.subjects import subject_for
from shared.worker import Delivery

log = structlog.get_logger(__name__)

ENDS = ("url.changed", "url.failed")
WATCHED = (*STANDING, *ENDS)
# A store on its way somewhere is asked again this much later.
NOT_READY_DELAY = 60.0


@dataclass(frozen=True)
class AddressMover:
    suspender: Suspender  # its kube, renderer, cluster and deadline
    gate: Gate

    async def move(self, spec: StoreSpec, run: str) -> None:
        """Apply the store's chart at `spec.url`, run its setup again as `<run>-<name>`,
        and return once the setup completed and the workloads serve."""
        suspender = self.suspender
        deadline = time.monotonic() + suspender.deadline_seconds
        rendered = engine_manifests(await suspender.renderer.render(spec, suspender.cluster), spec)
        changed = [m for m in rendered.workloads if m["kind"] != "Job"]
        for manifest in changed:
            await suspender.kube.apply(manifest)
        scaled = [m for m in changed if m["kind"] in SCALED]
        await self.gate.check(spec, scaled, setup_jobs(spec, rendered.workloads, run), deadline)
        # The address the credentials responder hands out, on the store's namespace.
        await suspender.kube.apply(namespace(spec))
        log.info("engine at its address", url=spec.url)


@dataclass(frozen=True)
class PrimaryDomainHandler:
    records: StoreRecords
    mover: AddressMover
    publish: Publisher
    max_deliver: int

    async def __call__(self, delivery: Delivery) -> Outcome:
        request = request_of(delivery, DomainPrimary)
        if isinstance(request, Outcome):
            return request
        event, data = request
        with bound(store_id=event.store_id, operation_id=data.operation_id, domain=data.domain):
            if await self._replaced(event.store_id, delivery.stream_seq):
                log.info("a later change of address replaced this one; nothing done")
                return Outcome.ack()
            return await self._handle(event, data, delivery)

    async def _replaced(self, store_id: str, seq: int) -> bool:
        return await self.records.last_seq(subject_for("domain.primary", store_id)) > seq

    async def _handle(self, event: Envelope, data: DomainPrimary, delivery: Delivery) -> Outcome:
        started = time.monotonic()
        try:
            latest = await self.records.latest(event.store_id, WATCHED)
            if _settled(latest, data.operation_id):
                return Outcome.ack()
            spec = on_primary(await self.records.spec(event.store_id), data, self.records.cluster)
            status = standing(latest)
            if status != Status.READY:
                return await self._not_ready(event, data, delivery, spec, status)
            attempt = max(1, delivery.num_delivered)
            await self.mover.move(spec, f"url-{attempt}-{data.operation_id[:8]}")
        except Exception as exc:
            return await self._failure(event, data, delivery, exc)
        return await self._changed(event, data, delivery, spec, started)

    async def _changed(
        self, event: Envelope, data: DomainPrimary, delivery: Delivery, spec: StoreSpec,
        started: float,
    ) -> Outcome:  # fmt: skip
        if await self._replaced(event.store_id, delivery.stream_seq):
            reason = "a later change of the store's address replaced this one"
            await self._event(event, data, "failed", {"url": spec.url, "code": "replaced",
                                                      "reason": reason})  # fmt: skip
            metrics.URL_CHANGES.labels(outcome="replaced").inc()
            return Outcome.ack()
        seconds = round(time.monotonic() - started, 3)
        body = {"url": spec.url, "domain_id": data.domain_id, "domain": data.domain,
                "seconds": seconds}  # fmt: skip
        await self._event(event, data, "changed", body)
        metrics.URL_CHANGES.labels(outcome="changed").inc()
        log.info("store address changed", url=spec.url, seconds=seconds)
        return Outcome.ack()

    async def _not_ready(
        self, event: Envelope, data: DomainPrimary, delivery: Delivery, spec: StoreSpec,
        status: Status | None,
    ) -> Outcome:  # fmt: skip
        if status in TRANSITIONAL and delivery.num_delivered < self.max_deliver:
            log.info("store not ready; asked again later", status=status)
            return Outcome.retry(NOT_READY_DELAY, f"the store is {status}")
        reason = (f"the store is {status or 'unknown'}, not ready: nothing was changed now; its"
                  f" workloads take {spec.url} when they next start")  # fmt: skip
        await self._event(event, data, "failed", {"url": spec.url, "code": "store_not_ready",
                                                  "reason": reason})  # fmt: skip
        metrics.URL_CHANGES.labels(outcome="refused").inc()
        log.warning("address not changed", status=status)
        return Outcome.give_up(reason)

    async def _failure(
        self, event: Envelope, data: DomainPrimary, delivery: Delivery, exc: Exception
    ) -> Outcome:
        if isinstance(exc, GateFailed):
            code, reason = "setup_failed", str(exc)
        else:
            settled = give_up_or_retry(exc, delivery, self.max_deliver, "not_ready_in_time")
            if isinstance(settled, Outcome):
                return settled
            code, reason = settled
        asked = _asked(data, self.records)
        await self._event(event, data, "failed", {"url": asked, "code": code, "reason": reason})
        metrics.URL_CHANGES.labels(outcome="failed").inc()
        log.warning("address change failed", code=code, reason=reason)
        return Outcome.give_up(reason)

    async def _event(
        self, event: Envelope, data: DomainPrimary, step: str, body: dict[str, Any]
    ) -> None:
        await self.publish(f"url.{step}", event.store_id,
                           {"operation_id": data.operation_id, **body},
                           correlation_id=event.correlation_id,
                           event_id=f"{data.operation_id}:url-{step}")  # fmt: skip


def _settled(latest: Sequence[Recorded], operation_id: str) -> bool:
    """Whether this change's outcome is in the stream already."""
    return any(
        r.event.type in ENDS and getattr(r.event.data, "operation_id", None) == operation_id  # type: ignore[attr-defined]
        for r in latest
    )


def _asked(data: DomainPrimary, records: StoreRecords) -> str:
    """The address asked for, as far as it is known without the store: the platform host's
    is the store's own (empty here)."""
    return primary_url(data.domain, data.tls, records.cluster) if data.domain else ""
