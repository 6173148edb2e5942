"""The provisioner's settings (environment, prefix STOREFLEET_)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings, KubeSettings


class ProvisionerSettings(CommonSettings, KubeSettings):
    workers: int = Field(8, ge=1, le=256, description="concurrent stores per process")
