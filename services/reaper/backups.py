"""The backup keeper: the reaper's leader schedules backups, removes the ones their plan
lets go, fails backups and restores that are stuck, and reports each store's backup age.

Called from `services.reaper.app` when backups are enabled. Every `interval`, the replica
holding the backup lock (`BACKUP_LOCK_KEY`, apart from the namespace sweeps') reads the
stores and their backups, asks `services.reaper.backup_plan` what to do, and does it:

- publishes `backup.failed` (code `stuck`) for each stuck backup and `restore.failed`
  (code `stuck`) for each stuck restore;
- publishes `backup.requested` (reason `scheduled`) for the stores that are due, at most
  a setting's worth per pass;
- sets `storefleet_store_backup_age_seconds` and `..._max_age_seconds` per store, and
  drops the series of stores that are gone, or suspended (or suspending, or resuming);
- removes each expired backup from the bucket, manifest first (a backup without its
  manifest does not exist), then its unfinished uploads and every other object, and only
  then publishes `backup.deleted`: a crash in between removes again, which is harmless,
  instead of recording as deleted a backup whose objects are still there;
- now and then (a setting), lists the bucket for objects of backups the database does
  not know and removes those untouched for a day.

Every event has a deterministic id (`services.reaper.notices`), so a second leader or a
pass repeated after a crash publishes nothing new. When the object storage cannot be
reached, the pass logs it, leaves removals for the next pass and does the rest.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from services.reaper import metrics, notices
from services.reaper.backup_plan import (
    MANIFEST,
    BackupPlan,
    KeeperPolicy,
    OrphanScan,
    Removal,
    StoredObject,
    backup_of_key,
    plan_backups,
    plan_orphans,
)
from services.reaper.backup_records import BackupRecords
from services.reaper.deletion import Publish
from services.reaper.sweeper import SweeperLock, lead
from shared import backup_keys
from shared.events import Envelope
from shared.objectstore import ObjectStore, ObjectStoreError, ObjectStoreUnavailable
from shared.plans import Plan

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PassReport:
    plan: BackupPlan
    published: int  # events new to the stream (a repeated one is not counted)
    removed: int  # backups whose objects were removed and their deletion published
    orphans: OrphanScan | None = None  # None when the pass did not scan
    storage_error: str = ""  # why removals were left for the next pass


class BackupKeeper:
    def __init__(
        self,
        lock: SweeperLock,
        records: BackupRecords,
        storage: ObjectStore,
        publish: Publish,
        plans: Mapping[str, Plan],
        policy: KeeperPolicy,
        interval: float,
        orphan_scan_every: timedelta = timedelta(hours=1),
    ) -> None:
        self._lock = lock
        self._records = records
        self._storage = storage
        self._publish = publish
        self._plans = plans
        self._policy = policy
        self._interval = interval
        self._orphan_scan_every = orphan_scan_every
        self._last_orphan_scan: datetime | None = None
        self._gauged: set[tuple[str, str]] = set()

    async def run(self, stopping: asyncio.Event) -> None:
        """A pass every `interval` while this replica holds the backup lock."""
        await lead(self._lock, self._interval, stopping, self._pass_logged, metrics.BACKUP_LEADER)

    async def _pass_logged(self) -> None:
        try:
            report = await self.pass_once(datetime.now(UTC))
        except Exception:
            metrics.BACKUP_PASSES.labels("failed").inc()
            log.exception("backup pass failed")
            return
        metrics.BACKUP_PASSES.labels("degraded" if report.storage_error else "ok").inc()
        plan = report.plan
        log.info(
            "backup pass done",
            requested=len(plan.requests),
            deferred=plan.deferred,
            removed=report.removed,
            stuck_backups=len(plan.stuck_backups),
            stuck_restores=len(plan.stuck_restores),
            published=report.published,
        )

    async def pass_once(self, now: datetime) -> PassReport:
        """One pass as of `now`, lock or not (the caller decides)."""
        stores = await self._records.stores()
        plan = plan_backups(stores, await self._records.backups(), self._plans, now, self._policy)
        if plan.unknown_plans:
            log.warning(
                "stores on plans missing from the catalog: scheduled with the default policy,"
                " none of their backups removed",
                plans=sorted(plan.unknown_plans),
            )
        published = await self._fail_stuck(plan, now) + await self._request(plan, now)
        self._report_freshness(plan)
        removed, orphans, error = 0, None, ""
        try:
            removed = await self._remove_all(plan.removals, now)
            orphans = await self._scan_orphans(now)
        except ObjectStoreUnavailable as exc:
            error = str(exc)
            log.warning("object storage unavailable; removals wait for the next pass", error=error)
        return PassReport(plan, published + removed, removed, orphans, error)

    async def _send(self, envelope: Envelope) -> bool:
        """Publish; True when the stream did not hold this event already."""
        ack = await self._publish(envelope)
        return not getattr(ack, "duplicate", False)

    async def _fail_stuck(self, plan: BackupPlan, now: datetime) -> int:
        sent = 0
        for stuck in plan.stuck_backups:
            b = stuck.backup
            log.warning("stuck backup", store_id=b.store_id, backup_id=b.id, why=stuck.why)
            event = notices.backup_stuck(b.store_id, b.id, b.last_event_seq, stuck.why, now)
            if await self._send(event):
                metrics.BACKUPS_STUCK.inc()
                sent += 1
        for restore in plan.stuck_restores:
            store_id = restore.store.id
            backup_id = await self._records.restored_backup(store_id, restore.restore_id)
            if backup_id is None:
                log.error(
                    "stuck restore whose backup the stream no longer names; left alone",
                    store_id=store_id,
                    restore_id=restore.restore_id,
                )
                continue
            log.warning("stuck restore", store_id=store_id, restore_id=restore.restore_id)
            event = notices.restore_stuck(store_id, restore.restore_id, backup_id, restore.why, now)
            if await self._send(event):
                metrics.RESTORES_STUCK.inc()
                sent += 1
        return sent

    async def _request(self, plan: BackupPlan, now: datetime) -> int:
        metrics.BACKUPS_DEFERRED.set(plan.deferred)
        sent = 0
        for request in plan.requests:
            if await self._send(notices.backup_requested(request.store_id, request.backup_id, now)):
                metrics.BACKUPS_REQUESTED.inc()
                sent += 1
                log.info(
                    "scheduled backup requested",
                    store_id=request.store_id,
                    backup_id=request.backup_id,
                    slot=request.slot.isoformat(),
                )
        return sent

    def _report_freshness(self, plan: BackupPlan) -> None:
        current = set()
        for fresh in plan.freshness:
            labels = (fresh.store_id, fresh.plan)
            metrics.BACKUP_AGE.labels(*labels).set(fresh.age.total_seconds())
            metrics.BACKUP_MAX_AGE.labels(*labels).set(fresh.max_age.total_seconds())
            current.add(labels)
        for labels in self._gauged - current:
            metrics.BACKUP_AGE.remove(*labels)
            metrics.BACKUP_MAX_AGE.remove(*labels)
        self._gauged = current

    async def _remove_all(self, removals: tuple[Removal, ...], now: datetime) -> int:
        removed = 0
        for removal in removals:
            try:
                await self._remove_objects(removal.store_id, removal.backup_id)
            except ObjectStoreUnavailable:
                raise  # the next removal would fail alike: leave them all for later
            except ObjectStoreError as exc:
                log.error("backup not removed", backup_id=removal.backup_id, error=str(exc))
                continue
            event = notices.backup_deleted(removal.store_id, removal.backup_id, removal.reason, now)
            if await self._send(event):
                metrics.BACKUPS_DELETED.labels(removal.reason).inc()
                removed += 1
                log.info(
                    "backup removed",
                    store_id=removal.store_id,
                    backup_id=removal.backup_id,
                    reason=removal.reason,
                )
        return removed

    async def _remove_objects(self, store_id: str, backup_id: str) -> None:
        """Manifest first, so an interrupted removal never leaves a backup that looks whole."""
        storage = self._storage
        prefix = backup_keys.backup_prefix(storage.prefix, store_id, backup_id)
        await storage.delete(prefix + MANIFEST)
        for upload in await storage.list_uploads(prefix):
            await storage.abort_upload(upload.key, upload.upload_id)
        await storage.delete_prefix(prefix)

    async def _scan_orphans(self, now: datetime) -> OrphanScan | None:
        last = self._last_orphan_scan
        if last is not None and now - last < self._orphan_scan_every:
            return None
        root = backup_keys.root(self._storage.prefix)
        everything = f"{root}stores/"
        found = [
            StoredObject(o.key, o.last_modified)
            for o in await self._storage.list_objects(everything)
        ]
        found += [
            StoredObject(u.key, u.initiated) for u in await self._storage.list_uploads(everything)
        ]
        ids = {parsed[1] for o in found if (parsed := backup_of_key(root, o.key))}
        known = await self._records.statuses(i for i in ids if _is_uuid(i))
        scan = plan_orphans(root, found, known, now)
        for orphan in scan.unknown:
            metrics.BACKUP_ORPHANS.labels("reported").inc()
            log.warning("backup unknown to the database; left alone", **orphan.__dict__)
        for orphan in scan.remove:
            if not (_is_uuid(orphan.store_id) and _is_uuid(orphan.backup_id)):
                log.warning("object outside the backup layout; left alone", **orphan.__dict__)
                continue
            await self._remove_objects(orphan.store_id, orphan.backup_id)
            metrics.BACKUP_ORPHANS.labels("removed").inc()
            log.info("orphaned backup objects removed", **orphan.__dict__)
        self._last_orphan_scan = now
        return scan


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
