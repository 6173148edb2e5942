"""Fixtures for the webhook tests: the gateway in-process (tests/gateway/conftest.py) for
registering endpoints, the webhooks service as a real process (`python -m
services.webhooks`, as its own Postgres role and NATS user, on this test's stream) with
a fast retry schedule and 127.0.0.0/8 allowed, and a real receiver on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devtools import procs
from devtools.launcher import start_service
from shared.events import new_event
from shared.jetstream import publish_event
from tests.gateway.conftest import (  # noqa: F401 - fixtures used here
    Harness,
    TestUser,
    gateway,
    gateway_stream,
    make_gateway,
)
from tests.helpers.serving import wait_answering
from tests.webhooks.receiver import Receiver

FAST = {
    "STOREFLEET_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "STOREFLEET_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "STOREFLEET_WEBHOOK_RETRY_FACTOR": "1.5",
    "STOREFLEET_WEBHOOK_MAX_ATTEMPTS": "4",
    "STOREFLEET_WEBHOOK_TIMEOUT_SECONDS": "2",
    "STOREFLEET_WEBHOOK_POLL_SECONDS": "0.1",
    "STOREFLEET_FETCH_TIMEOUT_SECONDS": "0.3",
    "STOREFLEET_SHUTDOWN_GRACE_SECONDS": "3",
}


class Service:
    """One `python -m services.webhooks` process; `kill()` sends SIGKILL."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.ops_url = ""

    async def start(self) -> None:
        port = procs.free_port()
        env = {**self.env, "STOREFLEET_HEALTH_PORT": str(port)}
        self.proc = start_service("webhooks", self.log, env)
        self.ops_url = f"http://127.0.0.1:{port}"
        await wait_answering(f"{self.ops_url}/readyz", self.log, self.proc)

    async def metrics(self) -> dict[str, float]:
        """The service's own samples (storefleet_webhooks_*), by name and labels."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.ops_url}/metrics") as resp:
            text = await resp.text()
        samples = {}
        for line in text.splitlines():
            if line.startswith("storefleet_webhooks_"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is not None:
            procs.stop(self.proc)


StartService = Callable[..., Awaitable[Service]]


@pytest.fixture
async def start_webhooks(
    nats_server: Any,
    service_database_urls: dict[str, str],
    gateway_stream: str,  # noqa: F811
    tmp_path: Path,
) -> AsyncIterator[StartService]:
    started: list[Service] = []

    async def start(**env: str) -> Service:
        values = {
            **nats_server.service_env("webhooks"),
            "STOREFLEET_DATABASE_URL": service_database_urls["webhooks"],
            "STOREFLEET_STREAM_NAME": gateway_stream,
            "STOREFLEET_HEALTH_HOST": "127.0.0.1",
            **FAST,
            **env,
        }
        service = Service(values, tmp_path / f"webhooks-{len(started)}.log")
        started.append(service)
        await service.start()
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.start()
    yield found
    await found.close()


async def register(
    harness: Harness, user: TestUser, receiver: Receiver, path: str, **body: Any
) -> dict[str, Any]:
    """Register `receiver`'s `path` (kind/name) as an endpoint; remembers its secret."""
    payload = {"url": f"{receiver.url}/{path}", "event_types": ["progress"], **body}
    async with harness.client(user).post("/api/v1/webhooks", json=payload) as resp:
        assert resp.status == 201, await resp.text()
        created: dict[str, Any] = await resp.json()
    receiver.secrets[path.split("/")[1]] = created["secret"]
    return created


async def publish_progress(
    harness: Harness, store_id: str, count: int, start: int = 0
) -> list[str]:
    """`count` progress events of one store, numbered in `data.message`; their ids."""
    ids = []
    for n in range(start, start + count):
        event = new_event(
            "progress",
            store_id,
            {"wave": "setup", "message": str(n)},
            actor="provisioner",
            correlation_id=str(uuid.uuid4()),
        )
        await publish_event(harness.js, event, stream=harness.settings.stream_name)
        ids.append(event.id)
    return ids
