"""`just up` restarts its control plane over the etcd data of the last run: the restart
must succeed (the fake nodes are registered already) and keep what was created."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.cluster import LocalCluster, ensure_binaries

pytestmark = pytest.mark.cluster


def test_a_control_plane_restarted_over_its_data_keeps_its_namespaces(tmp_path: Path) -> None:
    workdir = tmp_path / "cluster"
    first = LocalCluster(workdir, ensure_binaries())
    first.start()
    try:
        first.request("POST", "/api/v1/namespaces", {"metadata": {"name": "kept-over-restart"}})
    finally:
        first.stop()

    second = LocalCluster(workdir, ensure_binaries())
    second.start()
    try:
        kept = second.request("GET", "/api/v1/namespaces/kept-over-restart")
    finally:
        second.stop()

    assert kept["metadata"]["name"] == "kept-over-restart"
