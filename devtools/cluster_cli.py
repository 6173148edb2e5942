"""`python -m devtools.cluster_cli up|down [kwok|real]` (behind `just cluster-up` and
`just cluster-down`): a detached local control plane for local work, with simulated (kwok)
nodes (devtools/cluster.py) or this machine's real worker node (devtools/node.py); `up`
copies its admin kubeconfig to .run/kubeconfig, `down` stops it and removes its state.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

from devtools import node
from devtools.cluster import (
    REPO,
    ClusterError,
    LocalCluster,
    ensure_binaries,
    running,
    stop_recorded,
)


def _up(state: Path, kubeconfig: Path, real: bool) -> None:
    if running(state):
        print(f"cluster already running; kubeconfig {kubeconfig}")
        return
    _down(state, kubeconfig, quiet=True)
    state.mkdir(parents=True)
    started = time.monotonic()
    if real:
        server = node.start_real_cluster(state).server
        cluster_kubeconfig = state / "kubeconfig"
    else:
        cluster = LocalCluster(state, ensure_binaries())
        cluster.start()
        server, cluster_kubeconfig = cluster.server, cluster.kubeconfig
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cluster_kubeconfig, kubeconfig)
    kubeconfig.chmod(0o600)
    took = time.monotonic() - started
    print(f"cluster up at {server} in {took:.1f}s; kubeconfig {kubeconfig}")
    if real:
        print(f"real node {node.NODE_NAME}; ingress at http://127.0.0.1:{node.INGRESS_PORT}")


def _down(state: Path, kubeconfig: Path, quiet: bool = False) -> None:
    owner = node.running()
    if owner is not None and Path(owner.get("cluster_dir", "")) == state:
        node.stop_real_cluster()
    elif owner is None:
        node.stop_real_cluster()  # leftovers of a crashed run, if any
    stop_recorded(state)
    shutil.rmtree(state, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        kubeconfig.unlink()
    if not quiet:
        print("cluster down")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.cluster_cli", description=__doc__)
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument(
        "kind",
        nargs="?",
        choices=["kwok", "real"],
        default="kwok",
        help="kwok: simulated nodes only; real: with a real worker node",
    )
    parser.add_argument("--dir", type=Path, default=REPO / ".run" / "cluster")
    parser.add_argument("--kubeconfig", type=Path, default=REPO / ".run" / "kubeconfig")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            _up(args.dir.resolve(), args.kubeconfig, real=args.kind == "real")
        else:
            _down(args.dir.resolve(), args.kubeconfig)
    except (ClusterError, subprocess.CalledProcessError) as exc:
        print(f"cluster {args.command} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
