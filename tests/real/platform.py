"""The platform as an operator installs it and a shop owner uses it, on a real cluster.

`install` runs `helm install --wait -f values-local.yaml` into a namespace enforcing Pod
Security `restricted`; `add_user` runs `users add` with `kubectl exec`, as
docs/operations.md says. `Gateway` is the REST API and the live stream through the
ingress controller at the dashboard's host, signed in as one user with an API token;
`Watch` follows the stream and hands out each store's outcome. `shop` is a session on a
store's own host through the same ingress controller.

Used by the tests in this package and by `just bench stores`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from devtools.cluster import ensure_binaries
from tests.chart.helm import CHART
from tests.gateway.sse_client import Frame, next_frame
from tests.node.conftest import Kubectl, restricted_namespace

NAMESPACE = "storefleet"
RELEASE = "storefleet"
DASHBOARD_HOST = "storefleet.localhost"
BASE_DOMAIN = "stores.localhost"
VALUES_LOCAL = CHART / "values-local.yaml"
TERMINAL = ("ready", "failed")


def helm(kubeconfig: Path, *args: str, timeout: int = 600) -> str:
    """The helm the tests build (scripts/build-cluster-bins.sh), against `kubeconfig`."""
    argv = [str(ensure_binaries() / "helm"), f"--kubeconfig={kubeconfig}", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def install(kubeconfig: Path, kubectl: Kubectl, values: Sequence[Path] = ()) -> None:
    """The platform chart with values-local.yaml (and any further values files), every
    pod Ready, into a namespace that enforces Pod Security `restricted`."""
    kubectl.apply(restricted_namespace(NAMESPACE))
    files = [arg for path in (VALUES_LOCAL, *values) for arg in ("-f", str(path))]
    try:
        helm(kubeconfig, "install", RELEASE, str(CHART), "-n", NAMESPACE, *files,
             "--wait", "--timeout=5m")  # fmt: skip
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{pods_report(kubectl)}") from None


def pods_report(kubectl: Kubectl) -> str:
    """What a failed install leaves to read: every pod, the platform's Service endpoints,
    the cluster's latest events, and the last lines of every container of each pod that
    is not Ready (the node's add-ons too: DNS and network policy live there)."""
    lines = [kubectl("get", "pods", "-A", "-o", "wide", check=False)]
    lines.append(kubectl("get", "endpointslices", "-n", NAMESPACE, check=False))
    events = kubectl("get", "events", "-A", "--sort-by=.lastTimestamp", check=False)
    lines.extend(events.splitlines()[-30:])
    for pod in kubectl.get("pods", "-A")["items"]:
        conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        if conditions.get("Ready") != "True":
            name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
            logs = kubectl("logs", "-n", namespace, name, "--all-containers", "--tail=40",
                           "--prefix", check=False)  # fmt: skip
            lines.append(f"--- {name} (not Ready)\n{logs}")
    return "\n".join(lines)


def add_user(kubectl: Kubectl, name: str, *options: str) -> str:
    """`users add` in the gateway's pod; the generated password it prints."""
    out = kubectl("exec", "-n", NAMESPACE, f"deploy/{RELEASE}-gateway", "--",
                  "python", "-m", "services.gateway", "users", "add", name, *options)  # fmt: skip
    return out.strip().splitlines()[-1]


class GatewayError(AssertionError):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} answered {status}: {body[:500]}")
        self.status = status


