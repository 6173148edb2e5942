"""A store renders the image of the engine version it runs (charts/engines/medusa/
versions.yaml), whichever values file the cluster uses: `helm template` only, no cluster.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from services.provisioner.engines import ENGINES
from services.provisioner.render import Renderer, engine_manifests
from services.provisioner.spec import store_spec
from shared.engine_versions import load_versions
from shared.events import new_event
from shared.plans import DEFAULT_PLANS
from tests.chart.helm import KUBE_VERSION
from tests.provisioner.test_manifests import CHARTS, PROFILES, _pod_specs, cluster_shape


async def medusa_images(helm: Path, version: str | None, profile: str) -> set[str]:
    """The images of every container of a medusa store asking for `version`."""
    token = f"{time.monotonic_ns():x}"[-8:]
    data = {
        "name": "Versioned",
        "slug": f"ver-{token}",
        "engine": "medusa",
        "plan": "small",
        "owner": "user-1",
        "namespace": f"store-ver-{token}",
        "engine_version": version,
    }
    event = new_event("requested", f"ver-{token}", data, actor="user-1", correlation_id="t")
    versions = {"medusa": load_versions(CHARTS, "medusa")}
    cluster = cluster_shape(profile)
    spec = store_spec(event, cluster, DEFAULT_PLANS, ENGINES, versions)  # type: ignore[arg-type]
    rendered = await Renderer(str(helm), CHARTS, profile, KUBE_VERSION, 60).render(spec, cluster)
    pods = _pod_specs(engine_manifests(rendered, spec)).values()
    containers = [c for pod in pods for c in (*pod["containers"], *pod.get("initContainers", []))]
    return {container["image"] for container in containers}


@pytest.mark.parametrize("profile", PROFILES)
async def test_a_store_on_the_older_medusa_version_runs_that_versions_image(
    helm_binary: Path, profile: str
) -> None:
    images = await medusa_images(helm_binary, "0.0.9", profile)

    assert "storefleet/medusa:0.0.9" in images
    assert not {image for image in images if "medusa:" in image} - {"storefleet/medusa:0.0.9"}


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("version", ["0.1.0", None])
async def test_a_store_on_the_current_medusa_version_runs_the_charts_image(
    helm_binary: Path, profile: str, version: str | None
) -> None:
    images = await medusa_images(helm_binary, version, profile)

    assert "storefleet/medusa:0.1.0" in images
    assert not {image for image in images if "medusa:" in image} - {"storefleet/medusa:0.1.0"}


def test_the_current_medusa_version_may_be_reached_from_the_older_one() -> None:
    versions = load_versions(CHARTS, "medusa")

    assert versions.default == "0.1.0"
    assert versions.may_upgrade("0.0.9", "0.1.0")
    assert not versions.may_upgrade("0.1.0", "0.0.9")
