"""Stores per cluster, to the limit: `python -m tests.bench.bench_limit [--quota-mib 2048]
[--chunk 500] [--at-once 60] [--memory-floor-mib 1024] [--max-stores 15000]`
(`just bench limit`).

Starts the platform as the scale benchmark does (tests/bench/bench_scale.py: Postgres,
NATS, the object storage and the services, on a control plane with simulated nodes, a /16
service range and tuned controllers) with etcd's backend quota at `--quota-mib` (etcd's
own default: 2 GiB), then seeds stores `--chunk` at a time (the objects of a rendered
store, their claims already bound, the rows of a provisioned store; the scale benchmark's
fill) until something runs out:

- etcd: a creation refused for space ("database space exceeded"), or the database file
  within 2% of the quota;
- the machine's memory: MemAvailable under `--memory-floor-mib`;
- the API server: a creation still failing after the seeder's retries, or any other
  error (recorded as it came);
- or `--max-stores` seeded without either.

After every chunk it records the stores, the chunk's stores per minute, the RSS of each
control-plane component and service, etcd's database size, the API server's stored
objects and MemAvailable, and writes them to `.run/bench/limit.json` with what ran out
first. Everything started is stopped at the end (SIGTERM too).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from kubernetes_asyncio.config import new_client_from_config

from devtools.cluster import LocalCluster, ensure_binaries
from devtools.platform_start import STORAGE_CLASS
from devtools.workspace import ROOT
from services.provisioner.kubeapi import StoreKube
from tests.bench import scale_probes as probes
from tests.bench.bench_scale import (
    PODS_PER_NODE,
    SERVICE_RANGE,
    TUNING,
    ScalePlatform,
    add_user,
    on_platform,
    scale_env,
    user_id,
)
from tests.bench.machine import machine
from tests.bench.scale_seed import Seeder
from tests.bench.store_objects import StoreObjects
from tests.bench.tuned_cluster import TUNED_SETUP, BenchCluster

OUT = ROOT / ".run" / "bench" / "limit.json"
MIB = 2**20
ETCD_FULL = 0.98  # of the quota: etcd refuses writes at it


class QuotaCluster(BenchCluster):
    """The scale benchmark's control plane, etcd's backend quota at `quota_mib`."""

    def __init__(self, workdir: Path, bin_dir: Path, nodes: int, quota_mib: int) -> None:
        super().__init__(workdir, bin_dir, nodes, True, SERVICE_RANGE)
        self.quota_mib = quota_mib

    def _etcd_args(self, port: int) -> list[str]:
        return [*super()._etcd_args(port), f"--quota-backend-bytes={self.quota_mib * MIB}"]


class LimitPlatform(ScalePlatform):
    def __init__(self, run: Path, nodes: int, quota_mib: int) -> None:
        super().__init__(run, nodes)
        self.quota_mib = quota_mib

    def new_cluster(self, cluster_dir: Path) -> LocalCluster:
        return QuotaCluster(cluster_dir, ensure_binaries(), self.nodes, self.quota_mib)


def available_mib() -> int:
    """The machine's MemAvailable in MiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def ran_out(error: BaseException) -> str:
    """What a failed chunk says ran out: etcd's space, or the API server otherwise."""
    text = str(error)
    if "database space exceeded" in text or "NOSPACE" in text:
        return "etcd: database space exceeded"
    return f"the API server: {type(error).__name__}: {text.splitlines()[0][:300] if text else ''}"


class Fill:
    """Seeds chunk after chunk on a started platform, recording each."""

    def __init__(self, platform: LimitPlatform, args: argparse.Namespace) -> None:
        self.platform = platform
        self.args = args
        self.chunks: list[dict[str, Any]] = []
        self.limit = ""
        self.load_before = os.getloadavg()[0]
        self.began = time.monotonic()

    def save(self, finished: bool) -> dict[str, Any]:
        args = self.args
        figures = {
            "benchmark": "limit",
            "finished": finished,
            "setup": {
                "etcd_quota_mib": args.quota_mib,
                "kwok_nodes": args.nodes,
                "chunk": args.chunk,
                "seeded_at_once": args.at_once,
                "memory_floor_mib": args.memory_floor_mib,
                "cluster": TUNED_SETUP,
                "tuning": TUNING,
            },
            "limit": self.limit,
            "stores": self.chunks[-1]["stores"] if self.chunks else 0,
            "chunks": self.chunks,
            "minutes": round((time.monotonic() - self.began) / 60, 1),
            "machine": machine(self.load_before),
        }
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(figures, indent=2) + "\n")
        return figures

    async def run(self) -> None:
        env = self.platform.env
        add_user(env, "fleet", "--max-stores", "1000000")
        owner = await user_id(env["STOREFLEET_DATABASE_URL"], "fleet")
        api = await new_client_from_config(config_file=env["KUBECONFIG"], persist_config=False)
        try:
            kube = StoreKube(api, timeout=300)
            helm, version = ensure_binaries() / "helm", await kube.server_version()
            seeder = Seeder(StoreObjects(kube, helm, version, STORAGE_CLASS),
                            env["STOREFLEET_DATABASE_URL"], owner)  # fmt: skip
            while not self.limit:
                self.limit = await self.chunk(seeder)
                self.save(finished=False)
        finally:
            await api.close()

    async def chunk(self, seeder: Seeder) -> str:
        """One chunk seeded and recorded; what ran out, or "" to go on."""
        args = self.args
        count = min(args.chunk, args.max_stores - seeder.created)
        started = time.monotonic()
        error = ""
        try:
            await seeder.create(count, at_once=args.at_once, prebound=True)
        except Exception as exc:  # what the API server said when something ran out
            error = ran_out(exc)
        took = time.monotonic() - started
        cluster = self.platform.cluster
        assert cluster is not None
        etcd = probes.etcd_figures(cluster)
        record = {
            "stores": seeder.created,
            "chunk_stores_per_minute": round(count / took * 60, 1) if not error else None,
            "etcd_db_mib": etcd["etcd_db_mib"],
            "objects": etcd["objects"],
            "rss_mib": probes.memory(self.platform),
            "mem_available_mib": available_mib(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
        self.chunks.append(record)
        print(json.dumps(record), flush=True)
        if error:
            return error
        if etcd["etcd_db_mib"] >= ETCD_FULL * args.quota_mib:
            return f"etcd: database {etcd['etcd_db_mib']} MiB of its {args.quota_mib} MiB quota"
        if record["mem_available_mib"] < args.memory_floor_mib:
            return f"memory: {record['mem_available_mib']} MiB available"
        if seeder.created >= args.max_stores:
            return f"nothing before --max-stores {args.max_stores}"
        return ""


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_limit")
    parser.add_argument("--quota-mib", type=int, default=2048, help="etcd's backend quota")
    parser.add_argument("--chunk", type=int, default=500, help="stores seeded between records")
    parser.add_argument("--at-once", type=int, default=60, help="seeded stores in flight")
    parser.add_argument("--memory-floor-mib", type=int, default=1024,
                        help="stop when the machine has less available")  # fmt: skip
    parser.add_argument("--max-stores", type=int, default=15000)
    args = parser.parse_args(argv)
    args.nodes = math.ceil(args.max_stores * 2 / PODS_PER_NODE) + 2
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    fill = Fill(LimitPlatform(scale_env(), args.nodes, args.quota_mib), args)
    interrupted = not on_platform(fill.platform, fill.run)
    figures = fill.save(finished=bool(fill.limit))
    print(f"limit: {figures['stores']} stores; first to run out: {fill.limit or 'interrupted'}")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
