"""How a service behaves at the edges of its life: bad settings and unreachable
dependencies at start-up end it with one line, a lost connection later shows in /readyz
and heals, and SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devtools import procs
from devtools.launcher import ROOT, SERVICES, service_argv
from devtools.nats import LocalNats
from devtools.platform_start import Platform
from tests.fixtures.postgres import PostgresServer


async def run_to_exit(
    service: str, env: dict[str, str], timeout: float = 30
) -> tuple[int, list[str]]:
    proc = await asyncio.create_subprocess_exec(
        *service_argv(service),
        cwd=ROOT,
        env={
            **os.environ,
            "STOREFLEET_HEALTH_PORT": str(procs.free_port()),
            "STOREFLEET_CONNECT_TIMEOUT_SECONDS": "2",
            **env,
        },
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, err.decode().strip().splitlines()


async def test_a_wrong_setting_exits_non_zero_with_one_line_naming_it() -> None:
    code, lines = await run_to_exit("auditor", {"STOREFLEET_LOG_LEVEL": "loud"})

    assert code == 2
    assert len(lines) == 1
    assert "STOREFLEET_LOG_LEVEL" in lines[0]


async def test_a_reaper_with_backups_and_no_bucket_exits_naming_the_missing_setting() -> None:
    env = {"STOREFLEET_BACKUPS_ENABLED": "true", "STOREFLEET_BACKUP_S3_ENDPOINT": "https://s3.test"}
    env |= {k: "" for k in os.environ if k.startswith("STOREFLEET_BACKUP_S3_") and k not in env}
    code, lines = await run_to_exit("reaper", env)

    assert code == 2
    assert len(lines) == 1
    assert lines[0].startswith("reaper: invalid setting STOREFLEET_BACKUP_S3_")


def test_dev_up_hands_the_bucket_to_the_provisioner_and_the_reaper_only(tmp_path: Path) -> None:
    platform = Platform()
    platform.env = {"STOREFLEET_DATABASE_URL": "postgresql://o@127.0.0.1/db", "KUBECONFIG": "k"}
    platform.object_store_env = {
        "STOREFLEET_BACKUP_S3_ENDPOINT": "http://127.0.0.1:9000",
        "STOREFLEET_BACKUP_S3_SECRET_KEY": "s3cret",
    }
    env = {name: platform.service_env(name, 8080, tmp_path / "helm") for name in SERVICES}

    for name in ("provisioner", "reaper"):
        assert platform.object_store_env.items() <= env[name].items(), name
    for name in set(SERVICES) - {"provisioner", "reaper"}:
        assert not [k for k in env[name] if "BACKUP" in k], name
    assert env["reaper"]["STOREFLEET_BACKUPS_ENABLED"] == "true"


async def test_an_unreachable_nats_exits_non_zero_naming_the_endpoint(database_url: str) -> None:
    port = procs.free_port()
    code, lines = await run_to_exit(
        "auditor",
        {
            "STOREFLEET_NATS_URL": f"nats://127.0.0.1:{port}",
            "STOREFLEET_DATABASE_URL": database_url,
        },
    )

    assert code == 2
    assert lines == [f"auditor: NATS is unavailable at nats://127.0.0.1:{port}"]


async def test_an_unreachable_postgres_exits_naming_the_endpoint_but_not_the_password() -> None:
    port = procs.free_port()
    code, lines = await run_to_exit(
        "auditor", {"STOREFLEET_DATABASE_URL": f"postgresql://app:hunter2@127.0.0.1:{port}/db"}
    )

    assert code == 2
    assert len(lines) == 1
    assert f"127.0.0.1:{port}" in lines[0]
    assert "hunter2" not in lines[0]


async def test_an_unreachable_api_server_exits_naming_it(  # type: ignore[no-untyped-def]
    tmp_path: Path, nats_server, stores_stream_name: str
) -> None:
    port = procs.free_port()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: dead\n"
        "clusters: [{name: dead, cluster: {insecure-skip-tls-verify: true,"
        f" server: 'https://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: abc}}]\n"
        "contexts: [{name: dead, context: {cluster: dead, user: u}}]\n"
    )
    code, lines = await run_to_exit(
        "provisioner",
        {
            **nats_server.service_env("provisioner"),
            "STOREFLEET_KUBECONFIG": str(kubeconfig),
            "STOREFLEET_STREAM_NAME": stores_stream_name,
            "STOREFLEET_KUBE_REQUEST_TIMEOUT_SECONDS": "3",
        },
    )

    assert code == 2
    assert len(lines) == 1
    assert f"https://127.0.0.1:{port}" in lines[0]


async def readyz(port: int) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as resp:
        return resp.status, await resp.json()


async def wait_for_readiness(port: int, want: int, timeout: float = 30) -> dict[str, object]:
    deadline = asyncio.get_running_loop().time() + timeout
    last: tuple[int, dict[str, object]] | None = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            last = await readyz(port)
            if last[0] == want:
                return last[1]
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"/readyz never answered {want}; last: {last}")


async def test_a_lost_nats_shows_in_readyz_and_heals_when_nats_returns(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    nats = LocalNats(tmp_path / "nats")
    nats.start()
    health_port = procs.free_port()
    env = {
        **os.environ,
        "STOREFLEET_NATS_URL": nats.url,
        "STOREFLEET_HEALTH_PORT": str(health_port),
        "STOREFLEET_DATABASE_URL": await postgres_server.create_database(),
    }
    proc = await asyncio.create_subprocess_exec(
        *service_argv("auditor"),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_for_readiness(health_port, 200)
        nats.stop()
        body = await wait_for_readiness(health_port, 503)
        assert body["checks"] == {"postgres": True, "nats": False}
        nats.start()
        await wait_for_readiness(health_port, 200)

        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        nats.stop()


async def test_the_gateway_stays_ready_while_nats_is_down_and_ready_again_after(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """Its outbox holds the events, so a NATS restart must not take it out of the
    ingress's endpoints (`degraded`, 200); Postgres stays required."""
    nats = LocalNats(tmp_path / "nats")
    nats.start()
    port = procs.free_port()
    database_url = await postgres_server.create_database()
    env = {**os.environ, "STOREFLEET_NATS_URL": nats.url, "STOREFLEET_HEALTH_PORT": str(port),
           "STOREFLEET_HTTP_PORT": str(procs.free_port()),
           "STOREFLEET_DATABASE_URL": database_url}  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *service_argv("gateway"), cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert (await wait_for_readiness(port, 200))["status"] == "ready"
        nats.stop()
        body = await _wait_for_body(port, lambda b: b["checks"].get("nats") is False)
        assert body == {"status": "degraded", "checks": {"postgres": True, "nats": False}}
        nats.start()
        await _wait_for_body(port, lambda b: b["status"] == "ready")
    finally:
        proc.kill()
        await proc.wait()
        nats.stop()


async def _wait_for_body(port: int, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        status, body = await readyz(port)
        if wanted(body):
            assert status == 200, body
            return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("service", ["gateway", "auditor"])
async def test_sigterm_stops_a_service_cleanly(  # type: ignore[no-untyped-def]
    service: str, database_url: str, nats_server, stores_stream_name: str
) -> None:
    port = procs.free_port()
    env = {
        **os.environ,
        "STOREFLEET_NATS_URL": nats_server.url,
        "STOREFLEET_DATABASE_URL": database_url,
        "STOREFLEET_STREAM_NAME": stores_stream_name,
        "STOREFLEET_HEALTH_PORT": str(port),
        "STOREFLEET_HTTP_PORT": str(procs.free_port()),
    }
    proc = await asyncio.create_subprocess_exec(
        *service_argv(service),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_for_readiness(port, 200)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
        assert code == 0, (await proc.stderr.read()).decode()  # type: ignore[union-attr]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
