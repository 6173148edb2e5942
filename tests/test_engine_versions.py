"""The engine version registry (`shared.engine_versions`): the versions files it accepts,
the ones it refuses, and which upgrades it allows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.engine_versions import (
    VersionsError,
    deep_merge,
    load_versions,
    parse_versions,
)

CHARTS = Path(__file__).resolve().parents[1] / "charts" / "engines"
GOOD = """
default: "2.0"
versions:
  "1.0": {values: {}}
  "1.1": {values: {}, upgrades_from: ["1.0"]}
  "2.0": {values: {images: {app: "app:2.0"}}, upgrades_from: ["1.1"]}
"""


def test_every_shipped_chart_has_a_valid_versions_file_naming_its_current_pins() -> None:
    assert load_versions(CHARTS, "medusa").default == "0.1.0"
    woocommerce = load_versions(CHARTS, "woocommerce")
    assert woocommerce.default.startswith("6.8.3")
    assert "10.2.2" in woocommerce.default


def test_upgrades_are_allowed_only_from_the_versions_a_version_names() -> None:
    versions = parse_versions(GOOD)
    assert versions.may_upgrade("1.1", "2.0")
    assert not versions.may_upgrade("1.0", "2.0")  # one step at a time
    assert not versions.may_upgrade("2.0", "1.1")  # never down
    assert not versions.may_upgrade("1.1", "3.0")
    assert versions.resolve(None) == "2.0"
    assert versions.resolve("1.0") == "1.0"
    assert versions.resolve("9.9") is None


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('default: "3.0"\nversions: {"1.0": {values: {}}}', "default"),
        ('default: "1.0"\nversions: {"1.0": {upgrades_from: ["0.9"]}}', "unknown versions"),
        ('default: "1.0"\nversions: {"1.0": {upgrades_from: ["1.0"]}}', "itself"),
        ('default: "--set"\nversions: {"--set": {values: {}}}', "pattern"),
        ('default: "1.0"\nversions: {"1.0": {}, "$(x)": {}}', "pattern"),
        ('default: "1.0"\nversions: {"1.0": {}, "../x": {}}', "pattern"),
        ('default: "1.0"\nversions: {"1.0": {upgrades_from: ["a b"]}}', "pattern"),
        ('default: "1.0"\nversions: {}', "at least 1"),
        ('default: "1.0"\nversions: {"1.0": {value: {}}}', "Extra inputs"),
        ("default: [", "versions.yaml"),
        ("", "versions.yaml"),
    ],
)
def test_a_bad_versions_file_is_refused_naming_why(text: str, complaint: str) -> None:
    with pytest.raises(VersionsError, match=re.escape(complaint)):
        parse_versions(text)


def test_a_missing_versions_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VersionsError, match=re.escape("versions.yaml")):
        load_versions(tmp_path, "woocommerce")


def test_a_versions_values_merge_into_the_charts_key_by_key() -> None:
    base = {"images": {"app": "app:1", "db": "db:1"}, "replicas": 1}
    merged = deep_merge(base, {"images": {"app": "app:2"}, "replicas": 2})
    assert merged == {"images": {"app": "app:2", "db": "db:1"}, "replicas": 2}
    assert base["images"] == {"app": "app:1", "db": "db:1"}  # the base is left as it was
