"""A stand-in for a storage driver on the kwok control plane, which has none: every claim
of the StorageClass `storefleet-test` gets a fresh hostPath PersistentVolume bound to it
(as an external provisioner would create one), and the volume goes when its claim goes.
Without it, pods with volume claims are never scheduled. The real PV controller in
kube-controller-manager does the binding; this only creates and deletes volumes.

`hold(namespace)` keeps a namespace's claims unbound until `release(namespace)`: a
test's way to make storage slow, so a store stays mid-provisioning as long as it likes.
Used by tests/provisioner/conftest.py and tests/bench/bench_provisioner.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

STORAGE_CLASS = "storefleet-test"
PROVISIONER = "storefleet.test/fake-volumes"
log = logging.getLogger(__name__)


class VolumeProvisioner:
    def __init__(self, api: client.ApiClient, storage_class: str = STORAGE_CLASS) -> None:
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
        with contextlib.suppress(ApiException):
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
                    await self._follow()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the API server restarts in some tests
                    log.warning("fake volumes: watch interrupted: %s", exc)
                    await asyncio.sleep(0.5)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, work: Any) -> None:
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
        volume = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"pv-{meta['uid']}", "labels": {"storefleet.test/fake": "1"}},
            "spec": {
                "capacity": {"storage": claim["spec"]["resources"]["requests"]["storage"]},
                "accessModes": claim["spec"]["accessModes"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": self.storage_class,
                "hostPath": {"path": f"/var/lib/fake-volumes/{meta['uid']}"},
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "namespace": meta["namespace"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            },
        }
        try:
            await self.core.create_persistent_volume(volume)
        except ApiException as exc:
            if exc.status != 409:
                log.warning(
                    "fake volumes: could not create %s: %s", volume["metadata"]["name"], exc
                )

    async def _delete_volume(self, claim: dict[str, Any]) -> None:
        with contextlib.suppress(ApiException):
            await self.core.delete_persistent_volume(f"pv-{claim['metadata']['uid']}")
