"""Kubernetes client: setup (kubeconfig or in-cluster), client-side QPS/burst limits,
and API and transport errors translated into the project's own exceptions, which live in
`shared.kube_errors`.

The provisioner and the reaper open one `kube_client` each at start-up (through
`shared.resources.open_kube`) and pass it down; callers wrap API calls in `kube_errors()`
and handle the `KubeError` subclasses it raises, which say whether a retry can help.

Every request the client sends is counted in `storefleet_kube_requests_total{method}`
(served on `/metrics`), so the API calls a store costs can be measured.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException
from prometheus_client import Counter

from shared.kube_errors import KubeError, KubeUnavailable, from_response, from_transport
from shared.settings import KubeSettings

REQUESTS = Counter(
    "storefleet_kube_requests_total", "Requests sent to the Kubernetes API server", ["method"]
)


class TokenBucket:
    """Client-side rate limit: `qps` tokens a second, up to `burst` saved up."""

    def __init__(self, qps: float, burst: int) -> None:
        self.qps, self.burst = qps, float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.qps)
            self.updated = now
            if self.tokens < 1:
                await asyncio.sleep((1 - self.tokens) / self.qps)
                self.tokens = 1.0
                self.updated = time.monotonic()
            self.tokens -= 1


class LimitedApiClient(client.ApiClient):
    """An ApiClient whose every request first takes a token from the bucket, and is
    counted by HTTP method (a watch is one GET)."""

    def __init__(self, configuration: client.Configuration, bucket: TokenBucket) -> None:
        super().__init__(configuration)
        self.bucket = bucket

    async def request(self, method: str, *args: Any, **kwargs: Any) -> Any:
        await self.bucket.acquire()
        REQUESTS.labels(method=method).inc()
        return await super().request(method, *args, **kwargs)


async def load_configuration(settings: KubeSettings) -> client.Configuration:
    cfg = client.Configuration()
    try:
        if settings.kubeconfig:
            await config.load_kube_config(
                config_file=settings.kubeconfig,
                context=settings.kube_context,
                client_configuration=cfg,
            )
        else:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError) as exc:
        where = settings.kubeconfig or "in-cluster service account"
        raise KubeUnavailable(f"cannot load Kubernetes config from {where}: {exc}") from exc
    return cfg


@asynccontextmanager
async def kube_client(
    settings: KubeSettings, *, check: bool = True
) -> AsyncIterator[client.ApiClient]:
    """A rate-limited ApiClient; with `check`, fail fast if the API server does not answer."""
    cfg = await load_configuration(settings)
    api = LimitedApiClient(cfg, TokenBucket(settings.kube_qps, settings.kube_burst))
    try:
        if check:
            async with kube_errors(f"reach the API server at {cfg.host}"):
                await client.VersionApi(api).get_code(
                    _request_timeout=settings.kube_request_timeout_seconds
                )
        yield api
    finally:
        await api.close()


def translate(exc: BaseException, doing: str) -> KubeError:
    """Our own exception for an API or transport failure while `doing` something."""
    if isinstance(exc, ApiException):
        return from_response(doing, exc.status, exc.body, exc.reason)
    return from_transport(doing, exc)


@asynccontextmanager
async def kube_errors(doing: str) -> AsyncIterator[None]:
    """Translate API and transport errors raised inside the block into `KubeError`s."""
    try:
        yield
    except ApiException as exc:
        raise translate(exc, doing) from exc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise translate(exc, doing) from exc
