"""The whole platform for the dashboard's end-to-end test: the gateway, provisioner, reaper
and auditor as `python -m services.<name>` subprocesses over this test's own database and
`store.>` stream, the session's real control plane (with the session's stand-in storage
driver, so store volumes bind), the built dashboard, and Debian's Chromium driven
by Playwright's client library. No browser is ever downloaded. Pages that need no
provisioner use the in-process gateway of tests/gateway (`make_gateway`) instead.

Each service gets only environment settings, as a deployment would; logs go to the test's
tmp dir and their tails are printed when a service fails to become ready.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException
from playwright.async_api import Browser, async_playwright

from devtools import procs
from devtools.cluster import ensure_binaries
from devtools.dashboard import ensure_dashboard
from devtools.launcher import ROOT, SERVICES, service_argv, start_service
from devtools.nats import LocalNats
from devtools.volumes import VolumeBinder
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.fixtures.cluster import KubeCluster
from tests.fixtures.nats import ExternalNats
from tests.gateway.conftest import gateway_stream, make_gateway
from tests.helpers.serving import wait_answering

READY_SECONDS = 90.0
# The in-process gateway of tests/gateway, for pages that need no provisioner.
__all__ = ["gateway_stream", "make_gateway"]


@dataclass
class RunningPlatform:
    """Where the platform answers, how to add users to it, and the stores it made."""

    url: str
    env: dict[str, str]
    logs: Path
    store_ids: set[str] = field(default_factory=set)

    def add_user(self, name: str) -> str:
        """`python -m services.gateway users add NAME`, as an operator would; the password."""
        done = subprocess.run(
            service_argv("gateway", "users", "add", name),
            env={**os.environ, **self.env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()


@pytest.fixture(scope="session")
def dashboard() -> Path:
    """web/dist, built now when missing or older than its sources."""
    return ensure_dashboard()


def _service_env(
    name: str, base: dict[str, str], health_port: int, helm: Path, storage_class: str
) -> dict[str, str]:
    env = {**base, "STOREFLEET_HEALTH_PORT": str(health_port)}
    if name == "provisioner":
        env |= {"STOREFLEET_HELM_BINARY": str(helm), "STOREFLEET_STORAGE_CLASS": storage_class}
    if name == "reaper":
        # The session's cluster holds other tests' store namespaces: not orphans of ours.
        env |= {
            "STOREFLEET_ORPHAN_GRACE_SECONDS": "86400",
            "STOREFLEET_DELETION_POLL_SECONDS": "0.5",
        }
    return env


@pytest.fixture
async def platform(
    dashboard: Path,
    database_url: str,
    nats_server: LocalNats | ExternalNats,
    stores_stream_name: str,
    kube_cluster: KubeCluster,
    kube_api: ApiClient,
    volume_binder: VolumeBinder,
    tmp_path: Path,
) -> AsyncIterator[RunningPlatform]:
    port = procs.free_port()
    base = {
        "STOREFLEET_DATABASE_URL": database_url,
        "STOREFLEET_STREAM_NAME": stores_stream_name,
        "STOREFLEET_KUBECONFIG": str(kube_cluster.kubeconfig),
        "STOREFLEET_HEALTH_HOST": "127.0.0.1",
        "STOREFLEET_HTTP_HOST": "127.0.0.1",
        "STOREFLEET_HTTP_PORT": str(port),
        "STOREFLEET_COOKIE_SECURE": "false",
        "STOREFLEET_WEB_DIST": str(dashboard),
        "STOREFLEET_OUTBOX_POLL_SECONDS": "0.5",
    }
    running = RunningPlatform(f"http://127.0.0.1:{port}", base, tmp_path / "logs")
    helm = ensure_binaries() / "helm"
    children: list[subprocess.Popen[bytes]] = []
    try:
        # The gateway first: it applies the migrations the others rely on.
        for name in SERVICES:
            health = procs.free_port()
            env = _service_env(name, base, health, helm, volume_binder.storage_class)
            env |= nats_server.service_env(name)
            log = running.logs / f"{name}.log"
            children.append(start_service(name, log, env))
            await wait_answering(
                f"http://127.0.0.1:{health}/readyz", log, children[-1], READY_SECONDS
            )
        yield running
    finally:
        for child in reversed(children):
            procs.stop(child, timeout=25)
        await _delete_namespaces(kube_api, running.store_ids)


async def _delete_namespaces(api: ApiClient, store_ids: set[str]) -> None:
    """Whatever namespaces this test's stores still have (a store left undeleted)."""
    core = CoreV1Api(api)
    for store_id in store_ids:
        found = await core.list_namespace(label_selector=f"storefleet.io/store-id={store_id}")
        for ns in found.items:
            with contextlib.suppress(ApiException):
                await core.delete_namespace(ns.metadata.name)


@pytest.fixture(scope="session")
def chromium() -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (Debian's package)")
    yield CHROMIUM


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()
