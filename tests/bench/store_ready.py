"""Stores created directly (the scale benchmark's ceiling batches) waited on to `ready` by
the provisioner's own rules (services/provisioner/readiness.py): every workload and setup
Job of the engine ready, as the provisioner waits before it says `ready`. So a batch's
"to ready" time is the same work on both sides: the ceiling's stores and the platform's.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kubernetes_asyncio.client import ApiClient, AppsV1Api, BatchV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from services.provisioner.engines import Workload
from services.provisioner.readiness import workload_state
from services.provisioner.spec import StoreSpec

POLL_S = 1.0


class Reader:
    def __init__(self, api: ApiClient) -> None:
        self.api = api
        apps, jobs = AppsV1Api(api), BatchV1Api(api)
        self.reads = {
            "Deployment": apps.read_namespaced_deployment,
            "StatefulSet": apps.read_namespaced_stateful_set,
            "Job": jobs.read_namespaced_job,
        }

    async def get(self, workload: Workload, namespace: str) -> dict[str, Any] | None:
        try:
            found = await self.reads[workload.kind](workload.name, namespace, _request_timeout=60)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(self.api.sanitize_for_serialization(found))

    async def ready(self, spec: StoreSpec) -> bool:
        for workload in spec.engine.waits:
            obj = await self.get(workload, spec.namespace)
            if not workload_state(workload, obj).ready:
                return False
        return True


async def all_ready(api: ApiClient, specs: list[StoreSpec], started: float,
                    within: float = 900.0) -> float:  # fmt: skip
    """Seconds from `started` (time.monotonic) until the last of `specs` is ready; raises
    TimeoutError after `within` seconds."""
    reader = Reader(api)
    pending = list(specs)
    deadline = started + within
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} of {len(specs)} stores not ready in {within}s")
        ready = await asyncio.gather(*(reader.ready(s) for s in pending))
        pending = [s for s, done in zip(pending, ready, strict=True) if not done]
        if pending:
            await asyncio.sleep(POLL_S)
    return time.monotonic() - started
