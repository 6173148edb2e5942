"""The plan catalog: how much of the cluster a store may use. The gateway validates a
plan's name; the provisioner turns the chosen plan into a ResourceQuota, a LimitRange
and the engine chart's resource values.

Pure: no I/O imports. The catalog is a setting (`STOREFLEET_PLANS`, JSON mapping a name
to a `Plan`); `DEFAULT_PLANS` holds the defaults the engine charts are sized for.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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


DEFAULT_PLAN = "small"
DEFAULT_PLANS: dict[str, Plan] = {
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
    ),
}
