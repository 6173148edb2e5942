"""Provisioner benchmark: `python -m tests.bench.bench_provisioner [--stores 200]
[--concurrent 20] [--processes 2] [--workers 100] [--nodes 12] [--stock-cluster]`.

Each part runs on a fresh local control plane of its own (etcd, kube-apiserver,
controller-manager, scheduler, kwok with `--nodes` fake nodes, a /16 of service
addresses; the controller-manager's workers and the scheduler's client QPS raised unless
`--stock-cluster`):

- ceiling: the API server's raw ceiling. The objects of `--stores` stores (guardrails,
  Secret, every engine object), rendered beforehand, are created directly with POSTs, all
  stores at once, no platform; stores per minute;
- apply ceiling: the same, on another fresh control plane, with the server-side applies
  (PATCH) the provisioner sends instead of POSTs: the ceiling of the platform's own way
  of writing, which costs the API server more per object;
- platform: nats-server, the stand-in volume binder (devtools/volumes.py) and `--processes`
  provisioners (`python -m services.provisioner`, `--workers` each), then
  - `--concurrent` stores requested at once: from each request event to the `progress`
    of its workloads wave (every object but the Ingress applied), of its ingress wave
    (every object applied; the Ingress waits until the store is set up) and to `ready`;
  - `--stores` stores requested at once: p50/p95/p99 from event to `ready`, stores per
    minute (first request to last ready) and that as a fraction of the ceiling; the same
    for "every object but the Ingress applied", which is what the ceiling measures;
  - where the time goes: the median of each wave, from the events' own timestamps, and
    the provisioners' API calls per store by HTTP method (their
    `storefleet_kube_requests_total`, read from `/metrics` before and after the batch;
    the status watches' own requests included), beside the ceiling's objects per store;
  - the fractions of both ceilings: to ready, and to every object but the Ingress applied.

A ceiling request the API server answers with a temporary error (a 504 on a loaded
machine) is retried, at most 10 times, with a growing pause. The machine's cores and load
before and after go beside the figures. Prints the figures and writes them to
`.run/bench/provisioner.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import new_client_from_config
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from devtools import procs
from devtools.cluster import ensure_binaries
from devtools.launcher import start_service
from devtools.nats import LocalNats
from devtools.volumes import VolumeBinder
from services.provisioner.kubeapi import StoreKube
from shared.events import Envelope, parse_event
from shared.jetstream import connect, ensure_stream, publish_event
from shared.subjects import stores_stream
from tests.bench.machine import machine
from tests.bench.store_objects import StoreObjects, ceiling_figures, create_stores, requested
from tests.bench.tuned_cluster import TUNED_SETUP, BenchCluster
from tests.fixtures.cluster import STORAGE_CLASS

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".run" / "bench" / "provisioner.json"
STREAM = "STORES"
WAVES = ("provisioning", "guardrails", "workloads", "setup", "ingress", "ready")
# Room for every store's Services: the local default (a /24, 254 addresses) is nearly full
# with 200 stores, and addresses a timed-out create took come back only after a while.
SERVICE_RANGE = "10.0.0.0/16"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[index], 3)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": round(max(values), 3),
    }


class Timeline:
    """When each store's events happened, by the events' own `occurred_at`."""

    def __init__(self) -> None:
        self.times: dict[str, dict[str, float]] = defaultdict(dict)
        self.failed: dict[str, str] = {}
        self.changed = asyncio.Event()

    async def on_msg(self, msg: Msg) -> None:
        event = parse_event(msg.data)
        kind = event.type  # type: ignore[attr-defined]
        step = event.data.wave if kind == "progress" else kind  # type: ignore[attr-defined]
        self.times[event.store_id].setdefault(step, event.occurred_at.timestamp())
        if kind == "failed":
            self.failed[event.store_id] = event.data.reason  # type: ignore[attr-defined]
        self.changed.set()

    async def wait(self, ids: list[str], within: float) -> None:
        deadline = time.monotonic() + within
        while not all("ready" in self.times[i] or i in self.failed for i in ids):
            if time.monotonic() > deadline:
                done = sum("ready" in self.times[i] for i in ids)
                raise TimeoutError(f"{done}/{len(ids)} stores ready after {within}s")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 1.0)


async def batch(
    js: JetStreamContext, timeline: Timeline, count: int, prefix: str, owner: str = "bench"
) -> dict[str, Any]:
    """`count` stores requested at once (owned by `owner`), timed until ready."""
    events = [requested(i, prefix, owner) for i in range(count)]
    published: dict[str, float] = {}

    async def publish(event: Envelope) -> None:
        published[event.store_id] = datetime.now(UTC).timestamp()
        await publish_event(js, event, stream=STREAM, ack_timeout=30)

    await asyncio.gather(*(publish(e) for e in events))
    ids = [e.store_id for e in events]
    await timeline.wait(ids, within=1800)
    ready = [i for i in ids if "ready" in timeline.times[i]]
    to_ready = [timeline.times[i]["ready"] - published[i] for i in ready]
    to_applied = [timeline.times[i]["ingress"] - published[i] for i in ready]
    to_engine = [timeline.times[i]["workloads"] - published[i] for i in ready]
    first = min(published.values())
    span = max(timeline.times[i]["ready"] for i in ready) - first
    apply_span = max(timeline.times[i]["workloads"] for i in ready) - first
    waves = {}
    for before, after in itertools.pairwise(WAVES):
        waves[f"{before}->{after}"] = round(
            statistics.median(timeline.times[i][after] - timeline.times[i][before] for i in ready),
            3,
        )
    waves["request->provisioning"] = round(
        statistics.median(timeline.times[i]["provisioning"] - published[i] for i in ready), 3
    )
    return {
        "stores": count,
        "ready": len(ready),
        "failed": len(ids) - len(ready),
        "failures": sorted({timeline.failed[i] for i in ids if i in timeline.failed})[:3],
        "event_to_ready_s": summary(to_ready),
        "event_to_all_objects_applied_s": summary(to_applied),
        "event_to_all_but_ingress_applied_s": summary(to_engine),
        "seconds_first_request_to_last_ready": round(span, 2),
        "stores_per_minute": round(len(ready) / span * 60, 1),
        "stores_per_minute_all_but_ingress_applied": round(len(ready) / apply_span * 60, 1),
        "median_wave_s": waves,
    }


async def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError(f"provisioner exited with {proc.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError("provisioner not ready")


async def kube_requests(ports: list[int]) -> dict[str, float]:
    """The provisioners' requests to the API server so far, summed, by HTTP method."""
    counts: dict[str, float] = defaultdict(float)
    async with aiohttp.ClientSession() as http:
        for port in ports:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                text = await resp.text()
            for line in text.splitlines():
                if line.startswith("storefleet_kube_requests_total{"):
                    method = line.split('method="', 1)[1].split('"', 1)[0]
                    counts[method] += float(line.rsplit(" ", 1)[1])
    return dict(counts)


