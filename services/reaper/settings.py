"""The reaper's settings (environment, prefix STOREFLEET_)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings, KubeSettings


class ReaperSettings(CommonSettings, KubeSettings):
    sweep_interval_seconds: float = Field(60.0, gt=0, description="time between sweeps")
