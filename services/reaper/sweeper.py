"""The reaper's periodic sweep, run by exactly one replica at a time.

Called from `services.reaper.app`. Every `interval`, the replica holding the sweeper
lock gathers a snapshot, asks `services.reaper.sweep_plan` what to do, and does it:
publishes a `delete` request (reason: orphan) for each orphaned store namespace, which
the deletion handler carries out with its guard, waits and events; a `failed` event
(code `provisioning_timeout`) for a store stuck provisioning; a `delete` request
(reason: deletion retried) for a store stuck deleting; a `suspend.failed` or
`resume.failed` (code `stuck`) for a store stuck suspending or resuming; and logs each
namespace stuck in Terminating with what holds it. Sets the sweeper metrics.

The lock is a Postgres session advisory lock (`SWEEPER_LOCK_KEY`) held on a connection
of its own for as long as the replica leads: it is released the moment that connection
closes, so a crashed leader is replaced at the next interval of another replica. Before
each sweep the leader checks the connection still answers, or stands down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import structlog
from prometheus_client import Gauge

from services.reaper import metrics, notices
from services.reaper.deletion import Publish
from services.reaper.namespaces import Namespaces
from services.reaper.records import Records
from services.reaper.sweep_plan import SWEPT, StuckStore, SweepPlan, SweepPolicy, plan_sweep
from shared.events import Envelope

log = structlog.get_logger(__name__)

# Any constants work; each only has to be the same in every reaper (and differ from the
# migrations' lock, shared.db.MIGRATION_LOCK_KEY). The backup passes lead on their own
# lock, so their leader may be another replica than the sweeps'.
SWEEPER_LOCK_KEY = 0x5EE9E6
BACKUP_LOCK_KEY = 0x5EE9E7
LOCK_CHECK_TIMEOUT = 5.0


class SweeperLock:
    """Leadership among reapers: a session advisory lock on a dedicated connection."""

    def __init__(
        self, dsn: str, connect_timeout: float = 10.0, key: int = SWEEPER_LOCK_KEY
    ) -> None:
        self._dsn = dsn
        self._timeout = connect_timeout
        self._key = key
        self._conn: asyncpg.Connection | None = None

    async def hold(self) -> bool:
        """True if this replica leads now: it keeps the lock, or it has just taken it."""
        if self._conn is not None:
            try:
                await self._conn.fetchval("SELECT 1", timeout=LOCK_CHECK_TIMEOUT)
                return True
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                log.warning("lost the sweeper lock connection; standing down")
                await self.release()
        return await self._try_take()

    async def _try_take(self) -> bool:
        conn = None
        try:
            conn = await asyncpg.connect(self._dsn, timeout=self._timeout)
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._key):
                self._conn, conn = conn, None
                log.info("this replica now runs the sweeps")
                return True
            return False
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            log.warning("cannot reach Postgres for the sweeper lock", error=type(exc).__name__)
            return False
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=LOCK_CHECK_TIMEOUT)

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=LOCK_CHECK_TIMEOUT)


async def lead(
    lock: SweeperLock,
    interval: float,
    stopping: asyncio.Event,
    work: Callable[[], Awaitable[None]],
    leader: Gauge,
) -> None:
    """Run `work` every `interval` while this replica holds `lock`, until `stopping`."""
    try:
        while not stopping.is_set():
            leading = await lock.hold()
            leader.set(1 if leading else 0)
            if leading:
                await work()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await stopping.wait()
    finally:
        leader.set(0)
        await lock.release()


@dataclass(frozen=True)
class SweepReport:
    plan: SweepPlan
    published: int


class Sweeper:
    def __init__(
        self,
        lock: SweeperLock,
        namespaces: Namespaces,
        records: Records,
        publish: Publish,
        policy: SweepPolicy,
        interval: float,
    ) -> None:
        self._lock = lock
        self._namespaces = namespaces
        self._records = records
        self._publish = publish
        self._policy = policy
        self._interval = interval

    async def run(self, stopping: asyncio.Event) -> None:
        """Sweep every `interval` while this replica holds the lock, until `stopping`."""
        await lead(self._lock, self._interval, stopping, self._sweep_logged, metrics.LEADER)

    async def _sweep_logged(self) -> None:
        try:
            report = await self.sweep_once()
        except Exception:
            metrics.SWEEPS.labels("failed").inc()
            log.exception("sweep failed")
            return
        metrics.SWEEPS.labels("ok").inc()
        plan = report.plan
        log.info(
            "sweep done",
            orphans=len(plan.orphans),
            stuck=len(plan.stuck),
            terminating=len(plan.terminating),
            published=report.published,
        )

    async def sweep_once(self) -> SweepReport:
        """One sweep, lock or not (the caller decides); returns what it found and did."""
        plan = await self._plan()
        published = 0
        for orphan in plan.orphans:
            ns = orphan.namespace
            metrics.ORPHANS.labels(orphan.reason).inc()
            log.warning(
                "orphaned store namespace",
                namespace=ns.name,
                store_id=orphan.store_id,
                why=orphan.why,
            )
            await self._publish(notices.orphan_delete(orphan.store_id, ns.name, ns.uid, orphan.why))
            published += 1
        for stuck in plan.stuck:
            store = stuck.store
            metrics.STUCK.labels(store.status).inc()
            log.warning("stuck store", store_id=store.id, status=store.status, why=stuck.why)
            await self._publish(_notice(stuck))
            published += 1
        self._report(plan)
        return SweepReport(plan, published)

    async def _plan(self) -> SweepPlan:
        namespaces = await self._namespaces.managed()
        store_ids = {ns.store_id for ns in namespaces if ns.store_id}
        stores = await self._records.stores(store_ids)
        facts = {sid: await self._records.stream_facts(sid) for sid in store_ids - stores.keys()}
        in_transition = await self._records.in_transition(self._policy.shortest_deadline())
        return plan_sweep(namespaces, stores, facts, in_transition, datetime.now(UTC), self._policy)

    def _report(self, plan: SweepPlan) -> None:
        for status in SWEPT:
            metrics.STUCK_NOW.labels(status).set(
                sum(1 for s in plan.stuck if s.store.status == status)
            )
        metrics.TERMINATING.set(len(plan.terminating))
        for ns in plan.terminating:
            log.warning(
                "store namespace stuck terminating",
                namespace=ns.name,
                store_id=ns.store_id,
                since=str(ns.deleting_since),
                held_by=list(ns.holders),
            )
        for ns in plan.unowned:
            log.warning(
                "namespace labeled managed-by=storefleet has no store id; left alone",
                namespace=ns.name,
            )


def _notice(stuck: StuckStore) -> Envelope:
    """The event that ends a stuck store's wait."""
    store = stuck.store
    if stuck.action == "fail":
        return notices.provisioning_timeout(store.id, store.last_event_seq, stuck.why)
    if stuck.action == "redelete":
        return notices.deletion_retry(store.id, store.last_event_seq, stuck.period, stuck.why)
    return notices.operation_stuck(store.id, stuck.operation, stuck.operation_id, stuck.why)