def per_store(before: dict[str, float], after: dict[str, float], stores: int) -> dict[str, float]:
    calls = {m: round((n - before.get(m, 0)) / stores, 2) for m, n in sorted(after.items())}
    return {**calls, "all": round(sum(calls.values()), 2)}


def spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return start_service("provisioner", log, env)


async def ceiling(api: ApiClient, helm: Path, count: int, apply: bool) -> dict[str, Any]:
    """Create (or with `apply`, server-side apply) the objects of `count` stores directly
    and concurrently; no platform."""
    kube = StoreKube(api, timeout=120)
    objects = StoreObjects(kube, helm, await kube.server_version(), apply=apply)
    stores = await asyncio.gather(*(objects.render(requested(i, "c")) for i in range(count)))
    return ceiling_figures(stores, await create_stores(objects, stores))


def new_cluster(args: argparse.Namespace, bins: Path, workdir: Path) -> BenchCluster:
    cluster = BenchCluster(
        workdir, bins, args.nodes, tuned=not args.stock_cluster, service_range=SERVICE_RANGE
    )
    cluster.start()
    return cluster


async def measure_ceiling(
    args: argparse.Namespace, bins: Path, workdir: Path, apply: bool = False
) -> dict[str, Any]:
    """On a control plane of its own: the platform's run must not share it (nor its
    service addresses) with 200 stores made by hand."""
    cluster = new_cluster(args, bins, workdir)
    try:
        api = await new_client_from_config(
            config_file=str(cluster.kubeconfig), persist_config=False
        )
        try:
            return await ceiling(api, bins / "helm", args.stores, apply)
        finally:
            await api.close()
    finally:
        cluster.stop()


