"""The plans consumer's handler: one `store.plan.requested.<id>` in, the store moved to
the new plan, `plan.changed` (or `plan.failed`) out.

In order: the store's spec on its current plan (`StoreRecords`, which follows earlier
`plan.changed` events); the new plan's quota is checked against what the store uses now
(the ResourceQuota's `status.used`): a plan the store does not fit is refused with what
does not fit (`usage_exceeds_plan`; storage is requested by volumes that never shrink, so
a plan with less storage than the store's volumes hold is refused the same way), and
nothing is changed; then the ResourceQuota and the LimitRange are applied, and the engine
chart rendered for the new plan is applied (its Deployments and StatefulSets roll their
pods as their own strategy says, one at a time for a StatefulSet; Jobs, which cannot
change, are left alone) and waited for; `plan.changed` records the plan the store is on.

A request that a later plan change replaced in the stream is acknowledged without acting.
Every step is idempotent, so a redelivery after a crash carries on.

Called by the provisioner's `plans` WorkerPool. Emits events and metrics.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from services.provisioner import metrics
from services.provisioner.backups import give_up_or_retry, request_of
from services.provisioner.guardrails import limit_range, resource_quota
from services.provisioner.kinds import by_kind
from services.provisioner.publisher import Publisher
from services.provisioner.render import engine_manifests
from services.provisioner.spec import QUOTA, StoreSpec
from services.provisioner.store_records import StoreRecords
from services.provisioner.suspensions import SCALED, Suspender
from shared.events import Envelope, PlanRequested
from shared.logs import bound
from shared.outcome import Outcome
from shared.plans import Plan
from shared.quantities import parse_quantity
from shared.subjects import subject_for
from shared.worker import Delivery

log = structlog.get_logger(__name__)


class PlanRefused(Exception):
    """The plan cannot be applied to this store; nothing was changed."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def misfits(used: Mapping[str, str], hard: Mapping[str, str]) -> list[str]:
    """What the store uses beyond the new quota, in words: "requests.storage: uses 30Gi,
    the plan allows 20Gi"."""
    found = []
    for resource, limit in sorted(hard.items()):
        if resource in used and parse_quantity(used[resource]) > parse_quantity(limit):
            found.append(f"{resource}: uses {used[resource]}, the plan allows {limit}")
    return found


@dataclass(frozen=True)
class PlanChanger:
    suspender: Suspender  # its kube, renderer and cluster, and its wait for workloads

    async def change(self, spec: StoreSpec) -> None:
        """Move the store to `spec.plan`, or raise `PlanRefused` having changed nothing."""
        kube = self.suspender.kube
        quota = resource_quota(spec)
        current = await kube.get(by_kind("ResourceQuota"), QUOTA, spec.namespace)
        used = ((current or {}).get("status") or {}).get("used") or {}
        over = misfits(used, quota["spec"]["hard"])
        if over:
            raise PlanRefused(
                "usage_exceeds_plan",
                f"the store uses more than the {spec.plan_name} plan allows"
                f" (storage never shrinks): {'; '.join(over)}",
            )
        rendered = engine_manifests(
            await self.suspender.renderer.render(spec, self.suspender.cluster), spec
        )
        await kube.apply(quota)
        await kube.apply(limit_range(spec))
        changed = [m for m in rendered.workloads if m["kind"] != "Job"]
        for manifest in changed:
            await kube.apply(manifest)
        deadline = time.monotonic() + self.suspender.deadline_seconds
        scaled = [m for m in changed if m["kind"] in SCALED]
        await self.suspender.until_serving(spec, scaled, deadline)


@dataclass(frozen=True)
class PlanHandler:
    records: StoreRecords
    changer: PlanChanger
    plans: Mapping[str, Plan]
    publish: Publisher
    max_deliver: int

    async def __call__(self, delivery: Delivery) -> Outcome:
        request = request_of(delivery, PlanRequested)
        if isinstance(request, Outcome):
            return request
        event, data = request
        with bound(store_id=event.store_id, operation_id=data.operation_id, plan=data.plan):
            later = await self.records.last_seq(subject_for("plan.requested", event.store_id))
            if later > delivery.stream_seq:
                log.info("a later plan change replaced this one; nothing done")
                return Outcome.ack()
            return await self._handle(event, data, delivery)

    async def _handle(self, event: Envelope, data: PlanRequested, delivery: Delivery) -> Outcome:
        started = time.monotonic()
        try:
            spec = await self.records.spec(event.store_id)
            plan = self.plans.get(data.plan)
            if plan is None:
                known = ", ".join(sorted(self.plans))
                raise PlanRefused("unknown_plan", f"plan {data.plan!r} is not offered ({known})")
            previous = spec.plan_name
            await self.changer.change(dataclasses.replace(spec, plan_name=data.plan, plan=plan))
        except Exception as exc:
            return await self._failure(event, data, delivery, exc)
        seconds = round(time.monotonic() - started, 3)
        body = {"plan": data.plan, "previous_plan": previous, "seconds": seconds}
        await self._event(event, data, "changed", body)
        metrics.PLAN_CHANGES.labels(outcome="changed").inc()
        log.info("plan changed", previous=previous, seconds=seconds)
        return Outcome.ack()

    async def _event(
        self, event: Envelope, data: PlanRequested, step: str, body: dict[str, Any]
    ) -> None:
        await self.publish(f"plan.{step}", event.store_id,
                           {"operation_id": data.operation_id, **body},
                           correlation_id=event.correlation_id,
                           event_id=f"{data.operation_id}:{step}")  # fmt: skip

    async def _failure(
        self, event: Envelope, data: PlanRequested, delivery: Delivery, exc: Exception
    ) -> Outcome:
        if isinstance(exc, PlanRefused):
            code, reason = exc.code, str(exc)
        else:
            settled = give_up_or_retry(exc, delivery, self.max_deliver, "not_ready_in_time")
            if isinstance(settled, Outcome):
                return settled
            code, reason = settled
        metrics.PLAN_CHANGES.labels(outcome="failed").inc()
        log.warning("plan change failed", code=code, reason=reason)
        body = {"plan": data.plan, "code": code, "reason": reason}
        await self._event(event, data, "failed", body)
        return Outcome.give_up(reason)
