"""Files uploaded to a Medusa store outlive its pods: the Medusa chart, rendered the way the
provisioner renders it, puts Medusa's upload directory on a volume claim of its own (never
an emptyDir), writable by the server under the restricted security context; a volume one
node mounts at a time rolls out with Recreate and keeps the replicas on that node; and the
store's claims fit every plan's quota and LimitRange with each values file.

The upload directory is `<working directory>/static`: the local file provider's default
(medusa-config.ts sets no `upload_dir`), which is also the directory Medusa's server
serves at `/static`. The working directory is the image's (engines/medusa/Dockerfile)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from services.provisioner.engines import MEDUSA
from services.provisioner.guardrails import limit_range, resource_quota
from services.provisioner.render import Renderer, chart_values
from services.provisioner.spec import Manifest
from shared.plans import DEFAULT_PLANS
from tests.chart.helm import ENGINE_CHARTS, KUBE_VERSION, named, of_kind, pod_spec
from tests.chart.store_kinds import PROFILES, cluster, rendered_engine, spec_for

APP = Path(__file__).resolve().parents[2] / "engines" / "medusa"
CLAIM = "medusa-uploads"
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def upload_dir() -> str:
    """Where the server in the image writes uploads: its working directory's `static`."""
    assert "upload_dir" not in (APP / "medusa-config.ts").read_text()
    workdirs = [line.split()[1] for line in (APP / "Dockerfile").read_text().splitlines()
                if line.startswith("WORKDIR ")]  # fmt: skip
    return str(PurePosixPath(workdirs[-1]) / "static")


def size(quantity: str) -> int:
    for suffix, factor in UNITS.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(quantity)


def medusa_store(helm: Path, profile: str, plan: str = "small") -> list[Manifest]:
    shape = cluster(profile)
    spec = spec_for(MEDUSA, shape)
    spec = dataclasses.replace(spec, plan_name=plan, plan=DEFAULT_PLANS[plan])
    return rendered_engine(helm, spec, shape)


def render_prod_with(helm: Path, access_mode: str) -> subprocess.CompletedProcess[str]:
    """The chart with values-prod.yaml (two replicas), an operator's access mode on top."""
    shape = cluster("prod")
    spec = spec_for(MEDUSA, shape)
    argv = Renderer(str(helm), ENGINE_CHARTS, "prod", KUBE_VERSION, 60.0).argv("medusa", "ns")
    values = {**chart_values(spec, shape), "medusa": {"uploadsAccessMode": access_mode}}
    return subprocess.run(argv, input=json.dumps(values), capture_output=True, text=True,
                          check=False)  # fmt: skip


def mounts_at(pod: dict[str, Any], path: str) -> list[dict[str, Any]]:
    """The volumes mounted at `path` by any container of the pod."""
    names = {m["name"] for c in pod["containers"] + pod.get("initContainers", [])
             for m in c.get("volumeMounts", []) if m["mountPath"] == path}  # fmt: skip
    return [v for v in pod.get("volumes", []) if v["name"] in names]


def claims(manifests: list[Manifest]) -> list[str]:
    """The storage each claim of the store requests, StatefulSet templates included."""
    sizes = [m["spec"]["resources"]["requests"]["storage"]
             for m in of_kind(manifests, "PersistentVolumeClaim")]  # fmt: skip
    for workload in of_kind(manifests, "StatefulSet"):
        for template in workload["spec"].get("volumeClaimTemplates", []):
            sizes.append(template["spec"]["resources"]["requests"]["storage"])
    return sizes


