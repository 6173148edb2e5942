"""When is a store's object ready? Pure predicates over the objects' status, the same
rules `kubectl rollout status` and `kubectl wait --for=condition=complete` use, plus the
two things a fresh namespace needs before its pods can be admitted: the `default`
ServiceAccount, and a ResourceQuota whose status the controller-manager has filled in.

Pure: no I/O. Called by the handler with objects from the status watch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.provisioner.engines import Workload

Obj = dict[str, Any] | None


@dataclass(frozen=True)
class State:
    ready: bool
    detail: str = ""  # what is still missing, for logs and the timeout's reason
    failed: str = ""  # set when waiting longer cannot help


def workload_state(workload: Workload, obj: Obj) -> State:
    if obj is None:
        return State(False, f"{workload} does not exist yet")
    checks = {"Deployment": _deployment, "StatefulSet": _stateful_set, "Job": _job}
    return checks[workload.kind](str(workload), obj)


def _observed(name: str, obj: dict[str, Any]) -> State | None:
    generation = obj.get("metadata", {}).get("generation", 0)
    observed = obj.get("status", {}).get("observedGeneration", 0)
    if observed < generation:
        return State(False, f"{name}: its controller has not seen the latest spec")
    return None


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for condition in obj.get("status", {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return {}


def _deployment(name: str, obj: dict[str, Any]) -> State:
    if (pending := _observed(name, obj)) is not None:
        return pending
    progressing = _condition(obj, "Progressing")
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return State(False, failed=f"{name} made no progress: {progressing.get('message', '')}")
    status = obj.get("status", {})
    want = obj.get("spec", {}).get("replicas", 1)
    updated, total = status.get("updatedReplicas", 0), status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < want:
        return State(False, f"{name}: {updated} of {want} replicas updated")
    if total > updated:
        return State(False, f"{name}: {total - updated} old replicas still terminating")
    if available < updated:
        return State(False, f"{name}: {available} of {updated} replicas available")
    return State(True)


def _stateful_set(name: str, obj: dict[str, Any]) -> State:
    if (pending := _observed(name, obj)) is not None:
        return pending
    status = obj.get("status", {})
    want = obj.get("spec", {}).get("replicas", 1)
    ready = status.get("readyReplicas", 0)
    if ready < want:
        return State(False, f"{name}: {ready} of {want} replicas ready")
    strategy = obj.get("spec", {}).get("updateStrategy", {}).get("type", "RollingUpdate")
    if strategy == "RollingUpdate" and status.get("updateRevision") != status.get(
        "currentRevision"
    ):
        return State(False, f"{name}: rolling update in progress")
    return State(True)


def _job(name: str, obj: dict[str, Any]) -> State:
    if _condition(obj, "Complete").get("status") == "True":
        return State(True)
    failed = _condition(obj, "Failed")
    if failed.get("status") == "True":
        why = failed.get("message") or failed.get("reason") or "it failed"
        return State(False, failed=f"{name} failed: {why}")
    status = obj.get("status", {})
    return State(
        False, f"{name}: {status.get('active', 0)} running, {status.get('failed', 0)} failed"
    )


def quota_counted(quota: Obj) -> bool:
    """Quota admission refuses every pod until the controller has filled in the status."""
    return quota is not None and bool(quota.get("status", {}).get("hard"))
