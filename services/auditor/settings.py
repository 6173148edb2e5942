"""The auditor's settings (environment, prefix STOREFLEET_)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings


class AuditorSettings(CommonSettings):
    batch_size: int = Field(500, ge=1, le=5000, description="events stored per transaction")
