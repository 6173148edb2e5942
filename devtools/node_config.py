"""The configuration files of a real node's agents, as pure functions of where things
are: containerd's TOML, the CNI network, the kubelet's and kube-proxy's configuration
objects, and a kubeconfig for each agent. `devtools.node` writes them into the node's
state directory before it starts each process.

Settings that differ from upstream defaults, and why (measured in
docs/real-node.md of the shared notes):
- containerd: `restrict_oom_score_adj`, because root here lacks CAP_SYS_RESOURCE and
  runc cannot give a sandbox a negative oom_score_adj; the sandbox image is the locally
  built pause, so no pull is ever attempted.
- CNI: no masquerade and no default route in pods, so nothing a pod sends can leave the
  machine; the only routes are the pod subnet and the Service range.
- kubelet: cgroup v1 is accepted (`failCgroupV1: false`), swap ignored, image GC and
  eviction pushed out so a busy build machine does not evict test pods.
- kube-proxy: leaves conntrack sysctls and `route_localnet` alone; NodePorts only on
  the node's own address.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.certs import NodePki


@dataclass(frozen=True)
class NodeLayout:
    """Where one node's files live and which addresses it uses."""

    name: str
    ip: str
    bridge: str
    pod_cidr: str
    service_cidr: str
    dns_ip: str
    state: Path  # sockets, configs, runtime state (tmpfs)
    data: Path  # containerd's images, the kubelet's root, volumes (disk)
    pause_image: str

    @property
    def containerd_socket(self) -> Path:
        return self.state / "containerd" / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.state / "cni" / "net.d"

    @property
    def volumes(self) -> Path:
        return self.data / "volumes"


def containerd_toml(layout: NodeLayout) -> str:
    """containerd 1.6 (Debian's package) with everything under the node's directories
    except what it hard-codes: the shims' sockets in /run/containerd/s."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{layout.data / "containerd"}"
state = "{layout.state / "containerd" / "state"}"
oom_score = 0

[grpc]
  address = "{layout.containerd_socket}"

[ttrpc]
  address = "{layout.containerd_socket}.ttrpc"

[metrics]
  address = ""

[{cri}]
  sandbox_image = "{layout.pause_image}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  restrict_oom_score_adj = true
  max_container_log_line_size = 16384
  # Pods' network namespaces under the node's state, not /var/run/netns, where
  # anyone's may be.
  netns_mounts_under_state_dir = true

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  BinaryName = "/usr/sbin/runc"
  # runc's state beside the node's, not in /run/containerd/runc.
  Root = "{layout.state / "runc"}"

[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{layout.cni_conf_dir}"
  max_conf_num = 1

[{cri}.registry]
  config_path = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{layout.data / "containerd-opt"}"
"""


def cni_conflist(layout: NodeLayout) -> dict[str, Any]:
    gateway = layout.ip
    return {
        "cniVersion": "1.0.0",
        "name": "storefleet",
        "plugins": [
            {
                "type": "bridge",
                "bridge": layout.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(layout.state / "cni" / "ipam"),
                    "ranges": [[{"subnet": layout.pod_cidr, "gateway": gateway}]],
                    # Services only: no default route, so no packet leaves the machine.
                    "routes": [{"dst": layout.service_cidr}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(layout: NodeLayout, pki: NodePki, ca_cert: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "failSwapOn": False,
        "address": layout.ip,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "tlsCertFile": str(pki.kubelet_serving_cert),
        "tlsPrivateKeyFile": str(pki.kubelet_serving_key),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": "cluster.local",
        "clusterDNS": [layout.dns_ip],
        # An empty file: pods that ask for the node's resolvers get none, since nothing
        # outside the machine can be reached anyway.
        "resolvConf": str(layout.state / "resolv.conf"),
        "podLogsDir": str(layout.data / "pod-logs"),
        "volumePluginDir": str(layout.data / "volume-plugins"),
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "registerNode": True,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
        },
        "maxPods": 110,
    }


def kube_proxy_config(layout: NodeLayout, kubeconfig: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": layout.name,
        "mode": "iptables",
        "clusterCIDR": layout.pod_cidr,
        "bindAddress": layout.ip,
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
        "nodePortAddresses": [f"{layout.ip}/32"],
        "iptables": {
            "localhostNodePorts": False,
            "masqueradeAll": False,
            "syncPeriod": "30s",
            "minSyncPeriod": "1s",
        },
        # 0: leave the host's conntrack sysctls alone.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }
