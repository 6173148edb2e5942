"""Engine charts that offer one version more than the shipped ones: a copy of
charts/engines in which one chart's versions.yaml also lists a next version, which a store
on the chart's default may be upgraded to. The real charts stay untouched.

Used by the soak (`devtools/soak.py`): every service of its platform reads the copy
(STOREFLEET_CHARTS_DIR), so that its administrator can roll the next version out to the
users' stores. A version is an entry of versions.yaml, values layered over the chart's
(`shared/engine_versions.py`), not a Chart.yaml of its own; the next one pins a later
WooCommerce, which only the setup Job's environment shows on simulated nodes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from devtools.launcher import ROOT
from shared.engine_versions import FILE, load_versions

CHARTS = ROOT / "charts" / "engines"
# What the next version changes: a later WooCommerce for its setup Job to install.
NEXT_VALUES = {"woocommerce": {"version": "10.3.0"}}
HEADER = "# A copy of the shipped versions.yaml with a next version (devtools/engine_charts.py).\n"


@dataclass(frozen=True)
class Upgrade:
    """An upgrade the copied charts allow: stores of `engine` on `old` (its default) to
    `new`."""

    engine: str
    old: str
    new: str


def with_next_version(dest: Path, engine: str = "woocommerce", charts: Path = CHARTS) -> Upgrade:
    """Copy `charts` to `dest` (which must not exist) and add a next version to `engine`'s
    chart (a chart named as its engine, as the shipped ones are)."""
    shutil.copytree(charts, dest)
    shipped = load_versions(charts, engine)
    new = f"{shipped.default}-next"
    registry = shipped.model_dump(mode="json")
    registry["versions"][new] = {"values": NEXT_VALUES, "upgrades_from": [shipped.default]}
    (dest / engine / FILE).write_text(HEADER + yaml.safe_dump(registry, sort_keys=False))
    load_versions(dest, engine)  # as the services will read it: VersionsError if not valid
    return Upgrade(engine, shipped.default, new)
