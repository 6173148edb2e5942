"""Run one backup, restore or verification Job in a store's namespace and read its result.

Creates the Job (or finds the one an earlier attempt of the same name made), then its plan
Secret owned by it, polls the Job until it completes, fails or passes the deadline, and
reads the JSON result the program wrote to its termination message
(`images/backup/sfbackup.py`). Polling, not the status watch: these Jobs are few, short
and the watch does not follow them.

Called by `services.provisioner.backups` and `services.provisioner.restores`. Raises
`JobFailed` with a reason a user can read (never a URL), or `KubeError`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import structlog

from services.provisioner.kinds import by_kind
from services.provisioner.kubeapi import StoreKube
from services.provisioner.spec import Manifest

log = structlog.get_logger(__name__)

JOB, POD, SECRET = by_kind("Job"), by_kind("Pod"), by_kind("Secret")
POLL_SECONDS = 2.0


class JobFailed(Exception):
    """The Job ended without a result, or with an error; the message says why."""


async def run_job(
    kube: StoreKube,
    job: Manifest,
    plan_secret: Callable[[Manifest], Manifest] | None,
    deadline: float,
    poll: float = POLL_SECONDS,
    *,
    reports: bool = True,
) -> dict[str, Any]:
    """The result of `job`, run to its end. `plan_secret` makes the plan Secret from the
    Job as the API server holds it (its uid owns the Secret). A Job that `reports` nothing
    (an engine's setup) only has to complete."""
    meta = job["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    await kube.create(job)
    made = await kube.get(JOB, name, namespace)
    if made is None:
        raise JobFailed(f"job {name} vanished as it was made")
    if plan_secret is not None:
        await kube.create(plan_secret(made))
    while True:
        state = _state(made)
        if state == "Complete" and not reports:
            return {}
        if state is not None:
            return await _result(kube, name, namespace, state)
        if time.monotonic() > deadline:
            raise JobFailed(f"job {name} did not finish in time")
        await asyncio.sleep(poll)
        made = await kube.get(JOB, name, namespace) or {}


def _state(job: Manifest) -> str | None:
    for condition in job.get("status", {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"])
    return None


async def _result(kube: StoreKube, name: str, namespace: str, state: str) -> dict[str, Any]:
    pods = await kube.list(POD, namespace, labels=f"job-name={name}")
    message = ""
    for pod in pods.get("items", []):
        for status in pod.get("status", {}).get("containerStatuses") or []:
            message = status.get("state", {}).get("terminated", {}).get("message") or message
    result = _parse(message)
    if state == "Complete" and "error" not in result and result:
        return result
    reason = result.get("error") or "the job ended without a result"
    if state == "Failed" and not result:
        reason = "the job failed or ran out of time before it could report"
    log.warning("job failed", job=name, reason=reason)
    raise JobFailed(str(reason))


def _parse(message: str) -> dict[str, Any]:
    try:
        parsed = json.loads(message)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
