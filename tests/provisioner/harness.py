"""What the provisioner tests share: a stream of their own on the real `store.>` subjects,
a log of every event in it, requests and deletes published as the gateway would, and the
provisioner itself, either in this process (`running`) or as `python -m
services.provisioner` (`spawn`), configured only through its settings. Tests of deletion
also run the reaper in this process (`reaping`): only it deletes store namespaces.

Each test gets a fresh stream name (STOREFLEET_STREAM_NAME) and its own store ids; the
stream is deleted afterwards (two streams cannot share `store.>`), and so are the store
namespaces the test asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client import ApiClient, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from devtools.launcher import start_service
from services.provisioner.app import main
from services.provisioner.settings import ProvisionerSettings
from services.reaper.app import main as reaper_main
from services.reaper.settings import ReaperSettings
from shared.events import Envelope, new_event, parse_event
from shared.jetstream import ensure_stream, publish_event
from shared.service import Runtime
from shared.subjects import PROVISIONER, stores_stream

OUTCOMES = ("ready", "failed")
# Longer than any test: the in-test reaper's sweep then leaves every namespace alone
# (other tests' namespaces in the same cluster included).
SWEEP_NEVER = 86_400.0


@dataclass(frozen=True)
class Store:
    id: str
    slug: str
    namespace: str
    request: Envelope


@dataclass
class EventLog:
    """Every event of the test's stream, by store, as it arrives."""

    by_store: dict[str, list[Envelope]] = field(default_factory=lambda: defaultdict(list))
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_msg(self, msg: Msg) -> None:
        envelope = parse_event(msg.data)
        self.by_store[envelope.store_id].append(envelope)
        self.changed.set()

    def types(self, store_id: str) -> list[str]:
        return [e.type for e in self.by_store[store_id]]  # type: ignore[attr-defined]

    def of_type(self, store_id: str, event_type: str) -> list[Envelope]:
        return [e for e in self.by_store[store_id] if e.type == event_type]  # type: ignore[attr-defined]

    async def until(self, check: Callable[[], bool], within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while not check():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {within}s waiting for {what}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 1.0))

    async def first(self, store_id: str, types: tuple[str, ...], within: float) -> Envelope:
        def found() -> bool:
            return any(t in types for t in self.types(store_id))

        await self.until(found, within, f"{'/'.join(types)} of store {store_id}")
        return next(e for e in self.by_store[store_id] if e.type in types)  # type: ignore[attr-defined]

    async def outcome(self, store_id: str, within: float = 120.0) -> Envelope:
        return await self.first(store_id, OUTCOMES, within)


