"""What the backup keeper's tests share: stores and backups made by publishing real events
that a real auditor folds, a backup's objects put in the real bucket through pre-signed
URLs (as a backup Job does), and the stream read back."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared import backup_keys
from shared.events import Envelope, new_event, parse_event
from shared.jetstream import publish_event
from shared.objectstore import ObjectStore
from tests.auditor.lifecycle import consumer_caught_up, eventually

SHA = "ab" * 32
OBJECTS = ("database.dump", "files.tar", "manifest.json")


class Shop:
    """Publishes one store's events on the test's stream, each at a chosen time."""

    def __init__(self, js: JetStreamContext, stream: str, plan: str = "small") -> None:
        self.js, self.stream, self.plan = js, stream, plan
        self.id = str(uuid.uuid4())

    async def send(self, kind: str, data: dict[str, Any], at: datetime) -> Envelope:
        envelope = new_event(
            kind, self.id, data, actor="test", correlation_id="test", occurred_at=at
        )
        await publish_event(self.js, envelope, stream=self.stream)
        return envelope

    async def ready(self, at: datetime) -> None:
        requested = {
            "name": "Shop",
            "slug": f"shop-{self.id[:8]}",
            "engine": "woocommerce",
            "plan": self.plan,
            "owner": str(uuid.uuid4()),
            "namespace": f"store-shop-{self.id[:8]}",
        }
        await self.send("requested", requested, at - timedelta(minutes=5))
        await self.send("ready", {"url": "https://shop.test"}, at)

    async def delete(self, at: datetime) -> None:
        await self.send("delete", {"requested_by": "owner"}, at - timedelta(minutes=1))
        await self.send("deleted", {"namespace": f"store-shop-{self.id[:8]}"}, at)

    async def backup(
        self, at: datetime, reason: str = "on_demand", backup_id: str | None = None
    ) -> str:
        """A backup requested at `at` (and nothing more: it is under way)."""
        bid = backup_id or str(uuid.uuid4())
        data = {"backup_id": bid, "reason": reason, "requested_by": "owner"}
        await self.send("backup.requested", data, at)
        return bid

    async def finish(self, bid: str, at: datetime, storage: ObjectStore) -> None:
        """The backup's objects written, then `completed` and `verified` published."""
        await put_backup(storage, self.id, bid)
        completed = {
            "backup_id": bid,
            "engine": "woocommerce",
            "engine_version": "6.5",
            "plan": self.plan,
            "size": 3 * len(bid),
            "objects": {name: {"size": len(bid), "sha256": SHA} for name in OBJECTS[:2]},
            "manifest": storage.backup_key(self.id, bid, "manifest.json"),
            "seconds": 1.0,
        }
        await self.send("backup.completed", completed, at)
        await self.send("backup.verified", {"backup_id": bid, "ok": True, "orders": 3}, at)


async def put(storage: ObjectStore, key: str, body: bytes) -> None:
    url = await storage.presign_put(key)
    async with aiohttp.ClientSession() as http, http.put(url, data=body) as resp:
        assert resp.status == 200, await resp.text()


async def put_backup(
    storage: ObjectStore, store_id: str, backup_id: str, names: Iterable[str] = OBJECTS
) -> None:
    for name in names:
        await put(storage, storage.backup_key(store_id, backup_id, name), backup_id.encode())


async def backups_in_bucket(storage: ObjectStore, store_id: str) -> set[str]:
    """The ids of the backups that have any object, or unfinished upload, in the bucket."""
    prefix = backup_keys.store_prefix(storage.prefix, store_id)
    keys = [o.key for o in await storage.list_objects(prefix)]
    keys += [u.key for u in await storage.list_uploads(prefix)]
    return {key[len(prefix) :].split("/")[1] for key in keys}


async def folded(js: JetStreamContext, stream: str) -> None:
    await eventually(lambda: consumer_caught_up(js, stream), what="auditor caught up")


async def last_seq(js: JetStreamContext, stream: str) -> int:
    return int((await js.stream_info(stream)).state.last_seq)


async def stream_events(
    js: JetStreamContext, stream: str, store_id: str | None = None, after: int = 0
) -> list[Envelope]:
    """Every event on the stream after sequence `after` (of one store, if named)."""
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=after + 1,
        inactive_threshold=10.0,
    )
    sub = await js.pull_subscribe("store.>", stream=stream, config=config)
    found: list[Envelope] = []
    try:
        while True:
            try:
                msgs = await sub.fetch(500, timeout=0.5)
            except TimeoutError:
                break
            found += [parse_event(m.data) for m in msgs]
    finally:
        await sub.unsubscribe()
    return [e for e in found if store_id is None or e.store_id == store_id]


def of_type(events: list[Envelope], kind: str) -> list[Envelope]:
    return [e for e in events if e.type == kind]  # type: ignore[attr-defined]
