"""A real worker node beside the local control plane: containerd and runc (Debian's),
the kubelet, kube-proxy, kube-router for NetworkPolicy, CoreDNS for cluster DNS,
local-path-provisioner for volumes and Traefik for Ingress, all on this machine, with
pods on a bridge that has no uplink.

`start_real_cluster()` claims the machine (one real node at a time: the node's paths
and addresses are fixed), records the host as it is (`devtools.hostnet`), starts a
control plane that listens on the node's address so pods reach it through the
`kubernetes` Service, then the node's agents (`devtools.node_agents`), which import the
built images and apply the add-ons' objects. `stop_real_cluster()` stops it all
and puts the host back; it also cleans up after a run that crashed or was killed. Used
by `python -m devtools.cluster_cli up real` (`just cluster-up real`) and the `real_cluster`
test fixture.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools import hostnet, procs
from devtools.cluster import REPO, LocalCluster, NodeIdentity, ensure_binaries, stop_recorded
from devtools.node_agents import INGRESS_TLS_PORT, LAYOUT, NODE_NAME, Agents, NodeError

INGRESS_PORT = int(os.environ.get("STOREFLEET_INGRESS_PORT", "18080"))
BUILD_SCRIPT = REPO / "scripts" / "build-node-bins.sh"
OWNER = hostnet.STATE / "owner.json"
BASELINE = hostnet.STATE / "baseline.json"


@dataclass(frozen=True)
class RealCluster:
    """A running control plane with its real node: what tests and tools need to know."""

    cluster: LocalCluster
    ingress_port: int

    @property
    def kubeconfig(self) -> Path:
        return self.cluster.kubeconfig

    @property
    def server(self) -> str:
        return self.cluster.server

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def ingress_tls_port(self) -> int:
        """The ingress controller's HTTPS entrypoint, on 127.0.0.1."""
        return INGRESS_TLS_PORT


def node_binaries() -> dict[str, Path]:
    """Build (or find in the cache) the node's binaries; name -> path."""
    done = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], cwd=REPO, check=True, stdout=subprocess.PIPE, text=True
    )
    pairs = (line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return {name: Path(path) for name, path in pairs}


def start_real_cluster(
    workdir: Path, ingress_port: int = INGRESS_PORT, images: Sequence[str] | None = None
) -> RealCluster:
    """Claim the machine, start a control plane and the real node; return once the node
    is Ready and DNS, volumes, NetworkPolicy and Ingress all answer. The node's own images
    are built if need be; of the others, the newest archive built of each is imported,
    or only of those named in `images`."""
    binaries = node_binaries()
    bin_dir = ensure_binaries()
    _claim(workdir)
    try:
        _bridge_up()
        cluster = LocalCluster(
            workdir, bin_dir, nodes=0, real_node=NodeIdentity(NODE_NAME, LAYOUT.ip)
        )
        cluster.start()
        Agents(cluster, binaries, ingress_port, images).start()
    except BaseException:
        stop_real_cluster()
        raise
    return RealCluster(cluster, ingress_port)


def stop_real_cluster() -> list[str]:
    """Stop the node and its control plane, whoever started them, and put the host back
    as it was before; return what had to be undone. Nothing to do when none runs."""
    if not hostnet.STATE.exists():
        return []
    owner = _read_json(OWNER)
    pid_dir = hostnet.STATE / "pids"
    pids = [int(f.read_text()) for f in pid_dir.glob("*.pid")] if pid_dir.exists() else []
    procs.stop_pids([pid for pid in pids if _is_agent(pid)], timeout=3)
    if owner.get("cluster_dir"):
        stop_recorded(Path(owner["cluster_dir"]))
    baseline = _read_json(BASELINE)
    done = hostnet.restore(baseline) if baseline else []
    shutil.rmtree(hostnet.STATE, ignore_errors=True)
    return done


def kill_agent(name: str) -> Callable[[], None]:
    """SIGKILL the node's agent `name` (`kubelet`, `containerd`, ...), as a crash would;
    return what starts it again with the same command line, environment and log. Pods
    keep running meanwhile (their shims belong to containerd)."""
    pid_file = hostnet.STATE / "pids" / f"{name}.pid"
    pid = int(pid_file.read_text())
    if not _is_agent(pid):
        raise NodeError(f"{name} is not running (pid {pid})")
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    env = dict(item.split("=", 1) for item in environ if "=" in item)
    os.kill(pid, signal.SIGKILL)
    while procs.alive(pid):
        time.sleep(0.05)
    cluster_dir = Path(_read_json(OWNER).get("cluster_dir", hostnet.STATE))
    log = cluster_dir / "logs" / "node" / f"{name}.log"

    def start_again() -> None:
        proc = procs.start(argv, log, env=env, cwd=hostnet.STATE)
        pid_file.write_text(str(proc.pid))

    return start_again


def running() -> dict[str, Any] | None:
    """The owner record of the real node running on this machine, or None."""
    if not hostnet.STATE.exists() or not hostnet.node_processes():
        return None
    return _read_json(OWNER) or {"cluster_dir": "unknown"}


# -- claiming the machine -------------------------------------------------------------------


def _claim(workdir: Path) -> None:
    owner = running()
    if owner is not None:
        raise NodeError(
            f"a real node already runs on this machine (control plane in "
            f"{owner.get('cluster_dir')}, started {owner.get('started', '?')}); "
            "stop it first with `just cluster-down`"
        )
    stop_real_cluster()  # what a crashed or killed run left behind
    try:
        hostnet.STATE.mkdir(parents=True)
    except FileExistsError:
        raise NodeError("another real node is starting on this machine right now") from None
    baseline = hostnet.snapshot()
    BASELINE.write_text(json.dumps(baseline))
    other = hostnet.other_node(baseline)
    if other:
        shutil.rmtree(hostnet.STATE, ignore_errors=True)
        raise NodeError(f"this machine already has a Kubernetes node of someone else's: {other}")
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    OWNER.write_text(json.dumps({"cluster_dir": str(workdir.resolve()), "started": started}))


def _bridge_up() -> None:
    """The pods' bridge, with the node's address, before the API server binds to it."""
    for argv in (
        ["ip", "link", "add", LAYOUT.bridge, "type", "bridge"],
        ["ip", "addr", "add", f"{LAYOUT.ip}/{LAYOUT.pod_cidr.split('/')[1]}", "dev", LAYOUT.bridge],
        ["ip", "link", "set", LAYOUT.bridge, "up"],
    ):
        subprocess.run(argv, check=True, capture_output=True)


def _is_agent(pid: int) -> bool:
    try:
        return str(hostnet.STATE).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def main(argv: list[str] | None = None) -> int:
    """`python -m devtools.node import-images [NAME ...]`: import the newest built
    archives into the running real node's containerd (`just images` calls it)."""
    import argparse

    from devtools import images

    parser = argparse.ArgumentParser(prog="python -m devtools.node")
    parser.add_argument("command", choices=["import-images"])
    parser.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    if running() is None:
        print("no real node runs here: nothing to import into (`just cluster-up real`)")
        return 0
    images.import_images(str(LAYOUT.containerd_socket), args.names or None)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
