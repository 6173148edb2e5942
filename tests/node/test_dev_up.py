"""`./dev up` (`python -m devtools.platform up`) on a machine that can run containers:
its banner says stores run on the real node, and a store created through the dashboard's
API gets a URL with the ingress controller's port that opens the store's storefront in
Chromium on this machine. Ctrl-C (SIGTERM) stops it all and puts the host back. Run in
a directory of its own (STOREFLEET_RUN_DIR), on ports of its own."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import expect

from devtools import hostnet, node, platform_start, procs
from tests.browser import chromium_page
from tests.node.conftest import REASON
from tests.real.platform import served

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(1500)


@dataclass(frozen=True)
class DevUp:
    proc: subprocess.Popen[bytes]
    banner: str
    gateway: str
    ingress_port: int
    password: str


def _banner(log: Path, proc: subprocess.Popen[bytes], timeout: float = 900) -> str:
    deadline = time.monotonic() + timeout
    while "stop with Ctrl-C" not in (text := log.read_text()):
        assert proc.poll() is None, f"./dev up exited with {proc.returncode}:\n{text[-3000:]}"
        assert time.monotonic() < deadline, f"./dev up not up in {timeout}s:\n{text[-3000:]}"
        time.sleep(1)
    return text


@pytest.fixture(scope="module")
def dev_up() -> Iterator[DevUp]:
    if os.geteuid() != 0:
        pytest.skip(REASON)
    # Not under pytest's private temporary directory: Postgres runs as its own user.
    (REPO / ".run").mkdir(exist_ok=True)
    run = Path(tempfile.mkdtemp(prefix="test-dev-up-", dir=REPO / ".run"))
    run.chmod(0o755)
    port, ingress_port = procs.free_port(), procs.free_port()
    env = {**os.environ, "STOREFLEET_RUN_DIR": str(run), "STOREFLEET_HTTP_PORT": str(port),
           "STOREFLEET_INGRESS_PORT": str(ingress_port)}  # fmt: skip
    for name in ("STOREFLEET_DATABASE_URL", "STOREFLEET_NATS_URL", "KUBECONFIG"):
        env.pop(name, None)
    log = run / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "devtools.platform", "up"], cwd=REPO,
                                env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        banner = _banner(log, proc)
        password = re.search(r"sign in as: admin / (\S+)", banner)
        assert password, banner
        yield DevUp(proc, banner, f"http://127.0.0.1:{port}", ingress_port, password[1])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(180)
        finally:
            if proc.poll() is None:
                proc.kill()
                node.stop_real_cluster()
            shutil.rmtree(run, ignore_errors=True)


def test_dev_up_says_why_stores_run_on_simulated_nodes_where_they_cannot_run_for_real(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STOREFLEET_LOCAL_NODE", "kwok")
    assert platform_start.real_node_unavailable() == "STOREFLEET_LOCAL_NODE=kwok"
    monkeypatch.delenv("STOREFLEET_LOCAL_NODE")
    monkeypatch.setattr(platform_start.shutil, "which", lambda tool: None)
    monkeypatch.setattr(platform_start.os, "geteuid", lambda: 0)
    reason = platform_start.real_node_unavailable()
    assert reason == "containerd and runc not installed (scripts/bootstrap.sh installs them)"
    monkeypatch.setattr(platform_start.os, "geteuid", lambda: 1000)
    assert platform_start.real_node_unavailable() == "the real node needs root"


async def _ready_store(dev: DevUp, name: str) -> dict[str, object]:
    # unsafe: keep the session cookie of an IP address (127.0.0.1)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        login = {"username": "admin", "password": dev.password}
        async with http.post(f"{dev.gateway}/api/v1/auth/login", json=login) as resp:
            assert resp.status == 200, await resp.text()
        origin = {"Origin": dev.gateway}
        async with http.post(f"{dev.gateway}/api/v1/stores", json={"name": name},
                             headers=origin) as resp:  # fmt: skip
            assert resp.status == 202, await resp.text()
            store = await resp.json()
        deadline = time.monotonic() + 600
        while store["status"] in ("requested", "provisioning"):
            assert time.monotonic() < deadline, store
            await asyncio.sleep(3)
            async with http.get(f"{dev.gateway}/api/v1/stores/{store['id']}") as resp:
                store = await resp.json()
    return dict(store)


async def test_a_store_made_in_dev_up_opens_at_its_url_in_a_browser_on_this_machine(
    dev_up: DevUp,
) -> None:
    assert "stores:     run on this machine's real node" in dev_up.banner

    store = await _ready_store(dev_up, "Dev Up Shop")

    assert store["status"] == "ready", store["error"]
    assert store["engine"] == "medusa"  # the default where WordPress cannot be pulled
    assert store["url"] == f"http://{store['slug']}.stores.localhost:{dev_up.ingress_port}"
    await served(f"http://127.0.0.1:{dev_up.ingress_port}", str(store["slug"]))
    async with chromium_page() as page:
        await page.goto(f"{store['url']}/shop")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Dev Up Shop")


def test_stopping_dev_up_stops_the_real_node_and_puts_the_host_back(dev_up: DevUp) -> None:
    dev_up.proc.send_signal(signal.SIGTERM)
    assert dev_up.proc.wait(180) == 0
    assert node.running() is None
    assert not hostnet.STATE.exists()
