"""`/readyz` and `/metrics` are not served on the gateway's public port, which the
dashboard Ingress routes to the internet, but on its health port (issue 19)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devtools import procs
from devtools.launcher import ROOT, service_argv
from tests.chart.helm import VALUES_FILES, Manifest, env_of, named, of_kind, render
from tests.gateway.conftest import MakeGateway


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.text()


@pytest.mark.parametrize("dashboard", [False, True], ids=["api-only", "with-dashboard"])
async def test_the_public_app_answers_404_for_readiness_and_metrics(
    make_gateway: MakeGateway, tmp_path: Path, dashboard: bool
) -> None:
    dist = tmp_path / "dist"
    if dashboard:  # the dashboard serves index.html for its own paths, never for these
        dist.mkdir()
        (dist / "index.html").write_text('<div id="root"></div>')
    gateway = await make_gateway(web_dist=dist)
    public = [await _get(f"{gateway.url}{path}") for path in ("/readyz", "/metrics")]
    ops = [await _get(f"{gateway.ops_url}{path}") for path in ("/readyz", "/metrics")]

    assert [status for status, _ in public] == [404, 404]
    assert "storefleet_gateway_request_seconds" not in public[1][1]
    assert [status for status, _ in ops] == [200, 200]
    assert "storefleet_gateway_request_seconds" in ops[1][1]


async def test_the_gateway_process_serves_readiness_and_metrics_only_on_its_health_port(
    migrated_database_url: str, nats_server: Any, stores_stream_name: str, tmp_path: Path
) -> None:
    http_port, health_port = procs.free_port(), procs.free_port()
    env = {**os.environ, **nats_server.service_env("gateway"),
           "STOREFLEET_DATABASE_URL": migrated_database_url,
           "STOREFLEET_STREAM_NAME": stores_stream_name,
           "STOREFLEET_WEB_DIST": str(tmp_path / "no-dashboard"),
           "STOREFLEET_HTTP_PORT": str(http_port),
           "STOREFLEET_HEALTH_PORT": str(health_port)}  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *service_argv("gateway"), cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await _wait_for_api(http_port)
        public = [await _get(f"http://127.0.0.1:{http_port}{p}") for p in ("/readyz", "/metrics")]
        ops = [await _get(f"http://127.0.0.1:{health_port}{p}") for p in ("/readyz", "/metrics")]
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)

    assert [status for status, _ in public] == [404, 404]
    assert [status for status, _ in ops] == [200, 200]


async def _wait_for_api(port: int) -> None:
    async with asyncio.timeout(60):
        while True:
            try:
                if (await _get(f"http://127.0.0.1:{port}/api/v1/openapi.json"))[0] == 200:
                    return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)


def _container_port(deployment: Manifest, name_or_number: str | int) -> int:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    if isinstance(name_or_number, int):
        return name_or_number
    [port] = [p["containerPort"] for p in container["ports"] if p["name"] == name_or_number]
    return int(port)


def _target(service: Manifest, deployment: Manifest, port_name: str) -> int:
    """The gateway container port behind the Service port `port_name`."""
    [port] = [p for p in service["spec"]["ports"] if p["name"] == port_name]
    return _container_port(deployment, port["targetPort"])


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_the_ingress_routes_only_the_public_port_and_prometheus_scrapes_the_health_port(
    helm_path: Path, values_file: str
) -> None:
    manifests = render(helm_path, values_file, sets=["monitoring.serviceMonitor.enabled=true"])
    service = named(manifests, "Service", "storefleet-gateway")
    deployment = named(manifests, "Deployment", "storefleet-gateway")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    settings = env_of(container)
    public, health = int(settings["STOREFLEET_HTTP_PORT"]), int(settings["STOREFLEET_HEALTH_PORT"])
    routed = {
        _target(service, deployment, path["backend"]["service"]["port"]["name"])
        for ingress in of_kind(manifests, "Ingress")
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
        if path["backend"]["service"]["name"] == "storefleet-gateway"
    }
    [monitor] = of_kind(manifests, "ServiceMonitor")
    scraped = {_target(service, deployment, e["port"]) for e in monitor["spec"]["endpoints"]}
    probed = {
        _container_port(deployment, container[probe]["httpGet"]["port"])
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }

    assert public != health
    assert routed == {public}
    assert scraped == {health}
    assert probed == {health}
