"""What the provisioner does to a store's data through the object store and the store's
Jobs: write a backup (`write`), verify one by a throwaway restore (`verify`), and put one
back into a store (`restore`).

A backup is written in this order, so a crash anywhere leaves nothing that looks complete:
every earlier attempt's objects and unfinished uploads under the backup's prefix are
removed; a multipart upload per object is begun and its part URLs pre-signed; the dump Job
streams the database and the file volumes into them and reports each object's size and
SHA-256; the uploads are completed and every object read back and compared; only then is
the manifest written, last. A backup without its manifest does not exist, and a
redelivery that finds the manifest returns it instead of writing again.

The key pair never leaves this process: Jobs get pre-signed URLs for exactly their
objects, valid for the Job's deadline.

Called by `services.provisioner.backups` and `services.provisioner.restores`. Raises
`BackupError` (permanent, with a code and a reason a user can read),
`shared.objectstore.ObjectStoreUnavailable` (temporary), `JobFailed`, `KubeError`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from services.provisioner.backup_jobs import (
    JobSettings,
    backup_job,
    job_name,
    job_plan,
    plan_secret,
)
from services.provisioner.job_runs import run_job
from services.provisioner.kubeapi import StoreKube
from services.provisioner.spec import StoreSpec
from shared import backup_keys
from shared.objectstore import ObjectStore, ObjectStoreError

log = structlog.get_logger(__name__)

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
DATABASE = "database"


class BackupError(Exception):
    """A backup or restore that cannot succeed as asked; retrying will not help."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class BackupRunner:
    kube: StoreKube
    store: ObjectStore
    jobs: JobSettings
    part_size: int
    max_parts: int
    engine_versions: Mapping[str, str]

    @property
    def url_expiry(self) -> timedelta:
        return timedelta(seconds=self.jobs.deadline_seconds + 300)

    def _deadline(self) -> float:
        return time.monotonic() + self.jobs.deadline_seconds + 60

    async def manifest(self, store_id: str, backup_id: str) -> dict[str, Any] | None:
        """The backup's manifest, or None when the backup does not exist (or never finished)."""
        raw = await self.store.read(self.store.backup_key(store_id, backup_id, MANIFEST))
        return None if raw is None else json.loads(raw)

    async def write(
        self, spec: StoreSpec, backup_id: str, attempt: int, reason: str
    ) -> dict[str, Any]:
        """Write the backup (or find it written) and return its manifest."""
        found = await self.manifest(spec.store_id, backup_id)
        if found is not None:
            return found
        started = time.monotonic()
        await self.clear(spec.store_id, backup_id)
        uploads = await self._begin(spec, backup_id)
        job = backup_job(spec, "dump", job_name("dump", backup_id, attempt), backup_id, self.jobs)
        plan = job_plan(spec, "dump", {name: obj for name, (_, _, obj) in uploads.items()})
        try:
            result = await run_job(self.kube, job, lambda made: plan_secret(spec, made, plan),
                                   self._deadline())  # fmt: skip
            objects = await self._finish(uploads, result.get("objects") or {})
        except BaseException:
            await self._abort(uploads)
            raise
        manifest = {
            "format": MANIFEST_FORMAT,
            "store_id": spec.store_id,
            "backup_id": backup_id,
            "reason": reason,
            "engine": spec.engine.name,
            # The store's own version (versions.yaml) once it has one; else the chart's.
            "engine_version": spec.engine_version or self.engine_versions.get(spec.engine.name, ""),
            "plan": spec.plan_name,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.monotonic() - started, 3),
            "objects": objects,
        }
        key = self.store.backup_key(spec.store_id, backup_id, MANIFEST)
        await self.store.put(key, json.dumps(manifest, sort_keys=True).encode())
        return manifest

    async def clear(self, store_id: str, backup_id: str) -> None:
        """Remove whatever an earlier attempt left of the backup: objects and uploads."""
        prefix = backup_keys.backup_prefix(self.store.prefix, store_id, backup_id)
        for upload in await self.store.list_uploads(prefix):
            await self.store.abort_upload(upload.key, upload.upload_id)
        await self.store.delete_prefix(prefix)

    async def _begin(
        self, spec: StoreSpec, backup_id: str
    ) -> dict[str, tuple[str, str, dict[str, Any]]]:
        names = [DATABASE, *(v.name for v in spec.engine.backup.volumes)]
        uploads: dict[str, tuple[str, str, dict[str, Any]]] = {}
        for name in names:
            key = self.store.backup_key(spec.store_id, backup_id, name)
            upload_id = await self.store.create_upload(key)
            urls = [
                await self.store.presign_part(key, upload_id, n, self.url_expiry)
                for n in range(1, self.max_parts + 1)
            ]
            uploads[name] = (key, upload_id, {"part_size": self.part_size, "part_urls": urls})
        return uploads

    async def _finish(
        self, uploads: Mapping[str, tuple[str, str, Any]], reported: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Complete each upload and read it back: the manifest holds what the storage
        holds, and only when it matches what the Job says it wrote."""
        objects: dict[str, Any] = {}
        for name, (key, upload_id, _) in uploads.items():
            claim = reported.get(name)
            if not isinstance(claim, dict):
                raise BackupError("incomplete", f"the backup job reported no {name} object")
            await self.store.complete_upload(key, upload_id)
            found = await self.store.digest(key)
            if (found.size, found.sha256) != (claim.get("size"), claim.get("sha256")):
                raise BackupError(
                    "read_back_mismatch",
                    f"the {name} object read back ({found.size} bytes) is not what the"
                    f" backup job wrote ({claim.get('size')} bytes)",
                )
            objects[name] = {"key": key, "size": found.size, "sha256": found.sha256}
        return objects

    async def _abort(self, uploads: Mapping[str, tuple[str, str, Any]]) -> None:
        for key, upload_id, _ in uploads.values():
            with contextlib.suppress(ObjectStoreError):
                await self.store.abort_upload(key, upload_id)

    async def verify(
        self, spec: StoreSpec, backup_id: str, manifest: Mapping[str, Any], attempt: int
    ) -> int:
        """Restore the backup's database into a throwaway server in a Job; the order count."""
        objects = await self._downloads(manifest, only=(DATABASE,))
        name = job_name("verify", backup_id, attempt)
        job = backup_job(spec, "verify", name, backup_id, self.jobs)
        plan = job_plan(spec, "verify", objects)
        result = await run_job(self.kube, job, lambda made: plan_secret(spec, made, plan),
                               self._deadline())  # fmt: skip
        orders = result.get("orders")
        if not isinstance(orders, int) or orders < 0:
            raise BackupError("verify_no_count", "the verification did not report an order count")
        return orders

    async def restore(
        self, spec: StoreSpec, manifest: Mapping[str, Any], operation_id: str, attempt: int
    ) -> None:
        """Replace the store's database and files with the backup's (the web workloads
        are stopped by the caller)."""
        if manifest.get("engine") != spec.engine.name:
            raise BackupError(
                "engine_mismatch",
                f"the backup is of a {manifest.get('engine')} store, not {spec.engine.name}",
            )
        objects = await self._downloads(manifest)
        name = job_name("restore", operation_id, attempt)
        job = backup_job(spec, "restore", name, operation_id, self.jobs)
        plan = job_plan(spec, "restore", objects)
        await run_job(self.kube, job, lambda made: plan_secret(spec, made, plan),
                      self._deadline())  # fmt: skip

    async def _downloads(
        self, manifest: Mapping[str, Any], only: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        objects: dict[str, Any] = {}
        for name, obj in (manifest.get("objects") or {}).items():
            if only and name not in only:
                continue
            url = await self.store.presign_get(obj["key"], self.url_expiry)
            objects[name] = {"get_url": url, "size": obj["size"], "sha256": obj["sha256"]}
        return objects