@dataclass
class Gateway:
    """The REST API through the ingress controller, with one user's API token."""

    http: aiohttp.ClientSession
    ingress_url: str
    token: str = ""

    @classmethod
    async def sign_in(cls, http: aiohttp.ClientSession, ingress_url: str, username: str,
                      password: str) -> Gateway:  # fmt: skip
        """Log in as a browser would, then mint an API token with that session."""
        gateway = cls(http, ingress_url)
        login = {"username": username, "password": password}
        async with http.post(gateway.url("/api/v1/auth/login"), json=login,
                             headers={"Host": DASHBOARD_HOST}) as resp:  # fmt: skip
            if resp.status != 200:
                raise GatewayError("POST", "/auth/login", resp.status, await resp.text())
            cookie = resp.headers["Set-Cookie"].split(";", 1)[0]
        headers = {"Host": DASHBOARD_HOST, "Cookie": cookie,
                   "Origin": f"http://{DASHBOARD_HOST}"}  # fmt: skip
        async with http.post(gateway.url("/api/v1/tokens"), json={"name": "tests"},
                             headers=headers) as resp:  # fmt: skip
            gateway.token = (await resp.json())["token"]
        return gateway

    def url(self, path: str) -> str:
        return f"{self.ingress_url}{path}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Host": DASHBOARD_HOST, "Authorization": f"Bearer {self.token}"}

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        """`/api/v1` + `path`; the JSON answer, or GatewayError on an error status."""
        api = f"/api/v1{path}"
        async with self.http.request(method, self.url(api), json=body,
                                     headers=self.headers) as resp:  # fmt: skip
            text = await resp.text()
            if resp.status >= 400:
                raise GatewayError(method, api, resp.status, text)
            return json.loads(text) if text else None

    async def create_store(self, name: str, engine: str = "medusa") -> dict[str, Any]:
        return dict(await self.call("POST", "/stores", {"name": name, "engine": engine}))

    async def store(self, store_id: str) -> dict[str, Any]:
        return dict(await self.call("GET", f"/stores/{store_id}"))

    async def credentials(self, store_id: str) -> dict[str, str]:
        return dict(await self.call("GET", f"/stores/{store_id}/credentials"))

    async def delete_store(self, store_id: str) -> None:
        await self.call("DELETE", f"/stores/{store_id}")

    @contextlib.asynccontextmanager
    async def watch(self) -> AsyncIterator[Watch]:
        """The live stream (`/api/v1/stream`), open until the block ends."""
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self.http.get(self.url("/api/v1/stream"), headers=self.headers,
                                 timeout=timeout) as resp:  # fmt: skip
            assert resp.status == 200, await resp.text()
            watch = Watch(resp)
            reader = asyncio.create_task(watch.read())
            try:
                yield watch
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader


@dataclass
class Watch:
    """The frames of one open stream, by store."""

    resp: aiohttp.ClientResponse
    frames: dict[str, list[Frame]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    ended: str = ""

    async def read(self) -> None:
        try:
            while True:
                frame = await next_frame(self.resp)
                self.frames.setdefault(frame.data["store_id"], []).append(frame)
                self.changed.set()
        except (aiohttp.ClientError, ValueError) as error:
            self.ended = repr(error)
            self.changed.set()

    def types(self, store_id: str) -> list[str]:
        return [frame.event for frame in self.frames.get(store_id, [])]

    async def outcome(self, store_id: str, within: float, events: Sequence[str] = TERMINAL
                      ) -> Frame:  # fmt: skip
        """The store's first frame of one of `events` (by default `ready` or `failed`), as
        soon as the stream brings it."""
        deadline = time.monotonic() + within
        while True:
            for frame in self.frames.get(store_id, []):
                if frame.event in events:
                    return frame
            left = deadline - time.monotonic()
            assert not self.ended, f"the stream ended: {self.ended}"
            assert left > 0, f"no outcome for {store_id} in {within}s: {self.types(store_id)}"
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)


async def until(check: Callable[[], bool], what: str, within: float) -> None:
    """Wait for `check` (run in a thread: it may call kubectl) to hold."""
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"timed out after {within}s waiting for {what}"
        await asyncio.sleep(1)


def namespace_gone(kubectl: Kubectl, namespace: str) -> bool:
    return not kubectl("get", "namespace", namespace, "--ignore-not-found", "-o", "name").strip()


async def delete_stores(owner: Gateway, kubectl: Kubectl, stores: Sequence[dict[str, Any]],
                        within: float = 300) -> None:  # fmt: skip
    """Delete the stores through the API and wait for their namespaces to go (the node's
    two cores are shared by every store's pods)."""
    for store in stores:
        await owner.delete_store(store["id"])
    for store in stores:
        namespace = store["namespace"]
        gone = functools.partial(namespace_gone, kubectl, namespace)
        await until(gone, f"namespace {namespace} to go", within)


async def served(ingress_url: str, slug: str, within: float = 60) -> float:
    """Wait until the ingress controller routes the store's host to it (its Ingress is
    created last, just before `ready`, and Traefik picks it up within a few seconds);
    the seconds it took."""
    started = time.monotonic()
    async with shop(slug) as http:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{ingress_url}/storefront/config") as resp:
                    if resp.status == 200:
                        return time.monotonic() - started
            assert time.monotonic() - started < within, f"{slug} not served in {within}s"
            await asyncio.sleep(0.2)


def shop(slug: str) -> aiohttp.ClientSession:
    """A session on the store's own host (`<slug>.stores.localhost`), for requests to
    the ingress controller's address."""
    return aiohttp.ClientSession(headers={"Host": f"{slug}.{BASE_DOMAIN}"})
