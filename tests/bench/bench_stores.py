"""Stores on the real node benchmark: `python -m tests.bench.bench_stores [--stores N]`.

Starts the control plane with the real worker node, installs the platform chart with
values-local.yaml (as tests/real does), signs a user in through the ingress, then for
Medusa stores measures, from `POST /api/v1/stores`:

- one at a time, N times (default 5): to `ready` on the live stream, and to the first
  order placed through the store's Store API on its own host; medians and maxima;
- N at once: the same for each, and until the last one has taken its order;
- memory of one running store: the working set of its pods (the kubelet's summary API),
  summed, and of the platform's pods for comparison.

Every store is deleted after it is measured (the node has two cores). Prints the figures
and writes them to `.run/bench/stores.json`. Needs root.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from devtools.images import build_images
from devtools.node import NODE_NAME, start_real_cluster, stop_real_cluster
from tests.medusa.store_api import StoreApi, place_order
from tests.node.conftest import Kubectl
from tests.real import platform
from tests.real.platform import Gateway

OUT = Path(__file__).resolve().parents[2] / ".run" / "bench" / "stores.json"


async def _one(owner: Gateway, ingress_url: str, name: str) -> dict[str, Any]:
    """Seconds from the request to ready, to the store's host served through the ingress
    controller, and to the first order; the store."""
    async with owner.watch() as watch:
        started = time.monotonic()
        store = await owner.create_store(name)
        outcome = await watch.outcome(store["id"], within=900)
        ready = time.monotonic() - started
    assert outcome.event == "ready", outcome.data
    gap = await platform.served(ingress_url, store["slug"])
    async with platform.shop(store["slug"]) as http:
        await place_order(StoreApi(http, ingress_url), "bench@customer.example")
    return {"store": store, "ready_s": ready, "served_after_ready_s": gap,
            "order_s": time.monotonic() - started}  # fmt: skip


def _working_set(kubectl: Kubectl, namespace: str) -> int:
    summary = json.loads(kubectl("get", "--raw", f"/api/v1/nodes/{NODE_NAME}/proxy/stats/summary"))
    return sum(pod.get("memory", {}).get("workingSetBytes", 0) for pod in summary["pods"]
               if pod["podRef"]["namespace"] == namespace)  # fmt: skip


def _summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    ready = [r["ready_s"] for r in runs]
    order = [r["order_s"] for r in runs]
    gaps = [r["served_after_ready_s"] for r in runs]
    return {
        "ready_median_s": round(statistics.median(ready), 1),
        "ready_max_s": round(max(ready), 1),
        "order_median_s": round(statistics.median(order), 1),
        "order_max_s": round(max(order), 1),
        "served_after_ready_max_s": round(max(gaps), 1),
    }


async def measure(real_ingress: str, kubectl: Kubectl, password: str, count: int
                  ) -> dict[str, Any]:  # fmt: skip
    async with aiohttp.ClientSession() as http:
        owner = await Gateway.sign_in(http, real_ingress, "bench", password)
        sequential = []
        for n in range(count):
            run = await _one(owner, real_ingress, f"Bench {n}")
            sequential.append(run)
            if n == 0:
                await asyncio.sleep(30)  # settled: the setup Job done, caches warm
                memory = _working_set(kubectl, run["store"]["namespace"])
                platform_memory = _working_set(kubectl, platform.NAMESPACE)
            await platform.delete_stores(owner, kubectl, [run["store"]])
        started = time.monotonic()
        together = await asyncio.gather(*(_one(owner, real_ingress, f"Together {n}")
                                          for n in range(count)))  # fmt: skip
        all_ordered = time.monotonic() - started
        await platform.delete_stores(owner, kubectl, [run["store"] for run in together])
    return {
        "stores": count,
        "one_at_a_time": _summary(sequential),
        "all_at_once": {**_summary(list(together)), "last_order_s": round(all_ordered, 1)},
        "one_store_memory_mib": round(memory / 2**20),
        "platform_memory_mib": round(platform_memory / 2**20),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_stores")
    parser.add_argument("--stores", type=int, default=5)
    args = parser.parse_args()
    build_images()
    with tempfile.TemporaryDirectory(prefix="bench-stores-") as workdir:
        real = start_real_cluster(Path(workdir))
        try:
            kubectl = Kubectl(real.kubeconfig)
            platform.install(real.kubeconfig, kubectl)
            password = platform.add_user(kubectl, "bench", "--max-stores", str(2 * args.stores))
            figures = asyncio.run(measure(real.ingress_url, kubectl, password, args.stores))
        finally:
            stop_real_cluster()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
