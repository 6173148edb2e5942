"""The local values files name the images `just images` builds: the platform chart and
every engine chart rendered with their values-local.yaml run only storefleet/* images,
except WordPress and wp-cli, which nothing here can build and the cluster pulls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from devtools import oci
from devtools.images import RECIPES, reference
from tests.node import charts

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
