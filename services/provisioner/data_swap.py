"""Replace a store's data with a backup's, the part a restore in place and a clone share:
stop the web workloads, run the restore Job, run the engine's setup again, start the web
workloads and wait for them.

Setup runs again because the restored database is another moment's (or, for a clone,
another store's): the engine's setup converges what must follow this store's Secret and
name (Medusa's seed sets the admin password and the store name; it creates nothing that
exists). It runs as a new Job named after the operation, from the chart's setup Job,
since a finished Job cannot be started again and the provisioner deletes nothing.

The web workloads are stopped by applying `replicas: 0` under a field manager of its own
(`storefleet-restore`) and started by applying the chart's objects again under the
provisioner's manager, which takes the field back. Every step is idempotent, so a
redelivery after a crash runs them again from the start.

Called by `services.provisioner.restores` and the store handler (a clone). Raises
`JobFailed`, `BackupError`, `KubeError`, `RenderError`, or `SwapTimeout`.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from services.provisioner.backup_runs import BackupRunner
from services.provisioner.job_runs import run_job
from services.provisioner.kinds import by_kind
from services.provisioner.kubeapi import StoreKube
from services.provisioner.render import Renderer, engine_manifests
from services.provisioner.spec import Cluster, Manifest, StoreSpec

log = structlog.get_logger(__name__)

STOP_MANAGER = "storefleet-restore"
POLL_SECONDS = 2.0
SETUP_TTL_SECONDS = 600


class SwapTimeout(Exception):
    """The web workloads did not stop or start in time."""


@dataclass(frozen=True)
class DataSwap:
    kube: StoreKube
    renderer: Renderer
    cluster: Cluster
    runner: BackupRunner
    deadline_seconds: float

    async def replace(
        self, spec: StoreSpec, manifest: Mapping[str, Any], operation_id: str, attempt: int
    ) -> None:
        deadline = time.monotonic() + self.deadline_seconds
        rendered = engine_manifests(await self.renderer.render(spec, self.cluster), spec)
        web = self._web(spec, rendered.workloads)
        await self.stop(spec, web, deadline)
        try:
            await self.runner.restore(spec, manifest, operation_id, attempt)
            await self._setup_again(spec, rendered.workloads, operation_id, attempt, deadline)
        finally:
            # Started again whatever happened: a failed restore leaves the store serving
            # (what it had, or the partly restored data the failure names).
            await self.start(spec, web, deadline)

    def _web(self, spec: StoreSpec, workloads: Sequence[Manifest]) -> list[Manifest]:
        names = {(w.kind, w.name) for w in spec.engine.backup.web}
        return [m for m in workloads if (m["kind"], m["metadata"]["name"]) in names]

    async def stop(self, spec: StoreSpec, web: Sequence[Manifest], deadline: float) -> None:
        for manifest in web:
            meta = manifest["metadata"]
            body = {
                "apiVersion": manifest["apiVersion"],
                "kind": manifest["kind"],
                "metadata": {"name": meta["name"], "namespace": spec.namespace},
                "spec": {"replicas": 0},
            }
            await self.kube.apply(body, manager=STOP_MANAGER)
        await self._until(spec, web, deadline, stopped=True)
        log.info("web workloads stopped", namespace=spec.namespace)

    async def start(self, spec: StoreSpec, web: Sequence[Manifest], deadline: float) -> None:
        for manifest in web:
            await self.kube.apply(manifest)
        await self._until(spec, web, deadline, stopped=False)
        log.info("web workloads started", namespace=spec.namespace)

    async def _until(
        self, spec: StoreSpec, web: Sequence[Manifest], deadline: float, *, stopped: bool
    ) -> None:
        while True:
            states = [
                await self.kube.get(by_kind(m["kind"]), m["metadata"]["name"], spec.namespace)
                for m in web
            ]
            if all(_stopped(s) if stopped else _serving(s) for s in states):
                return
            if time.monotonic() > deadline:
                doing = "stop" if stopped else "start"
                raise SwapTimeout(f"the store's web workloads did not {doing} in time")
            await asyncio.sleep(POLL_SECONDS)

    async def _setup_again(
        self,
        spec: StoreSpec,
        workloads: Sequence[Manifest],
        operation_id: str,
        attempt: int,
        deadline: float,
    ) -> None:
        names = {w.name for w in spec.engine.setup}
        for manifest in workloads:
            if manifest["kind"] == "Job" and manifest["metadata"]["name"] in names:
                job = renamed_job(manifest, f"setup-{attempt}-{operation_id}")
                await run_job(self.kube, job, None, deadline, reports=False)


def renamed_job(job: Manifest, name: str) -> Manifest:
    """The chart's Job under another name, to run it again (a finished Job cannot be)."""
    renamed = copy.deepcopy(job)
    renamed["metadata"]["name"] = name
    renamed["spec"]["ttlSecondsAfterFinished"] = SETUP_TTL_SECONDS
    return renamed


def _stopped(obj: dict[str, Any] | None) -> bool:
    status = (obj or {}).get("status", {})
    return obj is None or not (status.get("replicas") or status.get("readyReplicas"))


def _serving(obj: dict[str, Any] | None) -> bool:
    if obj is None:
        return False
    want = obj.get("spec", {}).get("replicas", 1)
    status = obj.get("status", {})
    return bool(
        status.get("observedGeneration", 0) >= obj["metadata"].get("generation", 0)
        and status.get("updatedReplicas", 0) >= want
        and status.get("readyReplicas", 0) >= want
        and status.get("replicas", 0) == want
    )
