"""The mail relay's settings (environment, prefix STOREFLEET_), read once in `__main__`.

Two sides: what stores reach (the listening port, the relay key their passwords derive
from, the base domain and platform From that bound their senders, the size, recipient
and hourly limits), and the operator's upstream relay (host, port, TLS, credentials),
whose password never leaves the platform namespace.
"""

from __future__ import annotations

from typing import Literal

from limits import parse
from pydantic import Field, SecretStr, field_validator

from shared.mailauth import MIN_KEY_BYTES
from shared.settings import CommonSettings


class MailRelaySettings(CommonSettings):
    listen_host: str = Field("0.0.0.0", description="address the stores' SMTP is served on")
    listen_port: int = Field(2525, ge=1, le=65535, description="port the stores' SMTP is served on")
    mail_relay_key: SecretStr = Field(
        ..., description="key of the stores' passwords (shared.mailauth); same as the provisioner's"
    )
    base_domain: str = Field(
        "stores.localhost", description="a store may send as any address at <slug>.<this>"
    )
    mail_from: str = Field("", description="one more From every store may send as; empty: none")
    max_message_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="largest message accepted, headers included"
    )
    max_recipients: int = Field(50, ge=1, le=1000, description="recipients of one message")
    mail_rate_limit: str = Field(
        "200/hour", description="recipients one store may send to per window (limits notation)"
    )
    rate_limit_storage: str = Field(
        "memory://", description="limits storage URI; redis://host:6379/0 shares counts"
    )
    database_pool_size: int = Field(4, ge=1, le=100)

    upstream_host: str = Field(..., description="the operator's SMTP relay")
    upstream_port: int = Field(587, ge=1, le=65535)
    upstream_security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="STARTTLS required, implicit TLS (465), or none (local only)"
    )
    upstream_username: str = ""
    upstream_password: SecretStr = SecretStr("")
    upstream_timeout_seconds: float = Field(30.0, gt=0)

    @field_validator("mail_relay_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode()) < MIN_KEY_BYTES:
            raise ValueError(f"must be at least {MIN_KEY_BYTES} bytes")
        return value

    @field_validator("mail_rate_limit")
    @classmethod
    def _a_limit(cls, value: str) -> str:
        parse(value)  # raises ValueError naming what is wrong
        return value
