"""The local control plane (devtools/cluster.py) as the provisioner and scale benchmarks
run it: the controller-manager's workers per controller and the scheduler's client
QPS/burst raised from the defaults (5, and 50/100), as a cluster expecting hundreds of
pods a minute would have them; `tuned=False` keeps the defaults."""

from __future__ import annotations

from pathlib import Path

from devtools.cluster import SERVICE_RANGE, START_TIMEOUT, LocalCluster

TUNED_SYNCS = (
    "deployment",
    "replicaset",
    "statefulset",
    "job",
    "resource-quota",
    "serviceaccount-token",
    "service-endpoint",
    "gc",
)
TUNED_SETUP = "tuned: controller-manager --concurrent-*-syncs=25, scheduler QPS 500/1000"


class BenchCluster(LocalCluster):
    def __init__(
        self,
        workdir: Path,
        bin_dir: Path,
        nodes: int,
        tuned: bool,
        service_range: str = SERVICE_RANGE,
    ) -> None:
        super().__init__(workdir, bin_dir, nodes=nodes, service_range=service_range)
        self.tuned = tuned

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """As `LocalCluster.start`, with a second more for each fake node."""
        super().start(max(timeout, 120 + len(self.nodes)))

    def _controller_manager_args(self) -> list[str]:
        extra = [f"--concurrent-{name}-syncs=25" for name in TUNED_SYNCS] if self.tuned else []
        return [*super()._controller_manager_args(), *extra]

    def _scheduler_args(self) -> list[str]:
        extra = ["--kube-api-qps=500", "--kube-api-burst=1000"] if self.tuned else []
        return [*super()._scheduler_args(), *extra]
