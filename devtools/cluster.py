"""A real Kubernetes control plane as plain local processes: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok, which stands in for kubelets on fake
nodes. The session fixture in tests/fixtures/cluster.py starts one per test run;
`python -m devtools.cluster_cli up|down` (behind `just cluster-up`)
starts a detached one for local work and writes its admin kubeconfig to .run/kubeconfig.

Everything listens on 127.0.0.1 at free ports, so several clusters can run side by side.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools import procs
from devtools.certs import NodePki, Pki, kubeconfig, write_node_pki, write_pki

REPO = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO / "scripts" / "build-cluster-bins.sh"
# Start order; they stop the other way round.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# kwok v0.8.0 has no built-in behaviour: each of these Stage files is needed.
STAGES = ("node-initialize", "node-heartbeat-with-lease", "pod-ready", "pod-complete", "pod-delete")
SERVICE_RANGE = "10.0.0.0/24"
FAKE_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
# ephemeral-storage: store pods request it (their LimitRange), and the scheduler
# places such a pod only on a node that reports some.
FAKE_NODE_CAPACITY = {"cpu": "32", "memory": "256Gi", "ephemeral-storage": "500Gi", "pods": "110"}
START_TIMEOUT = 90.0
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class NodeIdentity:
    """A real node's name and address, known before the control plane starts."""

    name: str
    ip: str


class ClusterError(RuntimeError):
    """The control plane did not come up (or could not be reached)."""


def ensure_binaries() -> Path:
    """Build (or find in the cache) the control-plane binaries and return their directory."""
    done = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], cwd=REPO, check=True, stdout=subprocess.PIPE, text=True
    )
    return Path(done.stdout.strip().splitlines()[-1])


