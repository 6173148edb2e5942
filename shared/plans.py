"""The plan catalog: how much of the cluster a store may use, and how its backups are
scheduled and kept. The gateway validates a plan's name; the provisioner turns the chosen
plan into a ResourceQuota, a LimitRange and the engine chart's resource values; the
backup scheduler reads the plan's `backup` policy (`shared.backup_policy` decides with it);
the gateway counts a store's custom domains against `max_domains`.

Pure: no I/O imports. The catalog is a setting (`STOREFLEET_PLANS`, JSON mapping a name
to a `Plan`); `DEFAULT_PLANS` holds the defaults the engine charts are sized for.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BackupPolicy(BaseModel):
    """When a plan's stores are backed up and which of their backups are kept.

    Days, ISO weeks and months are UTC calendar periods. A backup fills a slot only once
    it is verified; see `shared.backup_policy` for the rules.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval_hours: int = Field(
        24,
        ge=1,
        le=24,
        description="time between scheduled backups; divides a day (1, 2, 3, 4, 6, 8, 12, 24),"
        " so a store backs up at the same UTC times every day",
    )
    keep_last: int = Field(0, ge=0, le=1000, description="the newest verified backups, any age")
    keep_daily: int = Field(7, ge=0, le=1000, description="the newest of each of the last days")
    keep_weekly: int = Field(
        4, ge=0, le=520, description="the newest of each of the last ISO weeks"
    )
    keep_monthly: int = Field(0, ge=0, le=240, description="the newest of each of the last months")
    hold_days: int = Field(
        7,
        ge=1,
        le=365,
        description="on-demand, pre-restore and pre-upgrade backups are kept at least this long",
    )
    stale_tolerance_hours: int = Field(
        6,
        ge=1,
        le=168,
        description="a store is stale when its newest verified backup is older than"
        " interval_hours plus this",
    )
    deleted_grace_days: int = Field(
        14, ge=0, le=3650, description="a deleted store's backups are kept this long, then removed"
    )

    @model_validator(mode="after")
    def _sensible(self) -> Self:
        if 24 % self.interval_hours:
            raise ValueError(
                f"interval_hours must divide a day (1, 2, 3, 4, 6, 8, 12 or 24),"
                f" not {self.interval_hours}"
            )
        if not (self.keep_last or self.keep_daily or self.keep_weekly or self.keep_monthly):
            raise ValueError(
                "a backup policy must keep something: keep_last, keep_daily, keep_weekly"
                " and keep_monthly are all 0"
            )
        if self.interval_hours < 24 and self.keep_last < 2:
            raise ValueError(
                f"interval_hours {self.interval_hours} backs up more than once a day but"
                " keep_last < 2 keeps only each day's newest: set keep_last (e.g."
                f" {24 // self.interval_hours}) or interval_hours 24"
            )
        return self


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    requests_cpu: str = Field("2", description="namespace total of CPU requests")
    requests_memory: str = "4Gi"
    limits_cpu: str = "4"
    limits_memory: str = "8Gi"
    max_pvcs: int = Field(5, ge=1)
    storage: str = Field("20Gi", description="namespace total of requested storage")
    container_default_cpu: str = Field("100m", description="LimitRange default request and limit")
    container_default_memory: str = "128Mi"
    container_max_cpu: str = "2"
    container_max_memory: str = "2Gi"
    # Scratch space on the node (emptyDirs, logs, writable layers): bounded like memory, so
    # one store cannot fill a node's disk and get its neighbours evicted.
    requests_ephemeral_storage: str = Field(
        "4Gi", description="namespace total of ephemeral-storage requests"
    )
    limits_ephemeral_storage: str = "8Gi"
    container_default_ephemeral_request: str = Field(
        "256Mi", description="LimitRange default ephemeral-storage request"
    )
    container_default_ephemeral_limit: str = Field(
        "1Gi", description="LimitRange default ephemeral-storage limit"
    )
    pod_max_ephemeral_storage: str = Field(
        "2Gi", description="LimitRange maximum ephemeral-storage limit of one pod"
    )
    upload_max: str = Field("64M", description="PHP upload_max_filesize and post_max_size")
    php_memory: str = Field("256M", description="PHP memory_limit")
    max_domains: int = Field(
        2, ge=0, le=100, description="custom domains a store may have (pending or verified)"
    )
    backup: BackupPolicy = Field(
        default_factory=BackupPolicy, description="backup schedule and retention"
    )


DEFAULT_PLAN = "small"
DEFAULT_PLANS: dict[str, Plan] = {
    # Daily, a week of dailies and a month of weeklies.
    "small": Plan(description="a shop to try things: 2 CPU / 4Gi requested, 20Gi storage"),
    "medium": Plan(
        description="a busier shop: 4 CPU / 8Gi requested, 50Gi storage",
        requests_cpu="4",
        requests_memory="8Gi",
        limits_cpu="8",
        limits_memory="16Gi",
        max_pvcs=8,
        storage="50Gi",
        container_max_cpu="4",
        container_max_memory="4Gi",
        requests_ephemeral_storage="8Gi",
        limits_ephemeral_storage="16Gi",
        pod_max_ephemeral_storage="4Gi",
        upload_max="128M",
        php_memory="512M",
        max_domains=10,
        # Twice a day, the last two days of those, two weeks of dailies, two months of
        # weeklies and half a year of monthlies.
        backup=BackupPolicy(
            interval_hours=12,
            keep_last=4,
            keep_daily=14,
            keep_weekly=8,
            keep_monthly=6,
            hold_days=14,
            stale_tolerance_hours=4,
            deleted_grace_days=30,
        ),
    ),
}
