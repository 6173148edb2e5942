"""Volume claims of seeded stores, made already bound: each claim the store's objects ask
for (its PersistentVolumeClaims and its StatefulSet's claim templates) is created with its
own PersistentVolume and both carried to `Bound` as kube-controller-manager's PV controller
would leave them, so the controller has nothing left to write for them.

Why: the PV controller binds claims one at a time, several writes each; at thousands of
stores it bound about 60 claims a minute (docs/scale.md), and every claim the benchmark
then measures queued behind the fill's. Only the fill uses this: the stores each round
measures, the ceiling's and the platform's, get their volumes from the stand-in
provisioner (devtools/volumes.py) and the PV controller, as a cluster's stores do.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kubernetes_asyncio.client import ApiClient, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from devtools.volumes import volume_for

Manifest = dict[str, Any]
T = TypeVar("T")
BOUND = {"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes"}
RETRIES = 10


def claims_of(store: list[Manifest]) -> list[Manifest]:
    """Every claim `store`'s objects make: its own, then one per StatefulSet replica and
    claim template, named as the StatefulSet controller names them (and finds them)."""
    found = [o for o in store if o["kind"] == "PersistentVolumeClaim"]
    for obj in store:
        if obj["kind"] != "StatefulSet":
            continue
        meta, spec = obj["metadata"], obj["spec"]
        for template in spec.get("volumeClaimTemplates") or []:
            for ordinal in range(spec.get("replicas", 1)):
                name = f"{template['metadata']['name']}-{meta['name']}-{ordinal}"
                found.append({
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {**template["metadata"], "name": name,
                                 "namespace": meta["namespace"]},
                    "spec": template["spec"],
                })  # fmt: skip
    return found


async def bind(api: ApiClient, claim: Manifest) -> None:
    """Create `claim` bound to a volume of its own, and the volume bound to it."""
    core = CoreV1Api(api)
    meta = claim["metadata"]
    namespace, volume_name = meta["namespace"], f"seed-{meta['namespace']}-{meta['name']}"
    body = copy.deepcopy(claim)
    body["metadata"]["annotations"] = {**meta.get("annotations", {}), **BOUND}
    body["spec"]["volumeName"] = volume_name
    made = await _retried(lambda: core.create_namespaced_persistent_volume_claim(namespace, body))
    made_dict = api.sanitize_for_serialization(made)
    volume = volume_for(made_dict, body["spec"]["storageClassName"])
    volume["metadata"]["name"] = volume_name
    await _retried(lambda: core.create_persistent_volume(volume))
    await _retried(lambda: core.patch_persistent_volume_status(
        volume_name, {"status": {"phase": "Bound"}}))  # fmt: skip
    status = {
        "phase": "Bound",
        "accessModes": body["spec"]["accessModes"],
        "capacity": {"storage": body["spec"]["resources"]["requests"]["storage"]},
    }
    await _retried(lambda: core.patch_namespaced_persistent_volume_claim_status(
        meta["name"], namespace, {"status": status}))  # fmt: skip


async def _retried(call: Callable[[], Awaitable[T]]) -> T:
    """`call` again after a pause while the API server is overloaded (429, 5xx)."""
    for attempt in range(1, RETRIES + 1):
        try:
            return await call()
        except ApiException as exc:
            if exc.status not in (429, 500, 503, 504) or attempt == RETRIES:
                raise
        except (TimeoutError, OSError):
            if attempt == RETRIES:
                raise
        await asyncio.sleep(min(2.0 * attempt, 15.0))
    raise AssertionError("unreachable")
