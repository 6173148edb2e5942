"""The credentials responder: answers the gateway's request-reply on
`shared.subjects.CREDENTIALS_SUBJECT` (plain NATS, outside the stream, so no password is
ever stored in it) from the store's Secret.

Request: `{"store_id": "..."}`. Reply: `{"username", "password", "url"}`, or
`{"error": {"code": "not_found" | "not_ready" | "unavailable", "message": ...}}`:
- `not_found`: no namespace carries the store's id (never provisioned, or deleted);
- `not_ready`: the namespace exists but the store has not been marked ready, or is
  being deleted;
- `unavailable`: the Kubernetes API did not answer.

The store is found by its namespace's `storefleet.io/store-id` label; the URL comes from
the namespace's `storefleet.io/url` annotation. Passwords are never logged. Started by
`app.main`; every replica subscribes in one queue group, so one of them answers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from typing import Any

import nats.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from services.provisioner import metrics
from services.provisioner.kinds import by_kind
from services.provisioner.kubeapi import StoreKube
from services.provisioner.spec import (
    PASSWORD_KEY,
    READY_ANNOTATION,
    STORE_SECRET,
    URL_ANNOTATION,
    USERNAME_KEY,
)
from shared.kube_errors import KubeError
from shared.namespaces import STORE_ID
from shared.subjects import CREDENTIALS_SUBJECT

log = structlog.get_logger(__name__)
QUEUE = "provisioner"
# A label value; anything else cannot be a store id and must not reach a selector.
_ID = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class CredentialsResponder:
    def __init__(self, nc: NATS, kube: StoreKube, subject: str = CREDENTIALS_SUBJECT) -> None:
        self._nc, self._kube, self._subject = nc, kube, subject
        self._sub: Subscription | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(self._subject, queue=QUEUE, cb=self._on_request)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._sub.unsubscribe()
            self._sub = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_request(self, msg: Msg) -> None:
        # One task per request: a slow API call must not hold up the others.
        task = asyncio.create_task(self._respond(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _respond(self, msg: Msg) -> None:
        reply = await self.answer(msg.data)
        result = reply["error"]["code"] if "error" in reply else "ok"
        metrics.CREDENTIALS.labels(result=result).inc()
        try:
            await msg.respond(json.dumps(reply).encode())
        except nats.errors.Error as exc:
            log.warning("could not answer a credentials request", error=type(exc).__name__)

    async def answer(self, raw: bytes) -> dict[str, Any]:
        store_id = _store_id(raw)
        if store_id is None:
            return error("not_found", 'the request must be {"store_id": "<id>"}')
        try:
            return await self._lookup(store_id)
        except KubeError as exc:
            log.warning("credentials lookup failed", store_id=store_id, error=str(exc))
            return error("unavailable", "the cluster did not answer; try again shortly")

    async def _lookup(self, store_id: str) -> dict[str, Any]:
        found = await self._kube.list(by_kind("Namespace"), labels=f"{STORE_ID}={store_id}")
        items = found.get("items") or []
        if not items:
            return error("not_found", f"no store {store_id}")
        namespace = items[0]
        meta = namespace.get("metadata", {})
        annotations = meta.get("annotations") or {}
        if meta.get("deletionTimestamp"):
            return error("not_ready", "the store is being deleted")
        if READY_ANNOTATION not in annotations:
            return error("not_ready", "the store is still being provisioned")
        secret = await self._kube.get(by_kind("Secret"), STORE_SECRET, meta.get("name"))
        data = (secret or {}).get("data") or {}
        if USERNAME_KEY not in data or PASSWORD_KEY not in data:
            return error("not_ready", "the store's credentials are not there yet")
        return {
            "username": _decoded(data[USERNAME_KEY]),
            "password": _decoded(data[PASSWORD_KEY]),
            "url": annotations.get(URL_ANNOTATION, ""),
        }


def _store_id(raw: bytes) -> str | None:
    try:
        request = json.loads(raw)
    except ValueError:
        return None
    store_id = request.get("store_id") if isinstance(request, dict) else None
    return store_id if isinstance(store_id, str) and _ID.match(store_id) else None


def _decoded(value: str) -> str:
    return base64.b64decode(value).decode()