class LocalCluster:
    """One control plane whose data, certificates, logs and pid files live in `workdir`."""

    def __init__(
        self,
        workdir: Path,
        bin_dir: Path,
        nodes: int = 3,
        real_node: NodeIdentity | None = None,
        service_range: str = SERVICE_RANGE,
    ) -> None:
        self.workdir = workdir.resolve()
        self.service_range = service_range  # a /24 holds 254 Services; a big test widens it
        self.bin_dir = bin_dir
        self.nodes = [f"kwok-node-{i}" for i in range(nodes)]
        self.kubeconfig = self.workdir / "kubeconfig"
        self.port = procs.free_port()
        # With a real node the API server listens on the node's address, where pods reach
        # it through the `kubernetes` Service; alone it stays on loopback.
        self.real_node = real_node
        self.address = real_node.ip if real_node else "127.0.0.1"
        self.server = f"https://{self.address}:{self.port}"
        self._pki = Pki.in_dir(self.workdir / "pki")
        self.node_pki = NodePki.in_dir(self.workdir / "pki" / "node")
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._tls_context: ssl.SSLContext | None = None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start every component and return once the fake nodes are Ready and schedulable."""
        deadline = time.monotonic() + timeout
        self._check_binaries()
        try:
            sans = (self.real_node.ip,) if self.real_node else ()
            self._pki = write_pki(self.workdir / "pki", sans)
            if self.real_node:
                node = self.real_node
                self.node_pki = write_node_pki(self._pki, self.node_pki_dir, node.name, node.ip)
            self._write_kubeconfig()
            etcd_port = procs.free_port()
            self._spawn("etcd", self._etcd_args(etcd_port))
            procs.wait_for_port(etcd_port, 30, proc=self._procs["etcd"], log=self._log("etcd"))
            self._spawn("kube-apiserver", self._apiserver_args(etcd_port))
            self._wait(deadline, "kube-apiserver /readyz", self._apiserver_ready)
            self._spawn("kube-controller-manager", self._controller_manager_args())
            self._spawn("kube-scheduler", self._scheduler_args())
            self._spawn("kwok", self._kwok_args())
            for name in self.nodes:
                self._register_node(name)
            self._wait(deadline, "fake nodes Ready and untainted", self._nodes_schedulable)
        except BaseException:
            self.stop()
            raise

    def _register_node(self, name: str) -> None:
        """Create a fake node; over the etcd data of an earlier start it is there already,
        and gets today's capacity (an older one may lack ephemeral-storage)."""
        try:
            self.request("POST", "/api/v1/nodes", _fake_node(name))
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise
            status = {"status": _fake_node(name)["status"]}
            self.request("PATCH", f"/api/v1/nodes/{name}/status", status, MERGE_PATCH)

    def stop(self) -> None:
        """Stop every component this object or an earlier command started in `workdir`."""
        for name in reversed(COMPONENTS):
            proc = self._procs.pop(name, None)
            if proc is not None:
                procs.stop(proc)
        stop_recorded(self.workdir)

    def pid_of(self, component: str) -> int:
        """The pid of one running component (one of COMPONENTS), from its pid file."""
        return int((self.workdir / "pids" / f"{component}.pid").read_text())

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> Any:  # fmt: skip
        """One call to the API server as admin; the decoded JSON answer."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.server + path, data=data, method=method,
            headers={"Content-Type": content_type, "Accept": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, context=self._tls(), timeout=10) as resp:
            return json.loads(resp.read())

    def text(self, path: str) -> str:
        """One GET as admin; the answer as text (`/metrics`)."""
        req = urllib.request.Request(self.server + path)
        with urllib.request.urlopen(req, context=self._tls(), timeout=30) as resp:
            return str(resp.read().decode())

    # -- components -------------------------------------------------------------------

    def _etcd_args(self, port: int) -> list[str]:
        peer = f"http://127.0.0.1:{procs.free_port()}"
        client = f"http://127.0.0.1:{port}"
        return [
            str(self.bin_dir / "etcd"),
            "--name=storefleet",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=storefleet={peer}",
            # Throwaway data: fsync is where a test cluster's writes spend their time.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]

    def _apiserver_args(self, etcd_port: int) -> list[str]:
        pki = self._pki
        return [
            str(self.bin_dir / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            f"--bind-address={self.address}",
            f"--secure-port={self.port}",
            # Without a default route the server refuses to guess its own address.
            f"--advertise-address={self.address}",
            *self._node_args(),
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,"
            "ResourceQuota,PodSecurity,ValidatingAdmissionPolicy,NodeRestriction",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            f"--service-cluster-ip-range={self.service_range}",
            "--allow-privileged=true",
            "--profiling=false",
        ]

    def _node_args(self) -> list[str]:
        if self.real_node is None:
            # A loopback address fails validation of the `kubernetes` Endpoints object.
            return ["--endpoint-reconciler-type=none"]
        node = self.node_pki
        return [
            # logs, exec and port-forward: the API server calls the kubelet over TLS and
            # checks its serving certificate against the cluster's CA.
            f"--kubelet-client-certificate={node.apiserver_kubelet_cert}",
            f"--kubelet-client-key={node.apiserver_kubelet_key}",
            f"--kubelet-certificate-authority={self._pki.ca_cert}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
        ]

    @property
    def node_pki_dir(self) -> Path:
        return self.workdir / "pki" / "node"

    @property
    def ca_cert(self) -> Path:
        return self._pki.ca_cert

    def _controller_manager_args(self) -> list[str]:
        return [
            str(self.bin_dir / "kube-controller-manager"),
            f"--kubeconfig={self.kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={procs.free_port()}",
            "--leader-elect=false",
            "--controllers=*",
            "--use-service-account-credentials=false",
            f"--service-account-private-key-file={self._pki.sa_key}",
            f"--root-ca-file={self._pki.ca_cert}",
            # The default 20/30 throttles ReplicaSets and namespace deletion.
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--node-monitor-period=5s",
            "--node-monitor-grace-period=40s",
            "--profiling=false",
        ]

    def _scheduler_args(self) -> list[str]:
        return [
            str(self.bin_dir / "kube-scheduler"),
            f"--kubeconfig={self.kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={procs.free_port()}",
            "--leader-elect=false",
            "--profiling=false",
        ]

    def _kwok_args(self) -> list[str]:
        key, value = FAKE_NODE_ANNOTATION
        stages = [f"--config={self.bin_dir / 'kwok-stages' / f'{s}.yaml'}" for s in STAGES]
        return [
            str(self.bin_dir / "kwok"),
            f"--kubeconfig={self.kubeconfig}",
            f"--manage-nodes-with-annotation-selector={key}={value}",
            # kwok renews each node's Lease, the heartbeat the node controller watches.
            "--node-lease-duration-seconds=40",
            *stages,
        ]

    # -- plumbing ---------------------------------------------------------------------

    def _check_binaries(self) -> None:
        wanted = [self.bin_dir / name for name in COMPONENTS]
        wanted += [self.bin_dir / "kwok-stages" / f"{s}.yaml" for s in STAGES]
        missing = [str(path) for path in wanted if not path.exists()]
        if missing:
            raise ClusterError(f"missing from {self.bin_dir}: {', '.join(missing)}")

    def _spawn(self, name: str, argv: list[str]) -> None:
        proc = procs.start(argv, self._log(name), cwd=self.workdir)
        self._procs[name] = proc
        pid_dir = self.workdir / "pids"
        pid_dir.mkdir(exist_ok=True)
        (pid_dir / f"{name}.pid").write_text(str(proc.pid))

    def _log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def _wait(self, deadline: float, what: str, check: Callable[[], bool]) -> None:
        while time.monotonic() < deadline:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    tail = procs.tail(self._log(name), 25)
                    raise ClusterError(f"{name} exited with {proc.returncode}:\n{tail}")
            if check():
                return
            time.sleep(0.2)
        raise ClusterError(f"timed out waiting for {what}; logs in {self.workdir / 'logs'}")

    def _apiserver_ready(self) -> bool:
        req = urllib.request.Request(f"{self.server}/readyz")
        try:
            with urllib.request.urlopen(req, context=self._tls(), timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _nodes_schedulable(self) -> bool:
        nodes = self.request("GET", "/api/v1/nodes?labelSelector=type%3Dkwok")["items"]
        ready = [node for node in nodes if _ready(node) and not node["spec"].get("taints")]
        return len(ready) >= len(self.nodes)

    def _tls(self) -> ssl.SSLContext:
        if self._tls_context is None:
            context = ssl.create_default_context(cafile=str(self._pki.ca_cert))
            context.load_cert_chain(self._pki.admin_cert, self._pki.admin_key)
            self._tls_context = context
        return self._tls_context

    def _write_kubeconfig(self) -> None:
        pki = self._pki
        text = kubeconfig(self.server, pki.ca_cert, pki.admin_cert, pki.admin_key, "admin")
        self.kubeconfig.write_text(text)
        self.kubeconfig.chmod(0o600)


def stop_recorded(workdir: Path) -> None:
    """Stop the components whose pid files an earlier command left in `workdir`."""
    pid_files = {name: workdir / "pids" / f"{name}.pid" for name in COMPONENTS}
    recorded = {name: int(f.read_text()) for name, f in pid_files.items() if f.exists()}
    live = {name: pid for name, pid in recorded.items() if _is_component(pid, name)}
    # The API server drains its clients' requests, and needs etcd while it does.
    procs.stop_pids([pid for name, pid in live.items() if name != "etcd"])
    procs.stop_pids([pid for name, pid in live.items() if name == "etcd"])
    for name in recorded:
        pid_files[name].unlink()


def running(workdir: Path) -> bool:
    """Whether every component recorded in `workdir` is still alive."""
    pid_files = [workdir / "pids" / f"{name}.pid" for name in COMPONENTS]
    return all(p.exists() and _is_component(int(p.read_text()), p.stem) for p in pid_files)


def _is_component(pid: int, name: str) -> bool:
    # Guards against a pid the kernel has since handed to an unrelated process.
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
    return Path(argv0.decode(errors="replace")).name == name


def _fake_node(name: str) -> dict[str, Any]:
    key, value = FAKE_NODE_ANNOTATION
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {key: value},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        },
        "status": {"capacity": FAKE_NODE_CAPACITY, "allocatable": FAKE_NODE_CAPACITY},
    }


def _ready(node: dict[str, Any]) -> bool:
    conditions = node.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
