"""Scale benchmark: `python -m tests.bench.bench_scale [--stores 5000]
[--steps 200,1000,5000] [--batch 50] [--rounds 3] [--nodes N]` (`just bench scale`).

Starts the whole platform as `just up` does on simulated nodes (devtools/platform_start.py:
Postgres, NATS, the object storage, the services), on a control plane sized for the
stores: `--nodes` kwok nodes (default: room for every store's pods), the service CIDR a
/16 so every store's Services get an address, the controllers tuned as in the
provisioner benchmark (tests/bench/tuned_cluster.py). Then, for each step N:

- fill: stores are seeded until N exist (tests/bench/scale_seed.py: the objects of a
  rendered store created directly, their volume claims already bound, the rows a
  provisioned store has), and the cluster left to settle (no pod Pending);
- `--rounds` times, alternating, each on a settled cluster:
  - ceiling: `--batch` stores' objects created directly, all at once (stores per minute),
    and the same batch waited on until every store is ready by the provisioner's rules
    (tests/bench/store_ready.py): the ceiling "to ready", the same work the platform does;
  - provisioning: `--batch` stores requested at once on the stream and provisioned by the
    platform's provisioner, to `ready` (bench_provisioner's `batch`); stores per minute,
    and that as a fraction of each ceiling just measured;
  the step's fractions are the medians of its rounds';
- the reaper's sweep over every store namespace, run in this process (no publishing);
- the gateway's admin store list: every page walked, then pages at `--list-rate` a
  second, open loop, p50/p99;
- the dashboard's first paint of /admin/stores in Chromium (tests/bench/scale_dashboard.py);
- the RSS of each service process and control-plane component, etcd's database size
  and the API server's stored objects (tests/bench/scale_probes.py).

The issue's goal: the fraction of the ceiling at the last step is no worse than 0.8 of
that at the first. Prints the figures and writes them, with the machine's load, to
`.run/bench/scale.json`. Everything started is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import asyncpg
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import new_client_from_config

from devtools.cluster import LocalCluster, ensure_binaries
from devtools.dashboard import ensure_dashboard
from devtools.launcher import service_argv
from devtools.platform_start import STORAGE_CLASS, Platform
from devtools.soak import EXTERNAL, start
from devtools.workspace import ROOT
from services.gateway import accounts
from services.gateway.security import digest, new_api_token
from services.provisioner.kubeapi import StoreKube
from shared.jetstream import connect
from tests.bench import scale_probes as probes
from tests.bench.bench_provisioner import Timeline, batch
from tests.bench.machine import machine
from tests.bench.scale_dashboard import first_paint
from tests.bench.scale_seed import Seeder
from tests.bench.store_objects import StoreObjects
from tests.bench.store_ready import all_ready
from tests.bench.tuned_cluster import TUNED_SETUP, BenchCluster

OUT = ROOT / ".run" / "bench" / "scale.json"
SERVICE_RANGE = "10.0.0.0/16"  # 65,534 addresses: two Services a store
PODS_PER_NODE = 100  # of kwok's 110, some room
TUNING = {
    "STOREFLEET_WORKERS": "50",
    "STOREFLEET_KUBE_QPS": "2000",
    "STOREFLEET_KUBE_BURST": "4000",
    "STOREFLEET_RATE_LIMIT_REQUESTS": "10000000/minute",
    "STOREFLEET_LOG_LEVEL": "warning",
}
FILL_CHUNK = 250  # seeded stores between progress lines


class ScalePlatform(Platform):
    """The platform on a control plane with `nodes` kwok nodes and a /16 service CIDR."""

    def __init__(self, run: Path, nodes: int) -> None:
        super().__init__(run=run, simulated="the scale benchmark runs on simulated nodes")
        self.nodes = nodes

    def new_cluster(self, cluster_dir: Path) -> LocalCluster:
        return BenchCluster(cluster_dir, ensure_binaries(), self.nodes, True, SERVICE_RANGE)


def add_user(env: dict[str, str], name: str, *flags: str) -> str:
    """`python -m services.gateway users add NAME`; the generated password."""
    done = subprocess.run(
        service_argv("gateway", "users", "add", name, *flags),
        env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


async def user_id(dsn: str, name: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("SELECT id FROM users WHERE username = $1", name))
    finally:
        await conn.close()


async def api_token(dsn: str, owner: str) -> str:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        token = new_api_token()
        await accounts.create_token(pool, owner, "scale-bench", digest(token))
        return token
    finally:
        await pool.close()


class Run:
    """One benchmark over a started platform: its clients and what it has made."""

    def __init__(self, platform: Platform, args: argparse.Namespace) -> None:
        self.platform = platform
        self.args = args
        self.env = platform.env  # filled in as the platform starts
        self.existing = 0
        self.steps: list[dict[str, Any]] = []
        self.load_before = os.getloadavg()[0]
        self.began = time.monotonic()

    @property
    def dsn(self) -> str:
        """The database owner's login (it writes both the gateway's and the auditor's rows)."""
        return self.env["STOREFLEET_DATABASE_URL"]

    def save(self, finished: bool) -> dict[str, Any]:
        """The figures so far, written to OUT (after every step: a long run that fails
        late keeps its earlier steps)."""
        args = self.args
        figures = {
            "benchmark": "scale",
            "finished": finished,
            "setup": {
                "kwok_nodes": args.nodes,
                "service_cidr": SERVICE_RANGE,
                "batch": args.batch,
                "rounds": args.rounds,
                "seeded_at_once": args.at_once,
                "cluster": TUNED_SETUP,
                "tuning": TUNING,
            },
            "steps": self.steps,
            "summary": summary(self.steps) if self.steps else {},
            "minutes": round((time.monotonic() - self.began) / 60, 1),
            "machine": machine(self.load_before),
        }
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(figures, indent=2) + "\n")
        return figures

    async def measure(self) -> None:
        env = self.env
        add_user(env, "fleet", "--max-stores", "1000000")
        password = add_user(env, "scale-admin", "--admin")
        owner = await user_id(self.dsn, "fleet")
        token = await api_token(self.dsn, await user_id(self.dsn, "scale-admin"))
        api = await new_client_from_config(config_file=env["KUBECONFIG"], persist_config=False)
        nc = await connect(env["STOREFLEET_NATS_URL"], "scale-bench")
        try:
            kube = StoreKube(api, timeout=300)
            helm, version = ensure_binaries() / "helm", await kube.server_version()
            objects = StoreObjects(kube, helm, version, STORAGE_CLASS)
            seeder = Seeder(objects, self.dsn, owner)
            js = nc.jetstream()
            timeline = Timeline()
            await js.subscribe("store.>", ordered_consumer=True, cb=timeline.on_msg)
            await batch(js, timeline, 2, "warm", owner)
            self.existing = 2
            for size in self.args.steps:
                figures = await self.step(size, api, seeder, js, timeline, owner, token, password)
                print(json.dumps(figures), flush=True)
                self.steps.append(figures)
                self.save(finished=False)
        finally:
            await nc.close()
            await api.close()

    async def step(self, size: int, api: ApiClient, seeder: Seeder, js: Any,
                   timeline: Timeline, owner: str, token: str, password: str
                   ) -> dict[str, Any]:  # fmt: skip
        fill_s = await self.fill(seeder, size - self.existing)
        settle_s = await probes.settled(api)
        rounds = [await self.round(size, r, api, seeder, js, timeline, owner)
                  for r in range(self.args.rounds)]  # fmt: skip
        url = self.env["STOREFLEET_GATEWAY_URL"]
        assert self.platform.cluster is not None
        return {
            "existing_stores": size,
            "fill_s": fill_s,
            "settle_s": settle_s,
            "rounds": rounds,
            "fraction_of_ceiling": median(rounds, "fraction_of_ceiling"),
            "fraction_of_ceiling_applied": median(rounds, "fraction_of_ceiling_applied"),
            "fraction_of_ceiling_to_ready": median(rounds, "fraction_of_ceiling_to_ready"),
            "stores_when_read": self.existing,  # the step's size and its rounds' batches
            "reaper_sweep": await probes.sweep(api, self.dsn, js),
            "admin_store_list": await probes.store_list(
                url, token, self.args.list_rate, self.args.seconds
            ),
            "dashboard": await first_paint(url, "scale-admin", password),
            "rss_mib": probes.memory(self.platform),
            "control_plane": probes.etcd_figures(self.platform.cluster),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }

    async def round(self, size: int, n: int, api: ApiClient, seeder: Seeder, js: Any,
                    timeline: Timeline, owner: str) -> dict[str, Any]:  # fmt: skip
        """One ceiling batch, then one batch through the provisioner, each on a settled
        cluster; the fraction of the one over the other."""
        batch_size = self.args.batch
        print(f"at {size} stores, round {n + 1}: ceiling, {batch_size} stores' objects at once ...",
              flush=True)  # fmt: skip
        retries = seeder.objects.retries
        started = time.monotonic()
        ceiling_s = await seeder.create(batch_size)
        retries = seeder.objects.retries - retries
        ceiling = round(batch_size / ceiling_s * 60, 1)
        ceiling_ready = round(batch_size / await all_ready(api, seeder.last, started) * 60, 1)
        await probes.settled(api)
        print(f"at {size} stores, round {n + 1}: {batch_size} stores through the provisioner ...",
              flush=True)  # fmt: skip
        made = await batch(js, timeline, batch_size, f"p{size}-{n}-", owner)
        self.existing += 2 * batch_size
        await probes.settled(api)
        return {
            "ceiling_stores_per_minute": ceiling,
            "ceiling_creations_retried": retries,
            "ceiling_to_ready_stores_per_minute": ceiling_ready,
            "provisioned": made,
            "fraction_of_ceiling": round(made["stores_per_minute"] / ceiling, 3),
            "fraction_of_ceiling_applied": round(
                made["stores_per_minute_all_but_ingress_applied"] / ceiling, 3
            ),
            "fraction_of_ceiling_to_ready": round(made["stores_per_minute"] / ceiling_ready, 3),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }

    async def fill(self, seeder: Seeder, count: int) -> float:
        """Seed `count` stores, FILL_CHUNK at a time; the seconds it took."""
        started = time.monotonic()
        while count > 0:
            chunk = min(FILL_CHUNK, count)
            await seeder.create(chunk, at_once=self.args.at_once, prebound=True)
            count -= chunk
            self.existing += chunk
            print(f"seeded: {self.existing} stores", flush=True)
        return round(time.monotonic() - started, 1)


