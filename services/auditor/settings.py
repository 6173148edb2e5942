"""The auditor's settings (environment, prefix STOREFLEET_)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings


class AuditorSettings(CommonSettings):
    batch_size: int = Field(500, ge=1, le=5000, description="events stored per transaction")
    fetch_timeout_seconds: float = Field(
        1.0, gt=0, le=30, description="how long one fetch waits for the first message"
    )
    store_retry_seconds: float = Field(
        1.0, gt=0, description="first delay before retrying a batch Postgres refused"
    )
    store_writers: int = Field(
        2, ge=1, le=16, description="batches in Postgres at once while the next is fetched"
    )
    database_pool_size: int = Field(4, ge=2, le=100)
