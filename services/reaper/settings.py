"""The reaper's settings (environment, prefix STOREFLEET_)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings, KubeSettings


class ReaperSettings(CommonSettings, KubeSettings):
    sweep_interval_seconds: float = Field(60.0, gt=0, description="time between sweeps")
    deletion_workers: int = Field(16, ge=1, le=256, description="deletions handled at once")
    deletion_wait_seconds: float = Field(
        600.0, gt=0, description="how long one delivery waits for a namespace to be gone"
    )
    deletion_poll_seconds: float = Field(1.0, gt=0, description="namespace polling interval")
    deletion_retry_seconds: float = Field(
        30.0, gt=0, description="redelivery delay while a namespace is still terminating"
    )
    orphan_grace_seconds: float = Field(
        300.0, ge=0, description="age before a namespace of an unknown store is an orphan"
    )
    provisioning_deadline_seconds: float = Field(
        1800.0, gt=0, description="a store provisioning this long without progress is failed"
    )
    deletion_deadline_seconds: float = Field(
        900.0, gt=0, description="a store deleting this long has its deletion retried"
    )
    terminating_report_seconds: float = Field(
        300.0, ge=0, description="a namespace terminating this long is reported"
    )
