"""The local values files name the images `just images` builds: the platform chart and
every engine chart rendered with their values-local.yaml run only storefleet/* images,
except WordPress and wp-cli, which nothing here can build and the cluster pulls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from devtools import oci
from devtools.images import RECIPES, reference
from shared.engine_versions import load_versions
from tests.node import charts
from tests.provisioner.test_manifests import CHARTS

PULLED = ("docker.io/library/wordpress:",)


def _images(manifests: list[dict[str, Any]]) -> Iterator[str]:
    for manifest in manifests:
        spec = manifest.get("spec", {})
        spec = spec.get("jobTemplate", {}).get("spec", spec)  # CronJob
        pod = spec.get("template", {}).get("spec", {})
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            yield oci.normalize_reference(container["image"])


def test_values_local_runs_the_images_built_here_and_only_wordpress_from_upstream() -> None:
    built = {oci.normalize_reference(r.reference) for r in RECIPES}
    rendered = charts.platform("storefleet") + charts.engine("medusa", "store-a", "a")
    rendered += charts.engine("woocommerce", "store-b", "b")

    images = set(_images(rendered))
    assert {reference(n) for n in ("platform", "nats", "postgres", "medusa", "mariadb")} <= images
    foreign = {image for image in images - built if not image.startswith(PULLED)}
    assert foreign == set(), "values-local.yaml names images `just images` does not build"


def test_each_medusa_version_runs_a_medusa_image_built_here_and_no_other() -> None:
    registry = load_versions(CHARTS, "medusa")
    pinned = {
        name: oci.normalize_reference(version.values["images"]["medusa"])
        for name, version in registry.versions.items()
        if name != registry.default  # the default runs values-local.yaml's image, above
    }
    pinned[registry.default] = reference("medusa")
    medusas = [r for r in RECIPES if r.short_name == "medusa"]

    assert pinned == {r.tag: oci.normalize_reference(r.reference) for r in medusas}
