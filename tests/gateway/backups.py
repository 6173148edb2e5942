"""Helpers for the backup tests: the events the provisioner would publish about a backup
or a restore, folded into the `backups` table and the projection by the auditor's own
batch (`services.auditor.store.store_batch`), as the gateway tests run no auditor."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from datetime import datetime
from typing import Any

from services.auditor.projection import AuditEvent
from services.auditor.store import store_batch
from shared.events import Envelope, new_event
from tests.gateway.conftest import Harness, stream_messages

SHA = "ab" * 32
_SEQ = itertools.count(1_000)


def completed(backup_id: str, engine: str = "woocommerce") -> dict[str, Any]:
    return {
        "backup_id": backup_id,
        "engine": engine,
        "engine_version": "6.5.2",
        "plan": "small",
        "size": 4096,
        "objects": {
            "database": {"size": 4000, "sha256": SHA},
            "files": {"size": 96, "sha256": SHA},
        },
        "manifest": f"manifest/{backup_id}.json",
        "seconds": 2.5,
    }


def backup_steps(backup_id: str, until: str, engine: str = "woocommerce") -> list[tuple[str, Any]]:
    """The events of one scheduled backup up to `until`: requested, started, completed,
    verified (ok, 12 orders) or failed (verification failed)."""
    steps: list[tuple[str, Any]] = [
        (
            "backup.requested",
            {"backup_id": backup_id, "reason": "scheduled", "requested_by": "reaper"},
        ),
        ("backup.started", {"backup_id": backup_id, "worker": "provisioner-0"}),
        ("backup.completed", completed(backup_id, engine)),
        ("backup.verified", {"backup_id": backup_id, "ok": True, "orders": 12, "seconds": 3.0}),
    ]
    if until == "failed":
        failed = {"backup_id": backup_id, "ok": False, "reason": "no orders table"}
        return [*steps[:3], ("backup.verified", failed)]
    if until == "deleted":
        return [*steps, ("backup.deleted", {"backup_id": backup_id, "reason": "retention"})]
    names = ["requested", "running", "completed", "verified"]
    return steps[: names.index(until) + 1]


async def fold(
    gateway: Harness, store_id: str, steps: list[tuple[str, Any]], at: datetime | None = None
) -> None:
    """Fold the events through the auditor's batch, in this order; all occurred `at`
    (now by default)."""
    envelopes = [
        new_event(kind, store_id, data, actor="provisioner", correlation_id="tests", occurred_at=at)
        for kind, data in steps
    ]
    await fold_envelopes(gateway, envelopes)


async def fold_envelopes(gateway: Harness, envelopes: list[Envelope]) -> None:
    events = [AuditEvent.from_envelope(e, next(_SEQ), e.to_bytes().decode()) for e in envelopes]
    async with gateway.pool.acquire() as conn:
        await store_batch(conn, events)


async def backup_of(
    gateway: Harness,
    store_id: str,
    until: str = "verified",
    engine: str = "woocommerce",
    at: datetime | None = None,
) -> str:
    """A backup of the store that got as far as `until`, its events all `at`; its id."""
    backup_id = str(uuid.uuid4())
    await fold(gateway, store_id, backup_steps(backup_id, until, engine), at)
    return backup_id


async def published(gateway: Harness, subject: str, count: int) -> list[dict[str, Any]]:
    """The envelopes on `subject` once the relay has published `count` of them."""
    for _ in range(100):
        messages = await stream_messages(gateway.js, gateway.settings.stream_name, subject)
        if len(messages) >= count:
            return [json.loads(m.data) for m in messages]
        await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {count} messages on {subject}")
