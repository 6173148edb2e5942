"""Where a real node lives on this host and what on the host it may touch: its fixed
state and data directories, bridge and addresses (one node per machine, so fixed), the
paths its agents hard-code elsewhere, the sysctls they set and the cgroups its pods run
in. `devtools.hostnet` snapshots and restores these; `devtools.node_agents` lays the
node out with them.
"""

from __future__ import annotations

from pathlib import Path

# Where the node keeps its state: sockets and runtime state on tmpfs, images, pods'
# volumes and the kubelet's root on disk. One node per machine, so fixed paths.
STATE = Path("/run/storefleet-node")
DATA = Path("/var/lib/storefleet-node")
BRIDGE = "sf-br0"
POD_CIDR = "10.244.0.0/24"
NODE_IP = "10.244.0.1"
# Paths a kubelet, containerd or the CNI plugins may create outside the node's own
# directories. A path that was not there before the node started is removed with all it
# holds; one that was (another runtime on the machine) keeps everything but the node's
# own files: dead shim sockets in /run/containerd/s, and CNI results named after the
# node's network in /var/lib/cni. The node keeps runc's state and its pods' network
# namespaces under its own state directory (see devtools/node_config.py).
HARD_CODED_DIRS = (
    "/run/containerd",
    "/var/lib/cni",
    "/var/log/pods",
    "/var/log/containers",
    "/var/lib/kubelet",
    "/etc/cni",
    "/opt/cni",
    "/var/lib/kube-router",
    "/var/lib/containerd",
    "/var/lib/rancher",
)
CNI_NETWORK = "storefleet"
# Where a node's mounts can be: what the snapshot compares (builds and others' containers
# elsewhere on the machine come and go on their own).
MOUNT_SCOPE = (str(STATE), str(DATA), *HARD_CODED_DIRS, "/run/netns", "/sys/fs/cgroup")
SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.forwarding",
    "net.ipv4.conf.default.forwarding",
    "net.ipv6.conf.all.forwarding",
    "net.ipv4.conf.all.route_localnet",
    "net.ipv4.conf.all.rp_filter",
    "kernel.panic",
    "kernel.panic_on_oops",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_tcp_timeout_established",
    "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
    "fs.inotify.max_user_instances",
    "fs.inotify.max_user_watches",
)
CGROUP_ROOTS = ("kubepods",)
