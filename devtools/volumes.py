"""A stand-in for a storage driver on a control plane that has none (kwok's simulated
nodes): every claim of one StorageClass gets a fresh hostPath PersistentVolume bound to
it, as an external provisioner would create one, and the volume goes when its claim goes.
Without it, pods with volume claims are never scheduled. The PV controller in
kube-controller-manager does the binding; this only creates and deletes volumes.

`VolumeBinder` watches claims in an asyncio task: the tests' session fixture
`volume_binder` (tests/fixtures/cluster.py) runs it with `bound_volumes`, the provisioner
benchmark runs one directly, and `just up` runs one in a thread of its own with
`BackgroundVolumes` (devtools/platform_start.py).
`hold(namespace)` keeps a namespace's claims unbound until `release(namespace)`: a test's
way to make storage slow, so a store stays mid-provisioning as long as it likes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config import new_client_from_config

PROVISIONER = "storefleet.dev/local-volumes"
VOLUME_ROOT = "/var/lib/storefleet-volumes"
log = logging.getLogger(__name__)


class VolumeBinder:
    def __init__(self, api: client.ApiClient, storage_class: str) -> None:
        self.api = api
        self.storage_class = storage_class
        self.core = client.CoreV1Api(api)
        self._held: set[str] = set()
        self._waiting: dict[str, list[dict[str, Any]]] = {}
        # Volumes are made concurrently, as a real provisioner's workers would.
        self._slots = asyncio.Semaphore(32)
        self._tasks: set[asyncio.Task[None]] = set()

    async def ensure_class(self) -> None:
        body = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": self.storage_class},
            "provisioner": PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }
        with contextlib.suppress(ApiException):  # 409: there already
            await client.StorageV1Api(self.api).create_storage_class(body)

    def hold(self, namespace: str) -> None:
        self._held.add(namespace)

    async def release(self, namespace: str, *, provision: bool = True) -> None:
        """Bind the namespace's held claims now (or forget them, when it is gone)."""
        self._held.discard(namespace)
        for claim in self._waiting.pop(namespace, []):
            if provision:
                await self._provision(claim)

    async def run(self) -> None:
        """Watch every claim until cancelled, re-listing after any interruption."""
        try:
            while True:
                try:
                    await self._remove_released()
                    await self._follow()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the API server restarts in some tests
                    log.warning("local volumes: watch interrupted: %s", exc)
                    await asyncio.sleep(0.5)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        async def bounded() -> None:
            async with self._slots:
                await work

        task = asyncio.create_task(bounded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _follow(self) -> None:
        stream = watch.Watch()
        try:
            async for event in stream.stream(
                self.core.list_persistent_volume_claim_for_all_namespaces, timeout_seconds=60
            ):
                claim = self.api.sanitize_for_serialization(event["object"])
                if claim.get("spec", {}).get("storageClassName") != self.storage_class:
                    continue
                if event["type"] == "DELETED":
                    self._spawn(self._delete_volume(claim))
                elif not claim["spec"].get("volumeName"):
                    self._spawn(self._provision(claim))
        finally:
            await stream.close()

    async def _provision(self, claim: dict[str, Any]) -> None:
        meta = claim["metadata"]
        if meta["namespace"] in self._held:
            self._waiting.setdefault(meta["namespace"], []).append(claim)
            return
        volume = volume_for(claim, self.storage_class)
        try:
            await self.core.create_persistent_volume(volume)
        except ApiException as exc:
            if exc.status != 409:
                log.warning(
                    "local volumes: could not create %s: %s", volume["metadata"]["name"], exc
                )

    async def _delete_volume(self, claim: dict[str, Any]) -> None:
        with contextlib.suppress(ApiException):
            await self.core.delete_persistent_volume(f"pv-{claim['metadata']['uid']}")

    async def _remove_released(self) -> None:
        """Volumes of ours whose claims went while nobody watched (a restart of `just up`)."""
        volumes = await self.core.list_persistent_volume()
        for volume in volumes.items:
            mine = volume.spec.storage_class_name == self.storage_class
            if mine and volume.status and volume.status.phase in ("Released", "Failed"):
                with contextlib.suppress(ApiException):
                    await self.core.delete_persistent_volume(volume.metadata.name)


def volume_for(claim: dict[str, Any], storage_class: str) -> dict[str, Any]:
    """The hostPath PersistentVolume made for `claim`, bound to it up front."""
    meta = claim["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"pv-{meta['uid']}", "labels": {"storefleet.dev/local-volume": "1"}},
        "spec": {
            "capacity": {"storage": claim["spec"]["resources"]["requests"]["storage"]},
            "accessModes": claim["spec"]["accessModes"],
            # Released once its claim is gone; then the binder deletes it.
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": storage_class,
            "hostPath": {"path": f"{VOLUME_ROOT}/{meta['uid']}"},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
        },
    }


@contextlib.asynccontextmanager
async def bound_volumes(api: client.ApiClient, storage_class: str) -> AsyncIterator[VolumeBinder]:
    """A binder for `storage_class` (created if missing) running until the block ends."""
    binder = VolumeBinder(api, storage_class)
    await binder.ensure_class()
    task = asyncio.create_task(binder.run(), name="local volumes")
    try:
        yield binder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class BackgroundVolumes:
    """A `VolumeBinder` on the cluster of `kubeconfig`, in a thread with its own event
    loop, for `just up`'s synchronous start and stop."""

    def __init__(self, kubeconfig: Path, storage_class: str) -> None:
        self.kubeconfig = kubeconfig
        self.storage_class = storage_class
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="local volumes", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Start binding; return once the StorageClass exists."""
        self.thread.start()
        if not self.ready.wait(timeout):
            raise RuntimeError(f"the volume binder did not start within {timeout:.0f}s")

    def stop(self) -> None:
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        if self.thread.is_alive():
            self.thread.join(5)

    def _run(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(self._bind())

    async def _bind(self) -> None:
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        api = await new_client_from_config(config_file=str(self.kubeconfig), persist_config=False)
        try:
            async with bound_volumes(api, self.storage_class):
                self.ready.set()
                await asyncio.Event().wait()  # until cancelled by `stop`
        finally:
            await api.close()