async def measure_platform(args: argparse.Namespace, bins: Path, workdir: Path) -> dict[str, Any]:
    cluster = new_cluster(args, bins, workdir / "cluster")
    nats = LocalNats(workdir / "nats")
    nats.start()
    started: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []
    api = await new_client_from_config(config_file=str(cluster.kubeconfig), persist_config=False)
    volumes = VolumeBinder(api, STORAGE_CLASS)
    await volumes.ensure_class()
    volume_task = asyncio.create_task(volumes.run())
    nc = await connect(nats.url, "bench")
    try:
        js = nc.jetstream()
        await ensure_stream(js, stores_stream(name=STREAM))
        timeline = Timeline()
        await js.subscribe("store.>", stream=STREAM, ordered_consumer=True, cb=timeline.on_msg)
        env = {
            "STOREFLEET_NATS_URL": nats.url,
            "STOREFLEET_KUBECONFIG": str(cluster.kubeconfig),
            "STOREFLEET_HELM_BINARY": str(bins / "helm"),
            "STOREFLEET_STORAGE_CLASS": STORAGE_CLASS,
            "STOREFLEET_WORKERS": str(args.workers),
            "STOREFLEET_KUBE_QPS": "2000",
            "STOREFLEET_KUBE_BURST": "4000",
            "STOREFLEET_LOG_LEVEL": "warning",
        }
        for n in range(args.processes):
            port = procs.free_port()
            ports.append(port)
            proc = spawn({**env, "STOREFLEET_HEALTH_PORT": str(port)}, workdir / f"prov-{n}.log")
            started.append(proc)
            await wait_ready(port, proc)
        await batch(js, timeline, 2, "warm")
        print(f"{args.concurrent} stores at once ...", flush=True)
        small = await batch(js, timeline, args.concurrent, "a")
        print(json.dumps(small), flush=True)
        print(f"{args.stores} stores at once ...", flush=True)
        before = await kube_requests(ports)
        large = await batch(js, timeline, args.stores, "b")
        large["api_calls_per_store"] = per_store(before, await kube_requests(ports), args.stores)
        print(json.dumps(large), flush=True)
        return {"small": small, "large": large}
    finally:
        for proc in started:
            procs.stop(proc)
        await nc.close()
        volume_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await volume_task
        await api.close()
        nats.stop()
        cluster.stop()


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    bins = ensure_binaries()
    print(f"ceiling: creating {args.stores} stores' objects directly ...", flush=True)
    raw = await measure_ceiling(args, bins, workdir / "ceiling")
    print(json.dumps(raw), flush=True)
    print(f"apply ceiling: applying {args.stores} stores' objects directly ...", flush=True)
    applied = await measure_ceiling(args, bins, workdir / "apply-ceiling", apply=True)
    print(json.dumps(applied), flush=True)
    runs = await measure_platform(args, bins, workdir / "platform")
    small, large = runs["small"], runs["large"]
    return {
        "benchmark": "provisioner",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(load_before),
        "setup": {
            "processes": args.processes,
            "workers_per_process": args.workers,
            "kwok_nodes": args.nodes,
            "values": "local",
            "client_qps": 2000,
            "cluster": "stock" if args.stock_cluster else TUNED_SETUP,
        },
        "ceiling_direct_create": raw,
        "ceiling_direct_server_side_apply": applied,
        f"at_{args.concurrent}_concurrent": small,
        f"at_{args.stores}_concurrent": large,
        "fraction_of_ceiling": round(large["stores_per_minute"] / raw["stores_per_minute"], 3),
        "fraction_of_ceiling_applied": round(
            large["stores_per_minute_all_but_ingress_applied"] / raw["stores_per_minute"], 3
        ),
        "fraction_of_apply_ceiling": round(
            large["stores_per_minute"] / applied["stores_per_minute"], 3
        ),
        "fraction_of_apply_ceiling_applied": round(
            large["stores_per_minute_all_but_ingress_applied"] / applied["stores_per_minute"], 3
        ),
        "targets": {
            "stores_per_minute": 60,
            "p99_event_to_all_objects_applied_at_20_s": 2.0,
            "fraction_of_ceiling": 0.5,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_provisioner")
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=12)
    parser.add_argument("--stock-cluster", action="store_true", help="default controller limits")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-provisioner-") as tmp:
        figures = asyncio.run(run(args, Path(tmp)))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