@dataclass
class Harness:
    js: JetStreamContext
    nats: Any  # LocalNats or ExternalNats: services connect as their own NATS users
    kubeconfig: Path
    kube: ApiClient
    helm: Path
    storage_class: str
    workdir: Path
    stream: str = field(default_factory=lambda: f"T_PROV_{uuid.uuid4().hex[:10].upper()}")
    events: EventLog = field(default_factory=EventLog)
    stores: list[Store] = field(default_factory=list)
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        spec = stores_stream(name=self.stream)
        await ensure_stream(self.js, spec)
        sub = await self.js.subscribe(
            "store.>", stream=self.stream, ordered_consumer=True, cb=self.events.on_msg
        )
        self._stack.push_async_callback(sub.unsubscribe)

    async def close(self) -> None:
        await self._stack.aclose()
        with contextlib.suppress(Exception):
            await self.js.delete_stream(self.stream)
        core = CoreV1Api(self.kube)
        for store in self.stores:
            with contextlib.suppress(ApiException):
                await core.delete_namespace(store.namespace)

    # -- the provisioner ---------------------------------------------------------------

    def values(self, **overrides: Any) -> dict[str, Any]:
        """The provisioner's settings for this test, by field name."""
        return {
            **self.nats.service_settings("provisioner"),
            "stream_name": self.stream,
            "kubeconfig": str(self.kubeconfig),
            "helm_binary": str(self.helm),
            "storage_class": self.storage_class,
            "kube_qps": 200,
            "kube_burst": 400,
            "health_port": 0,
            "log_level": "info",
            **overrides,
        }

    def env(self, **overrides: Any) -> dict[str, str]:
        """The same settings as the environment variables a deployment would set."""
        return {
            f"STOREFLEET_{k.upper()}": _env_value(v) for k, v in self.values(**overrides).items()
        }

    def settings(self, **overrides: Any) -> ProvisionerSettings:
        return ProvisionerSettings(**self.values(**overrides))

    @contextlib.asynccontextmanager
    async def running(self, **overrides: Any) -> AsyncIterator[Runtime]:
        """The provisioner's `main` in this process until the block ends."""
        settings = self.settings(**overrides)
        async with _in_process("provisioner", lambda r: main(settings, r), _ready) as runtime:
            yield runtime

    @contextlib.asynccontextmanager
    async def reaping(self, database_url: str) -> AsyncIterator[Runtime]:
        """The reaper's `main` on this test's stream until the block ends."""
        settings = ReaperSettings(
            **self.nats.service_settings("reaper"),
            database_url=database_url,
            stream_name=self.stream,
            kubeconfig=str(self.kubeconfig),
            health_port=0,
            deletion_poll_seconds=0.2,
            orphan_grace_seconds=SWEEP_NEVER,
            provisioning_deadline_seconds=SWEEP_NEVER,
            deletion_deadline_seconds=SWEEP_NEVER,
            shutdown_grace_seconds=5,
        )
        async with _in_process("reaper", lambda r: reaper_main(settings, r), _started) as runtime:
            yield runtime

    def spawn(self, log: Path, **overrides: Any) -> subprocess.Popen[bytes]:
        """`python -m services.provisioner` in its own process group, logging to `log`."""
        return start_service("provisioner", log, self.env(**overrides))

    # -- what the gateway would publish -----------------------------------------------

    def new_store(self, name: str = "Corner Shop") -> tuple[str, str, str]:
        store_id = str(uuid.uuid4())
        slug = f"shop-{store_id[:8]}"
        return store_id, slug, f"store-{slug}-{store_id.replace('-', '')[:6]}"

    async def request(
        self,
        *,
        plan: str = "small",
        engine: str = "woocommerce",
        name: str = "Corner Shop",
        ids: tuple[str, str, str] | None = None,
        engine_version: str | None = None,
    ) -> Store:
        """Publish a `store.requested` (for `ids` = `new_store()` when given)."""
        store_id, slug, namespace = ids or self.new_store(name)
        data = {
            "name": name,
            "slug": slug,
            "engine": engine,
            "plan": plan,
            "owner": "user-1",
            "namespace": namespace,
            "engine_version": engine_version,
        }
        event = new_event(
            "requested",
            store_id,
            data,
            actor="user-1",
            correlation_id=f"req-{uuid.uuid4().hex[:8]}",
        )
        store = Store(store_id, slug, namespace, event)
        self.stores.append(store)
        await publish_event(self.js, event, stream=self.stream)
        return store

    async def delete(self, store: Store) -> None:
        event = new_event(
            "delete",
            store.id,
            {"requested_by": "user-1"},
            actor="user-1",
            correlation_id=store.request.correlation_id,
        )
        await publish_event(self.js, event, stream=self.stream)

    async def consumer_settled(self, within: float = 60.0) -> None:
        """Wait until the provisioner consumer has nothing pending or unacked."""
        deadline = time.monotonic() + within
        while True:
            info = await self.js.consumer_info(self.stream, PROVISIONER.durable)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"consumer still busy after {within}s: {info}")
            await asyncio.sleep(0.2)

    async def namespace_exists(self, name: str) -> bool:
        try:
            await CoreV1Api(self.kube).read_namespace(name)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True


def failure_detail(logs: list[dict[str, Any]]) -> str:
    """The raw text (API server, helm) the provisioner logged for operators when a store
    failed, from `structlog.testing.capture_logs`; owners read only the event's reason."""
    failed = [entry for entry in logs if entry.get("event") == "store failed"]
    assert len(failed) == 1, failed
    return str(failed[0]["detail"])


async def _ready(runtime: Runtime, task: asyncio.Task[None], within: float = 30.0) -> None:
    """Like a readiness probe: every check of the service passes, the watch included."""
    deadline = time.monotonic() + within
    while True:
        if task.done():
            task.result()  # raises what stopped it
            raise AssertionError("the provisioner stopped during start-up")
        if "status-watch" in runtime.health.checks and all(
            (await runtime.health.results()).values()
        ):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the provisioner was not ready within {within}s")
        await asyncio.sleep(0.05)


async def _started(runtime: Runtime, task: asyncio.Task[None], within: float = 30.0) -> None:
    """Until the service has opened every resource."""
    deadline = time.monotonic() + within
    while not runtime.health.started:
        if task.done():
            task.result()
            raise AssertionError(f"the {runtime.name} stopped during start-up")
        if time.monotonic() > deadline:
            raise AssertionError(f"the {runtime.name} did not start within {within}s")
        await asyncio.sleep(0.05)


def _env_value(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.2)


Ready = Callable[[Runtime, "asyncio.Task[None]"], Awaitable[None]]


@contextlib.asynccontextmanager
async def _in_process(
    name: str, run: Callable[[Runtime], Coroutine[Any, Any, None]], ready: Ready
) -> AsyncIterator[Runtime]:
    """A service's `main` as a task of this process: started, awaited `ready`, then
    stopped (and awaited) when the block ends."""
    async with AsyncExitStack() as stack:
        runtime = Runtime(name, stack)
        task = asyncio.create_task(run(runtime), name=f"{name} main")
        try:
            await ready(runtime, task)
            yield runtime
        finally:
            runtime.stopping.set()
            await asyncio.wait_for(task, 60)
