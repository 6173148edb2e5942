"""What the scale benchmark (tests/bench/bench_scale.py) reads off a running platform at
each size: the memory (RSS) of every service process and control-plane component, etcd's
database size and the API server's object counts, the reaper's sweep run in this process
over the platform's own namespaces, rows and stream, and the gateway's paginated store
list as an administrator sees it (the route of the dashboard's admin view).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from nats.js import JetStreamContext

from devtools.cluster import LocalCluster
from devtools.platform_start import Platform
from services.reaper.app import policy
from services.reaper.namespaces import Namespaces
from services.reaper.records import Records
from services.reaper.settings import ReaperSettings
from services.reaper.sweeper import Sweeper, SweeperLock
from shared.events import Envelope
from shared.subjects import STREAM
from tests.bench.bench_gateway import open_loop, percentile

CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
MIB = 2**20


def rss_mib(pid: int) -> float | None:
    """The resident memory of process `pid` in MiB, or None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return round(kib / 1024, 1)


def memory(platform: Platform) -> dict[str, float | None]:
    """RSS in MiB of each service process and each control-plane component."""
    found = {name: rss_mib(child.pid) for name, child in platform.children.items()}
    assert platform.cluster is not None
    for component in CONTROL_PLANE:
        found[component] = rss_mib(platform.cluster.pid_of(component))
    return found


def etcd_figures(cluster: LocalCluster) -> dict[str, Any]:
    """etcd's database file, and the API server's stored objects by resource (the
    largest ten) and in all."""
    db = cluster.workdir / "etcd" / "member" / "snap" / "db"
    counts: dict[str, int] = {}
    for line in cluster.text("/metrics").splitlines():
        if line.startswith("apiserver_storage_objects{"):
            resource = line.split('resource="', 1)[1].split('"', 1)[0]
            counts[resource] = int(float(line.rsplit(" ", 1)[1]))
    largest = dict(sorted(counts.items(), key=lambda kv: -kv[1])[:10])
    return {
        "etcd_db_mib": round(db.stat().st_size / MIB, 1),
        "objects": sum(counts.values()),
        "largest_resources": largest,
    }


async def sweep(api: ApiClient, dsn: str, js: JetStreamContext, runs: int = 3) -> dict[str, Any]:
    """The reaper's sweep (listing, rows, plan; nothing published), `runs` times; the
    seconds of each and what the last one found."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    published: list[Envelope] = []

    async def keep(event: Envelope) -> None:
        published.append(event)

    settings = ReaperSettings()
    records = Records(pool, js, STREAM)
    sweeper = Sweeper(SweeperLock(dsn), Namespaces(api), records, keep, policy(settings), 60)
    seconds = []
    try:
        for _ in range(runs):
            started = time.monotonic()
            report = await sweeper.sweep_once()
            seconds.append(time.monotonic() - started)
    finally:
        await pool.close()
    return {
        "median_s": round(statistics.median(seconds), 3),
        "runs_s": [round(s, 3) for s in seconds],
        "orphans": len(report.plan.orphans),
        "stuck": len(report.plan.stuck),
        "would_publish": len(published) // runs,
    }


async def store_list(url: str, token: str, rate: float, seconds: float) -> dict[str, Any]:
    """The admin's `GET /api/v1/stores` (default page size, as the dashboard asks): every
    page walked once by cursor, then pages at `rate` a second for `seconds`, open loop,
    each a page of the walk in turn (first, deep and last pages alike)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(url, headers=headers) as http:
        cursors, walk = await _walk(http)

        async def page(session: aiohttp.ClientSession, i: int) -> int:
            params = {"cursor": cursors[i % len(cursors)]} if i % len(cursors) else {}
            async with session.get("/api/v1/stores", params=params) as resp:
                await resp.read()
                return resp.status

        first = await open_loop(http, lambda s, _: page(s, 0), rate, seconds)
        spread = await open_loop(http, page, rate, seconds)
    return {
        "pages": len(cursors),
        "walk_s": round(sum(walk), 2),
        "walk_page_p99_ms": round(percentile(walk, 0.99) * 1000, 2),
        "first_page_open_loop": first,
        "every_page_open_loop": spread,
    }


async def _walk(http: aiohttp.ClientSession) -> tuple[list[str], list[float]]:
    """Every page in order: the cursor that reaches each ('' for the first), seconds each."""
    cursors, took, cursor = [""], [], ""
    while True:
        started = time.monotonic()
        params = {"cursor": cursor} if cursor else {}
        async with http.get("/api/v1/stores", params=params) as resp:
            body = await resp.json()
        took.append(time.monotonic() - started)
        cursor = body["next_cursor"]
        if not cursor:
            return cursors, took
        cursors.append(cursor)


async def settled(api: ApiClient, within: float = 900.0) -> float:
    """Wait until no pod has been Pending for two looks in a row (the controllers and
    kwok caught up with the stores just created); the seconds it took."""
    core = CoreV1Api(api)
    started = time.monotonic()
    calm = 0
    while calm < 2 and time.monotonic() - started < within:
        pending = await core.list_pod_for_all_namespaces(
            field_selector="status.phase=Pending", limit=1, _request_timeout=60
        )
        calm = calm + 1 if not pending.items else 0
        await asyncio.sleep(3)
    return round(time.monotonic() - started, 1)
