"""The gateway's settings (environment, prefix STOREFLEET_)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings


class GatewaySettings(CommonSettings):
    http_host: str = "0.0.0.0"
    http_port: int = Field(8080, ge=0, le=65535)