def median(rounds: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(float(r[key]) for r in rounds)), 3)


def summary(steps: list[dict[str, Any]]) -> dict[str, Any]:
    first, last = steps[0], steps[-1]
    per_store = max(1, last["existing_stores"] - first["existing_stores"])
    return {
        "fraction_last_over_first": round(
            last["fraction_of_ceiling"] / first["fraction_of_ceiling"], 3
        ),
        "to_ready_fraction_last_over_first": round(
            last["fraction_of_ceiling_to_ready"] / first["fraction_of_ceiling_to_ready"], 3
        ),
        "goal_fraction_last_over_first": 0.8,
        "etcd_db_kib_per_store": round(
            (last["control_plane"]["etcd_db_mib"] - first["control_plane"]["etcd_db_mib"])
            * 1024 / per_store, 1,
        ),
        "apiserver_rss_kib_per_store": round(
            ((last["rss_mib"]["kube-apiserver"] or 0) - (first["rss_mib"]["kube-apiserver"] or 0))
            * 1024 / per_store, 1,
        ),
    }  # fmt: skip


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_scale")
    parser.add_argument("--stores", type=int, default=5000, help="the largest step")
    parser.add_argument("--steps", default="200,1000,5000", help="sizes measured at")
    parser.add_argument("--batch", type=int, default=50, help="stores per throughput batch")
    parser.add_argument("--rounds", type=int, default=3, help="ceiling + platform batches a step")
    parser.add_argument("--nodes", type=int, default=0, help="kwok nodes (0: enough)")
    parser.add_argument("--at-once", type=int, default=20, help="seeded stores in flight")
    parser.add_argument("--list-rate", type=float, default=20.0, help="list pages a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="per open-loop list run")
    args = parser.parse_args(argv)
    args.steps = sorted({int(s) for s in args.steps.split(",")} | {args.stores})
    args.steps = [s for s in args.steps if s <= args.stores]
    top = args.stores + 2 * args.batch * args.rounds * len(args.steps)
    args.nodes = args.nodes or math.ceil(top * 2 / PODS_PER_NODE) + 2
    return args


def _interrupted(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: the platform is stopped before the benchmark exits."""
    raise KeyboardInterrupt


def scale_env() -> Path:
    """The environment a scale platform starts in (its own servers, TUNING) and an empty
    workspace for it."""
    for name in EXTERNAL:
        os.environ.pop(name, None)
    for name, value in TUNING.items():
        os.environ.setdefault(name, value)
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    workdir.chmod(0o755)  # Postgres runs as its own user, below it
    return workdir


def on_platform(platform: Platform, work: Callable[[], Coroutine[Any, Any, None]]) -> bool:
    """Start `platform`, run `work` on it, stop it and remove its workspace whatever
    happened (SIGTERM and Ctrl-C too); False when interrupted."""
    signal.signal(signal.SIGTERM, _interrupted)
    # Started in the background a shell hands it SIGINT ignored: take Ctrl-C back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        start(platform)
        asyncio.run(work())
        return True
    except KeyboardInterrupt:
        print("interrupted: stopping the platform; the figures so far are kept", flush=True)
        return False
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one waits for the stop
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        platform.stop()
        shutil.rmtree(platform.run, ignore_errors=True)


def main(argv: list[str]) -> int:
    args = parse(argv)
    workdir = scale_env()
    ensure_dashboard()
    run = Run(ScalePlatform(workdir, args.nodes), args)
    if not on_platform(run.platform, run.measure):
        return 130
    print(json.dumps(run.save(finished=True), indent=2))
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
