"""The real node's agents and where they live: containerd, the kubelet, kube-proxy,
kube-router, local-path-provisioner and Traefik, started in order by `Agents.start()`,
each waited for before the next, with the node's images imported into containerd and the
add-ons' objects (CoreDNS, local-path's and Traefik's RBAC, devtools/node_addons.py)
applied once the node is Ready. `devtools.node.start_real_cluster` uses it after the
control plane is up; the node's fixed names and addresses (`LAYOUT`) are defined here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from devtools import hostnet, node_addons, node_host, procs
from devtools.certs import kubeconfig
from devtools.cluster import SERVICE_RANGE, ClusterError, LocalCluster
from devtools.node_config import (
    NodeLayout,
    cni_conflist,
    containerd_toml,
    kube_proxy_config,
    kubelet_config,
)

NODE_NAME = "storefleet-node"
DNS_IP = "10.0.0.10"
KUBE_ROUTER_HEALTH_PORT = 20244
PAUSE_IMAGE = "docker.io/storefleet/pause:dev"
COREDNS_IMAGE = "docker.io/storefleet/coredns:dev"
HELPER_IMAGE = "docker.io/storefleet/toolbox:dev"
# Traefik's HTTPS entrypoint: custom domains' certificates (issue 16) are served there.
INGRESS_TLS_PORT = int(os.environ.get("STOREFLEET_INGRESS_TLS_PORT", "18443"))
NODE_IMAGES = ("pause", "coredns", "toolbox")
# Start order; they stop the other way round.
AGENTS = ("containerd", "kubelet", "kube-proxy", "kube-router", "local-path-provisioner", "traefik")
# Set once by the kubelet at start-up (it never checks them again): put back at once.
KUBELET_SYSCTLS = ("kernel.panic", "kernel.panic_on_oops", "vm.overcommit_memory")
START_TIMEOUT = 240.0
LAYOUT = NodeLayout(
    name=NODE_NAME,
    ip=node_host.NODE_IP,
    bridge=node_host.BRIDGE,
    pod_cidr=node_host.POD_CIDR,
    service_cidr=SERVICE_RANGE,
    dns_ip=DNS_IP,
    state=node_host.STATE,
    data=node_host.DATA,
    pause_image=PAUSE_IMAGE,
)


class NodeError(ClusterError):
    """The real node did not come up, or another one already runs on this machine."""


class Agents:
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
        self._wait("Traefik listening for HTTPS", lambda: _port_open(INGRESS_TLS_PORT))
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
            wanted = {images.recipe(name).reference for name in self.images}
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
            f"--entryPoints.websecure.address=127.0.0.1:{INGRESS_TLS_PORT}",
            "--entryPoints.websecure.http.tls=true",
            "--providers.kubernetesIngress=true",
            # A suspended store's Ingress names the paused page through an ExternalName
            # Service (the admission policy allows that one name and target only).
            "--providers.kubernetesIngress.allowExternalNameServices=true",
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