@pytest.mark.parametrize("profile", PROFILES)
def test_the_medusa_server_keeps_uploads_on_the_stores_volume_claim_not_an_emptydir(
    helm_path: Path, profile: str
) -> None:
    manifests = medusa_store(helm_path, profile)
    server = pod_spec(named(manifests, "Deployment", "medusa"))
    assert server is not None

    assert mounts_at(server, upload_dir()) == [
        {"name": "uploads", "persistentVolumeClaim": {"claimName": CLAIM}}
    ]
    claim = named(manifests, "PersistentVolumeClaim", CLAIM)
    assert claim["spec"]["storageClassName"] == "fast"  # the cluster's, as for Postgres
    # No pod of the store writes uploads anywhere they would vanish with it.
    for workload in manifests:
        pod = pod_spec(workload)
        if pod is not None:
            where = f"{workload['kind']}/{workload['metadata']['name']}"
            assert not [v for v in mounts_at(pod, upload_dir()) if "emptyDir" in v], where


@pytest.mark.parametrize("profile", PROFILES)
def test_the_uploads_volume_is_writable_by_the_server_under_the_restricted_context(
    helm_path: Path, profile: str
) -> None:
    server = pod_spec(named(medusa_store(helm_path, profile), "Deployment", "medusa"))
    assert server is not None
    pod, container = server["securityContext"], server["containers"][0]["securityContext"]

    # The kubelet gives the volume to group 1000, the server's own group.
    assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (1000, 1000, 1000)
    assert pod["runAsNonRoot"] is True and pod["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]


@pytest.mark.parametrize("profile", PROFILES)
def test_a_volume_one_node_mounts_rolls_out_with_recreate_and_keeps_replicas_together(
    helm_path: Path, profile: str
) -> None:
    manifests = medusa_store(helm_path, profile)
    deployment = named(manifests, "Deployment", "medusa")
    claim = named(manifests, "PersistentVolumeClaim", CLAIM)
    affinity = deployment["spec"]["template"]["spec"].get("affinity")

    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    if deployment["spec"]["replicas"] > 1:
        (term,) = affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert term["labelSelector"]["matchLabels"] == selector
    else:
        assert affinity is None
    assert (deployment["spec"]["replicas"] > 1) == (profile == "prod")


def test_a_shared_volume_lets_replicas_roll_and_spread_and_a_one_pod_volume_one_replica(
    helm_path: Path,
) -> None:
    shared = render_prod_with(helm_path, "ReadWriteMany")
    assert shared.returncode == 0, shared.stderr
    manifests = [d for d in yaml.safe_load_all(shared.stdout) if d]
    deployment = named(manifests, "Deployment", "medusa")
    assert named(manifests, "PersistentVolumeClaim", CLAIM)["spec"]["accessModes"] == [
        "ReadWriteMany"
    ]
    assert deployment["spec"]["replicas"] == 2
    assert "strategy" not in deployment["spec"]
    assert "affinity" not in deployment["spec"]["template"]["spec"]

    one_pod = render_prod_with(helm_path, "ReadWriteOncePod")
    assert one_pod.returncode != 0
    assert "one replica only" in one_pod.stderr


@pytest.mark.parametrize("plan_name", sorted(DEFAULT_PLANS))
@pytest.mark.parametrize("profile", PROFILES)
def test_every_medusa_stores_claims_fit_its_plans_quota_and_limit_range(
    helm_path: Path, profile: str, plan_name: str
) -> None:
    shape = cluster(profile)
    spec = spec_for(MEDUSA, shape)
    spec = dataclasses.replace(spec, plan_name=plan_name, plan=DEFAULT_PLANS[plan_name])
    manifests = rendered_engine(helm_path, spec, shape)
    hard = resource_quota(spec)["spec"]["hard"]
    (claim_limit,) = [
        item for item in limit_range(spec)["spec"]["limits"]
        if item["type"] == "PersistentVolumeClaim"
    ]  # fmt: skip

    sizes = claims(manifests)

    assert len(sizes) == 2  # Postgres's data and the uploads
    assert len(sizes) <= int(hard["persistentvolumeclaims"])
    assert sum(map(size, sizes)) <= size(hard["requests.storage"])
    assert all(size(s) <= size(claim_limit["max"]["storage"]) for s in sizes)
