"""Kubernetes adapter: client setup (kubeconfig or in-cluster), client-side QPS/burst
limits, and API errors translated into the project's own exceptions.

The provisioner and the reaper open one `kube_client` each at start-up and pass it down;
callers wrap API calls in `kube_errors()` and handle `KubeError` subclasses, which say
whether a retry can help (`temporary`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException

from shared.settings import KubeSettings


class KubeError(Exception):
    """An API call failed. `temporary` says whether retrying after a delay may succeed."""

    temporary = False

    def __init__(self, message: str, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class KubeUnavailable(KubeError):
    temporary = True


class NotFound(KubeError):
    pass


class Conflict(KubeError):
    temporary = True


class Forbidden(KubeError):
    """403: RBAC refusal, admission refusal or an exceeded quota."""


class Invalid(KubeError):
    """422 or 400: the API server refused the object itself."""


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
    """An ApiClient whose every request first takes a token from the bucket."""

    def __init__(self, configuration: client.Configuration, bucket: TokenBucket) -> None:
        super().__init__(configuration)
        self.bucket = bucket

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        await self.bucket.acquire()
        return await super().request(*args, **kwargs)


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


def _reason(exc: ApiException) -> tuple[str, str]:
    try:
        body = json.loads(exc.body) if exc.body else {}
    except (TypeError, ValueError):
        body = {}
    return str(body.get("message") or exc.reason or ""), str(body.get("reason") or "")


def translate(exc: BaseException, doing: str) -> KubeError:
    """Our own exception for an API or transport failure while `doing` something."""
    if isinstance(exc, ApiException):
        message, reason = _reason(exc)
        status = exc.status or 0
        text = f"could not {doing}: {message or status}"
        kinds: dict[int, type[KubeError]] = {
            400: Invalid,
            403: Forbidden,
            404: NotFound,
            409: Conflict,
            410: Conflict,
            422: Invalid,
        }
        if status in kinds:
            return kinds[status](text, status, reason)
        return KubeUnavailable(text, status, reason)  # 429 and 5xx: worth retrying
    return KubeUnavailable(f"could not {doing}: {type(exc).__name__}: {exc}")


@asynccontextmanager
async def kube_errors(doing: str) -> AsyncIterator[None]:
    """Translate API and transport errors raised inside the block into `KubeError`s."""
    try:
        yield
    except ApiException as exc:
        raise translate(exc, doing) from exc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise translate(exc, doing) from exc
