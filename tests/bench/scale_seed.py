"""Stores the scale benchmark (tests/bench/bench_scale.py) puts on the platform without the
provisioner, as a provisioned store leaves them: its objects on the API server (one
store rendered through helm by the provisioner's code, the others copies with their own
names, tests/bench/store_objects.py) and its rows in Postgres, the gateway's
`store_requests` row and the auditor's `store_states` row with status `ready`. The
stream gets no events for them: what the gateway's list, the reaper's sweep and the
dashboard read is the rows and the namespaces.

`Seeder.create` creates a batch and reports the seconds the objects took; the ceiling of
each step is such a batch with every store at once. With `prebound` (the fill) the
stores' volume claims are made already bound (tests/bench/prebound.py) instead of
waiting for kube-controller-manager's PV controller.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from services.provisioner.spec import StoreSpec
from shared.events import Envelope
from tests.bench.prebound import bind, claims_of
from tests.bench.store_objects import Manifest, StoreObjects, create_stores, requested

_REQUEST = """
INSERT INTO store_requests (id, owner_id, name, slug, namespace, engine, plan, engine_version)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::text[])
"""
_STATE = """
INSERT INTO store_states (id, owner_id, name, slug, namespace, engine, plan, engine_version,
                          status, url, created_at, updated_at, ready_at, attempt)
SELECT id, owner_id, name, slug, namespace, engine, plan, engine_version, 'ready',
       'http://' || slug || '.stores.localhost', created_at, now(), now(), 1
FROM store_requests WHERE id = ANY($1::uuid[])
"""


class Seeder:
    """Creates stores owned by `owner` (a user's id) on `objects`' API server and in the
    database at `dsn` (the owner's login: it writes both services' tables)."""

    def __init__(self, objects: StoreObjects, dsn: str, owner: str) -> None:
        self.objects = objects
        self.dsn = dsn
        self.owner = owner
        self.created = 0
        self.last: list[StoreSpec] = []  # the last batch's stores
        self._model: tuple[Envelope, list[Manifest]] | None = None

    async def create(self, count: int, at_once: int = 0, prebound: bool = False) -> float:
        """`count` more stores, `at_once` at a time (0: all); seconds the objects took."""
        model, rendered = await self._rendered()
        events = [requested(self.created + i, "s", self.owner) for i in range(count)]
        stores = [self.objects.copy(rendered, model, e) for e in events]
        if prebound:
            took = await self._create_prebound(stores, at_once)
        else:
            took = await create_stores(self.objects, stores, at_once)
        self.last = [self.objects.spec(e) for e in events]
        await self._record(events)
        self.created += count
        return took

    async def _create_prebound(self, stores: list[list[Manifest]], at_once: int) -> float:
        """Each store's namespace, then its claims bound (before its quota exists, and
        before its StatefulSet would make its own), then the rest."""
        limit = asyncio.Semaphore(at_once or len(stores) or 1)
        api = self.objects.kube.api

        async def one(store: list[Manifest]) -> None:
            rest = [o for o in store if o["kind"] != "PersistentVolumeClaim"]
            async with limit:
                await self.objects.create(rest[:1])
                await asyncio.gather(*(bind(api, claim) for claim in claims_of(store)))
                await self.objects.create(rest[1:])

        started = time.monotonic()
        await asyncio.gather(*(one(store) for store in stores))
        return time.monotonic() - started

    async def _rendered(self) -> tuple[Envelope, list[Manifest]]:
        if self._model is None:
            model = requested(0, "model", self.owner)
            self._model = (model, await self.objects.render(model))
        return self._model

    async def _record(self, events: list[Envelope]) -> None:
        specs = [self.objects.spec(e) for e in events]
        columns = [
            [e.store_id for e in events],
            [self.owner] * len(events),
            [s.name for s in specs],
            [s.slug for s in specs],
            [s.namespace for s in specs],
            [s.engine.name for s in specs],
            [s.plan_name for s in specs],
            [s.engine_version for s in specs],
        ]
        conn = await asyncpg.connect(self.dsn)
        try:
            async with conn.transaction():
                await conn.execute(_REQUEST, *columns)
                await conn.execute(_STATE, columns[0])
        finally:
            await conn.close()
