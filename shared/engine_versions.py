"""The engine version registry: which versions of an engine a store may run, the chart
values that pin each one, and which upgrades between them are allowed. One file per
engine chart, `charts/engines/<chart>/versions.yaml` (its header comment documents it).

The gateway reads it for the catalog and to record the version a new store asks for; the
provisioner reads it to render a store's chart with its version's values
(`version_values`). Pure but for `load_versions`, which reads one chart's file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

FILE = "versions.yaml"
# A version reaches helm values, logs and URLs: letters, digits and . + - only, never
# leading punctuation (no `--set`, no `../x`, no `$(x)`).
VERSION_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,40}$"
Version = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]


class VersionsError(Exception):
    """A chart's versions file is missing or does not hold a valid registry."""


class EngineVersion(BaseModel):
    """One version: the values layered over the chart's for a store on it, and the
    versions a store may be upgraded from to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    values: dict[str, Any] = Field(
        default_factory=dict,
        description="deep-merged over the chart's values for a store on this version",
    )
    upgrades_from: tuple[Version, ...] = Field(
        (), description="the versions a store may be upgraded from to this one"
    )


class EngineVersions(BaseModel):
    """A chart's versions file: the default version and every version offered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Version = Field(description="what a new store, or one without a version, runs")
    versions: dict[Version, EngineVersion] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_versions(self) -> Self:
        if self.default not in self.versions:
            raise ValueError(f"default {self.default!r} is not one of the versions")
        for name, version in self.versions.items():
            unknown = sorted(set(version.upgrades_from) - set(self.versions))
            if unknown:
                raise ValueError(f"version {name!r} upgrades from unknown versions {unknown}")
            if name in version.upgrades_from:
                raise ValueError(f"version {name!r} upgrades from itself")
        return self

    def resolve(self, version: str | None) -> str | None:
        """The version a store runs (None: the default), or None when it is not offered."""
        chosen = self.default if version is None else version
        return chosen if chosen in self.versions else None

    def may_upgrade(self, current: str, target: str) -> bool:
        """Whether a store on `current` may be upgraded to `target`."""
        version = self.versions.get(target)
        return version is not None and current in version.upgrades_from


def parse_versions(text: str, source: str = FILE) -> EngineVersions:
    """The registry in a versions file's text; `VersionsError` when it is not one."""
    try:
        return EngineVersions.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValueError) as exc:
        raise VersionsError(f"{source}: {exc}") from exc


def load_versions(charts_dir: Path, chart: str) -> EngineVersions:
    """Read and validate `<charts_dir>/<chart>/versions.yaml`."""
    path = charts_dir / chart / FILE
    try:
        text = path.read_text()
    except OSError as exc:
        raise VersionsError(f"{path}: {exc.strerror or exc}") from exc
    return parse_versions(text, str(path))


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `over` layered on it: mappings merge key by key, anything else in
    `over` replaces what `base` holds (as helm layers values files)."""
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(below, value)
        else:
            merged[key] = value
    return merged
