"""Real node benchmark: `python -m tests.bench.bench_node [--pods N]`.

Starts the control plane with the real worker node (devtools/node.py) and measures:

- start: from nothing to the node Ready with DNS, volumes, NetworkPolicy and Ingress
  answering (`start_real_cluster`, the node's own images imported), and stop
  (`stop_real_cluster`, host put back);
- pod start: create to Running for one toolbox pod at a time, N times (default 20),
  median and max, and N pods created at once until all are Running; with the same
  client, the create-and-delete round trip of a ConfigMap as the API's own baseline;
- memory: resident set size of each node process (containerd, kubelet, kube-proxy,
  kube-router, Traefik, local-path-provisioner, the shims) with the pods running.

Prints the figures and writes them to `.run/bench/node.json`. Needs root.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from devtools import hostnet
from devtools.node import start_real_cluster, stop_real_cluster
from tests.node.conftest import Kubectl, toolbox_pod

OUT = Path(__file__).resolve().parents[2] / ".run" / "bench" / "node.json"


# Small requests: the node has two cores, and twenty pods of the tests' size do not fit.
SMALL = {"resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                       "limits": {"cpu": "100m", "memory": "32Mi"}}}  # fmt: skip


def bench_pod(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return toolbox_pod(name, "default", ["sleep", "3600"], labels, container=dict(SMALL))


def pod_start(kubectl: Kubectl, name: str) -> float:
    started = time.monotonic()
    kubectl.apply(bench_pod(name))
    while kubectl.get("pod", name)["status"].get("phase") != "Running":
        _bounded(started)
        time.sleep(0.02)
    took = time.monotonic() - started
    kubectl("delete", "pod", name, "--wait=false")
    return took


def api_round_trip(kubectl: Kubectl, name: str) -> float:
    started = time.monotonic()
    kubectl.apply({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": name, "namespace": "default"}})  # fmt: skip
    kubectl.get("configmap", name)
    return time.monotonic() - started


def _bounded(started: float, limit: float = 120.0) -> None:
    if time.monotonic() - started > limit:
        raise TimeoutError(f"pods not Running after {limit:.0f}s")


def memory() -> dict[str, float]:
    rss: dict[str, float] = {}
    for pid, name in hostnet.node_processes():
        try:
            fields = Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()
        except (OSError, IndexError):
            continue
        rss[name] = round(rss.get(name, 0.0) + int(fields[0]) / 1024, 1)
    return rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=20)
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        # The node's own images only: importing the others (`just cluster-up real`
        # imports every archive built) adds their import time, medusa's above all.
        real = start_real_cluster(Path(tmp) / "cluster", images=())
        figures["node_start_s"] = round(time.monotonic() - started, 2)
        try:
            kubectl = Kubectl(real.kubeconfig)
            starts = [pod_start(kubectl, f"seq-{i}") for i in range(args.pods)]
            trips = [api_round_trip(kubectl, f"trip-{i}") for i in range(args.pods)]
            figures["pod_start_median_s"] = round(statistics.median(starts), 3)
            figures["pod_start_max_s"] = round(max(starts), 3)
            figures["api_round_trip_median_s"] = round(statistics.median(trips), 3)
            figures["pods_at_once"] = 10
            figures["pods_at_once_all_running_s"] = round(burst_labelled(kubectl, 10), 2)
            figures["memory_rss_mib"] = memory()
        finally:
            started = time.monotonic()
            stop_real_cluster()
            figures["node_stop_s"] = round(time.monotonic() - started, 2)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


def burst_labelled(kubectl: Kubectl, count: int) -> float:
    started = time.monotonic()
    kubectl.apply(*(bench_pod(f"burst-{i}", {"bench": "burst"}) for i in range(count)))
    while True:
        _bounded(started)
        items = kubectl.get("pods", "-l", "bench=burst")["items"]
        if len(items) == count and all(p["status"].get("phase") == "Running" for p in items):
            return time.monotonic() - started
        time.sleep(0.1)


if __name__ == "__main__":
    main()
