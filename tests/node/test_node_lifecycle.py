"""Starting and stopping the real node is safe on a shared machine: the host is left as
it was found (interfaces, routes, firewall rules, ipsets, mounts, sysctls, cgroups,
processes, the runtime's directories), after a clean stop and after every node process
was killed; and a second node refuses to start while one runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import pytest

from devtools import hostnet, procs
from devtools.node import NodeError, RealCluster, start_real_cluster, stop_real_cluster
from tests.node.conftest import REASON, Kubectl, eventually, toolbox_pod

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason=REASON)


def _start(tmp_path: Path, name: str) -> RealCluster:
    return start_real_cluster(tmp_path / name, images=())


def _node_ready(kubectl: Kubectl) -> bool:
    node = kubectl.get("node", "storefleet-node")
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


def test_start_stop_and_start_again_leave_the_host_as_it_was(tmp_path: Path) -> None:
    stop_real_cluster()
    before = hostnet.snapshot()

    for round_ in ("first", "second"):
        real = _start(tmp_path, round_)
        assert _node_ready(Kubectl(real.kubeconfig))
        assert hostnet.compare(before, hostnet.snapshot()), "a running node changes the host"
        stop_real_cluster()
        assert hostnet.compare(before, hostnet.snapshot()) == {}, f"after the {round_} stop"


def test_a_second_node_refuses_to_start_while_one_runs(tmp_path: Path) -> None:
    first = _start(tmp_path, "first")
    try:
        with pytest.raises(NodeError, match="already runs on this machine") as refused:
            _start(tmp_path, "second")
        assert str(first.kubeconfig.parent) in str(refused.value)
        assert _node_ready(Kubectl(first.kubeconfig)), "the refusal left the first node alone"
    finally:
        stop_real_cluster()


def test_stop_after_every_node_process_was_killed_leaves_the_host_as_it_was(
    tmp_path: Path,
) -> None:
    stop_real_cluster()
    before = hostnet.snapshot()
    real = _start(tmp_path, "killed")
    kubectl = Kubectl(real.kubeconfig)
    # A running pod: a sandbox, its network namespace, veth, mounts and cgroups.
    kubectl.apply(toolbox_pod("sleeper", "default", ["sleep", "3600"],
                              securityContext={"runAsNonRoot": True}))  # fmt: skip
    kubectl.wait_ready("default", "sleeper")

    victims = hostnet.node_processes()
    assert {"kubelet", "containerd", "sleep"} <= {name for _, name in victims}
    # Kubelet and containerd run short-lived helpers (mount, iptables, runc), which may
    # have exited since they were listed.
    for pid, _ in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    stop_real_cluster()

    assert hostnet.compare(before, hostnet.snapshot()) == {}
    assert not hostnet.STATE.exists()


def test_start_cleans_up_what_a_killed_run_left_behind(tmp_path: Path) -> None:
    stop_real_cluster()
    before = hostnet.snapshot()
    _start(tmp_path, "crashed")
    owner = json.loads((hostnet.STATE / "owner.json").read_text())
    killed = [pid for pid, _ in hostnet.node_processes()]
    killed += [int(f.read_text()) for f in (Path(owner["cluster_dir"]) / "pids").glob("*.pid")]
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # Dead, as after a crash (SIGKILL takes a moment to land).
    eventually(lambda: not any(procs.alive(pid) for pid in killed), "the killed run to die")

    real = _start(tmp_path, "after-crash")
    try:
        assert _node_ready(Kubectl(real.kubeconfig))
    finally:
        stop_real_cluster()
    assert hostnet.compare(before, hostnet.snapshot()) == {}
