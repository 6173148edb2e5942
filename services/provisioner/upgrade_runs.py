"""What an engine upgrade does to a store's cluster objects and data: move its workloads to
a version and prove them healthy (`Upgrader.move`), and keep or put back its data
(`Safekeeping`).

A move renders the store's chart at the spec's version and applies its Deployments,
StatefulSets and CronJobs (server-side apply under the provisioner's manager, as a
provisioning does; they roll their pods as their own strategy says), then runs the
engine's setup Job again as a new Job named after the upgrade (a finished Job cannot be
started again): the setup is what runs an engine's migrations. Then the health gate
(`Gate`): the default one, `ReadinessGate`, holds when the setup Job completed and every
Deployment and StatefulSet has all its replicas updated and ready by the readiness rules,
within `gate_seconds`. It does not ask the storefront anything: on simulated nodes pods
serve nothing. A gate that also fetches the storefront fits the same seam.

The data side goes through `Safekeeping`: `BackupSafekeeping` takes the pre-upgrade
backup with the backups consumer's own machinery (`BackupHandler.take`, reason
`pre_upgrade`) and puts it back with `DataSwap` (web stopped, restore Job, setup again,
web started), as a restore in place does.

Called by `services.provisioner.upgrades`. Raises `GateFailed`, and what the Kubernetes
adapter, the renderer and the backup machinery raise.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from services.provisioner.backup_runs import BackupError
from services.provisioner.backups import BackupHandler
from services.provisioner.data_swap import DataSwap, SwapTimeout, renamed_job
from services.provisioner.job_runs import JobFailed, run_job
from services.provisioner.render import engine_manifests
from services.provisioner.spec import Manifest, StoreSpec
from services.provisioner.suspensions import SCALED, Suspender
from shared.events import Envelope

log = structlog.get_logger(__name__)


class GateFailed(Exception):
    """The store did not come up healthy on the version; the message says what, in words a
    user can read."""


class Gate(Protocol):
    async def check(
        self,
        spec: StoreSpec,
        workloads: Sequence[Manifest],
        setup: Sequence[Manifest],
        deadline: float,
    ) -> None:
        """Return when the store on `spec`'s version is healthy; `GateFailed` otherwise."""


@dataclass(frozen=True)
class ReadinessGate:
    """Setup Jobs complete and every workload ready, by the readiness rules."""

    suspender: Suspender

    async def check(
        self,
        spec: StoreSpec,
        workloads: Sequence[Manifest],
        setup: Sequence[Manifest],
        deadline: float,
    ) -> None:
        kube = self.suspender.kube
        for job in setup:
            try:
                await run_job(kube, job, None, deadline, reports=False)
            except JobFailed as exc:
                raise GateFailed(f"the engine's setup did not complete: {exc}") from exc
        try:
            await self.suspender.until_serving(spec, workloads, deadline)
        except SwapTimeout as exc:
            raise GateFailed(f"{exc} on version {spec.engine_version}") from exc


@dataclass(frozen=True)
class Upgrader:
    suspender: Suspender  # its kube, renderer and cluster
    gate: Gate
    gate_seconds: float

    async def move(self, spec: StoreSpec, run: str) -> None:
        """Apply the store's workloads at `spec.engine_version` and hold them to the gate;
        `run` names the setup Job of this attempt."""
        deadline = time.monotonic() + self.gate_seconds
        workloads, setup = await self.apply(spec, run)
        await self.gate.check(spec, workloads, setup, deadline)
        log.info("workloads on version", version=spec.engine_version)

    async def hold(self, spec: StoreSpec, workloads: Sequence[Manifest]) -> None:
        """Hold `workloads`, already applied, to the gate (no setup Job of its own)."""
        await self.gate.check(spec, workloads, (), time.monotonic() + self.gate_seconds)

    async def apply(self, spec: StoreSpec, run: str) -> tuple[list[Manifest], list[Manifest]]:
        """Apply the Deployments, StatefulSets and CronJobs at the spec's version; return
        the first two (what the gate holds) and the setup Jobs to run again (not yet
        created). A CronJob left behind would run the old version's code on the new
        version's data (and the new one's after a rollback)."""
        suspender = self.suspender
        rendered = engine_manifests(await suspender.renderer.render(spec, suspender.cluster), spec)
        workloads = [m for m in rendered.workloads if m["kind"] in SCALED]
        for manifest in workloads:
            await suspender.kube.apply(manifest)
        for manifest in rendered.workloads:
            if manifest["kind"] == "CronJob":
                await suspender.kube.apply(manifest)
        return workloads, setup_jobs(spec, rendered.workloads, run)


def setup_jobs(spec: StoreSpec, rendered: Sequence[Manifest], run: str) -> list[Manifest]:
    """The engine's setup Jobs of `rendered`, each renamed `<run>-<name>` to run again."""
    names = {w.name for w in spec.engine.setup}
    return [
        renamed_job(m, f"{run}-{m['metadata']['name']}"[:63].rstrip("-"))
        for m in rendered
        if m["kind"] == "Job" and m["metadata"]["name"] in names
    ]


class Safekeeping(Protocol):
    async def keep(
        self, spec: StoreSpec, cause: Envelope, backup_id: str, requested_by: str, attempt: int
    ) -> None:
        """Take the pre-upgrade backup `backup_id` of the store as it is now."""

    async def abandon(self, cause: Envelope, backup_id: str, code: str, reason: str) -> None:
        """The pre-upgrade backup `backup_id` will not be written: the upgrade gave up."""

    async def put_back(
        self, spec: StoreSpec, backup_id: str, operation_id: str, attempt: int
    ) -> None:
        """Replace the store's data with the backup's; the web workloads end serving."""


@dataclass(frozen=True)
class BackupSafekeeping:
    backups: BackupHandler
    swap: DataSwap

    async def keep(
        self, spec: StoreSpec, cause: Envelope, backup_id: str, requested_by: str, attempt: int
    ) -> None:
        if await self.backups.runner.manifest(spec.store_id, backup_id) is not None:
            return  # an earlier delivery wrote it
        request = {"backup_id": backup_id, "reason": "pre_upgrade", "requested_by": requested_by}
        await self.backups.publish("backup.requested", spec.store_id, request,
                                   correlation_id=cause.correlation_id,
                                   event_id=f"{backup_id}:requested")  # fmt: skip
        await self.backups.take(spec, cause, backup_id, "pre_upgrade", attempt)

    async def abandon(self, cause: Envelope, backup_id: str, code: str, reason: str) -> None:
        await self.backups.failed(cause, backup_id, code, reason)

    async def put_back(
        self, spec: StoreSpec, backup_id: str, operation_id: str, attempt: int
    ) -> None:
        manifest: Mapping[str, Any] | None
        manifest = await self.backups.runner.manifest(spec.store_id, backup_id)
        if manifest is None:
            raise BackupError("backup_missing", "the pre-upgrade backup does not exist")
        await self.swap.replace(spec, manifest, operation_id, attempt)
