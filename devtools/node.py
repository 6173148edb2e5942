"""A real worker node beside the local control plane: containerd and runc (Debian's),
the kubelet, kube-proxy, kube-router for NetworkPolicy, CoreDNS for cluster DNS,
local-path-provisioner for volumes and Traefik for Ingress, all on this machine, with
pods on a bridge that has no uplink.

`start_real_cluster()` claims the machine (one real node at a time: the node's paths
and addresses are fixed), records the host as it is (`devtools.hostnet`), starts a
control plane that listens on the node's address so pods reach it through the
`kubernetes` Service, then the node's agents, imports the built images
(`devtools.images`) and applies the add-ons' objects. `stop_real_cluster()` stops it all
and puts the host back; it also cleans up after a run that crashed or was killed. Used
by `python -m devtools.cluster up --real` (`just cluster-up real`) and the `real_cluster`
test fixture.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools import hostnet, node_addons, procs
from devtools.certs import kubeconfig
from devtools.cluster import (
    REPO,
    SERVICE_RANGE,
    ClusterError,
    LocalCluster,
    NodeIdentity,
    ensure_binaries,
    stop_recorded,
)
from devtools.node_config import (
    NodeLayout,
    cni_conflist,
    containerd_toml,
    kube_proxy_config,
    kubelet_config,
)

NODE_NAME = "storefleet-node"
DNS_IP = "10.0.0.10"
INGRESS_PORT = int(os.environ.get("STOREFLEET_INGRESS_PORT", "18080"))
KUBE_ROUTER_HEALTH_PORT = 20244
PAUSE_IMAGE = "docker.io/storefleet/pause:dev"
COREDNS_IMAGE = "docker.io/storefleet/coredns:dev"
HELPER_IMAGE = "docker.io/storefleet/toolbox:dev"
NODE_IMAGES = ("pause", "coredns", "toolbox")
BUILD_SCRIPT = REPO / "scripts" / "build-node-bins.sh"
# Start order; they stop the other way round.
AGENTS = ("containerd", "kubelet", "kube-proxy", "kube-router", "local-path-provisioner", "traefik")
# Set once by the kubelet at start-up (it never checks them again): put back at once.
KUBELET_SYSCTLS = ("kernel.panic", "kernel.panic_on_oops", "vm.overcommit_memory")
START_TIMEOUT = 240.0
LAYOUT = NodeLayout(
    name=NODE_NAME,
    ip=hostnet.NODE_IP,
    bridge=hostnet.BRIDGE,
    pod_cidr=hostnet.POD_CIDR,
    service_cidr=SERVICE_RANGE,
    dns_ip=DNS_IP,
    state=hostnet.STATE,
    data=hostnet.DATA,
    pause_image=PAUSE_IMAGE,
)
OWNER = hostnet.STATE / "owner.json"
BASELINE = hostnet.STATE / "baseline.json"


class NodeError(ClusterError):
    """The real node did not come up, or another one already runs on this machine."""


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
        _Agents(cluster, binaries, ingress_port, images).start()
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


# -- the agents -----------------------------------------------------------------------------


class _Agents:
    """Starts the node's processes in order, each waited for before the next."""

    def __init__(
        self,
        cluster: LocalCluster,
        binaries: dict[str, Path],
        ingress_port: int,
        images: Sequence[str] | None,
    ) -> None:
        self.cluster = cluster
        self.images = images
        self.binaries = binaries
        self.ingress_port = ingress_port
        self.state = LAYOUT.state
        self.logs = cluster.workdir / "logs" / "node"
        self.deadline = time.monotonic() + START_TIMEOUT
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.admin_kubeconfig = self.state / "admin.kubeconfig"

    def start(self) -> None:
        self._write_configs()
        self._containerd()
        self._import_images()
        self._kubelet()
        self._spawn("kube-proxy", ["--config", str(self.state / "kube-proxy.json")])
        self._kube_router()
        self._apply_addons()
        self._local_path()
        self._traefik()
        self._wait("kube-router healthy", lambda: _http_ok(
            f"http://127.0.0.1:{KUBE_ROUTER_HEALTH_PORT}/healthz"))  # fmt: skip
        self._wait("Traefik listening", lambda: _port_open(self.ingress_port))
        self._wait("CoreDNS ready", self._dns_ready)

    def _write_configs(self) -> None:
        pki, ca = self.cluster.node_pki, self.cluster.ca_cert
        server = self.cluster.server
        for sub in ("bin", "cni/net.d", "containerd"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        LAYOUT.volumes.mkdir(parents=True, exist_ok=True)
        files = {
            "containerd.toml": containerd_toml(LAYOUT),
            "cni/net.d/10-storefleet.conflist": json.dumps(cni_conflist(LAYOUT), indent=2),
            "kubelet.json": json.dumps(kubelet_config(LAYOUT, pki, ca), indent=2),
            "kube-proxy.json": json.dumps(
                kube_proxy_config(LAYOUT, self.state / "kube-proxy.kubeconfig"), indent=2),
            "kubelet.kubeconfig": kubeconfig(
                server, ca, pki.kubelet_cert, pki.kubelet_key, f"system:node:{NODE_NAME}"),
            "kube-proxy.kubeconfig": kubeconfig(
                server, ca, pki.proxy_cert, pki.proxy_key, "system:kube-proxy"),
            "resolv.conf": "",
        }  # fmt: skip
        for name, text in files.items():
            (self.state / name).write_text(text)
        shutil.copyfile(self.cluster.kubeconfig, self.admin_kubeconfig)
        # Agents run from links in the node's directory, so their command lines name it
        # and a later run can tell them from anyone else's.
        agents = {"containerd": Path("/usr/bin/containerd"), **self.binaries}
        for name, target in agents.items():
            link = self.state / "bin" / name
            link.unlink(missing_ok=True)
            link.symlink_to(target)

    def _containerd(self) -> None:
        self._spawn("containerd", ["--config", str(self.state / "containerd.toml")])
        self._wait("containerd socket", LAYOUT.containerd_socket.exists)

    def _import_images(self) -> None:
        from devtools import images

        # The node's own images are built if need be; the rest as `just images` left them.
        latest = images.latest_archives()
        if self.images is not None:
            wanted = {images.recipe(name).name for name in self.images}
            latest = {name: path for name, path in latest.items() if name in wanted}
        archives = {**latest, **images.build_images(NODE_IMAGES)}
        images.import_archives(str(LAYOUT.containerd_socket), archives.values())

    def _kubelet(self) -> None:
        before = {key: hostnet.read_sysctl(key) for key in KUBELET_SYSCTLS}
        self._spawn("kubelet", [
            f"--config={self.state / 'kubelet.json'}",
            f"--kubeconfig={self.state / 'kubelet.kubeconfig'}",
            f"--root-dir={LAYOUT.data / 'kubelet'}",
            f"--cert-dir={LAYOUT.data / 'kubelet-pki'}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={LAYOUT.ip}",
            "--node-labels=storefleet.dev/node=real",
            "--v=1",
        ])  # fmt: skip
        self._wait("the node Ready", self._node_ready)
        hostnet.restore_sysctls({k: v for k, v in before.items() if v is not None})

    def _kube_router(self) -> None:
        self._spawn("kube-router", [
            f"--kubeconfig={self.admin_kubeconfig}",
            f"--hostname-override={NODE_NAME}",
            "--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
            "--run-loadbalancer=false", "--enable-cni=false", "--enable-pod-egress=false",
            "--enable-ipv4=true", "--enable-ipv6=false",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            f"--health-port={KUBE_ROUTER_HEALTH_PORT}", "--metrics-port=0",
            "--iptables-sync-period=1m", "--v=1",
        ])  # fmt: skip

    def _apply_addons(self) -> None:
        objects = node_addons.manifests(DNS_IP, COREDNS_IMAGE, HELPER_IMAGE, str(LAYOUT.volumes))
        body = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
        self.kubectl("apply", "--server-side", "-f", "-", input=body)

    def _local_path(self) -> None:
        self._spawn("local-path-provisioner", [
            "--debug", "start",
            f"--kubeconfig={self.admin_kubeconfig}",
            f"--namespace={node_addons.LOCAL_PATH_NAMESPACE}",
            "--service-account-name=local-path-provisioner",
            f"--provisioner-name={node_addons.LOCAL_PATH_PROVISIONER}",
            "--configmap-name=local-path-config",
        ])  # fmt: skip

    def _traefik(self) -> None:
        self._spawn("traefik", [
            "--global.checkNewVersion=false", "--global.sendAnonymousUsage=false",
            f"--entryPoints.web.address=127.0.0.1:{self.ingress_port}",
            "--providers.kubernetesIngress=true",
            "--log.level=INFO",
        ], env={"KUBECONFIG": str(self.admin_kubeconfig)})  # fmt: skip

    # -- plumbing -------------------------------------------------------------------------

    def kubectl(self, *args: str, input: str | None = None) -> str:
        done = subprocess.run(
            [str(self.binaries["kubectl"]), f"--kubeconfig={self.admin_kubeconfig}", *args],
            input=input, capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise NodeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        argv = [str(self.state / "bin" / name), *args]
        proc = procs.start(argv, self.logs / f"{name}.log", env=env, cwd=self.state)
        self.procs[name] = proc
        pid_dir = self.state / "pids"
        pid_dir.mkdir(exist_ok=True)
        (pid_dir / f"{name}.pid").write_text(str(proc.pid))

    def _wait(self, what: str, check: Callable[[], bool]) -> None:
        while time.monotonic() < self.deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    tail = procs.tail(self.logs / f"{name}.log", 25)
                    raise NodeError(f"{name} exited with {proc.returncode}:\n{tail}")
            with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
                if check():
                    return
            time.sleep(0.2)
        raise NodeError(f"timed out waiting for {what}; logs in {self.logs}")

    def _node_ready(self) -> bool:
        node = self.cluster.request("GET", f"/api/v1/nodes/{NODE_NAME}")
        conditions = node.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def _dns_ready(self) -> bool:
        path = "/apis/apps/v1/namespaces/kube-system/deployments/coredns"
        status = self.cluster.request("GET", path).get("status", {})
        return bool(status.get("readyReplicas", 0) >= 1)


def _port_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return bool(resp.status == 200)


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
