"""The benchmarks' copied stores (tests/bench/store_objects.py) are the stores the
provisioner's code renders, so the scale benchmark's thousands of seeded stores put the
same objects on the API server as provisioned ones. Needs helm (the cluster binaries'
cache), no cluster."""

from __future__ import annotations

from typing import Any

from devtools.cluster import ensure_binaries
from tests.bench.store_objects import StoreObjects, requested

# Differs between any two stores: the chart hashes its per-store config into it.
CHECKSUM = "checksum/config"


def comparable(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects without the Secret's random values and the config checksum."""
    kept = []
    for obj in objects:
        if obj["kind"] == "Secret":
            obj = {**obj, "data": None, "stringData": None}
        template = obj.get("spec", {}).get("template", {}).get("metadata", {})
        template.get("annotations", {}).pop(CHECKSUM, None)
        kept.append(obj)
    return kept


async def test_a_copied_store_has_the_objects_its_own_render_would_have() -> None:
    objects = StoreObjects(None, ensure_binaries() / "helm", "v1.36.3")  # type: ignore[arg-type]
    model, other = requested(0, "model", "owner-a"), requested(7, "s", "owner-a")
    copied = objects.copy(await objects.render(model), model, other)
    rendered = await objects.render(other)
    assert [o["kind"] for o in copied] == [o["kind"] for o in rendered]
    assert comparable(copied) == comparable(rendered)
