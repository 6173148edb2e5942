"""The webhooks service's settings (environment, prefix STOREFLEET_), read once in
`__main__`: which networks an endpoint may be on besides the public internet, how long
one attempt may take and how much of the answer is read, the retry schedule, how many
endpoints (and stores of each) are sent to at once, and how many events the intake
queues per transaction.

The default schedule retries 12 times, 20 s after the first failure and twice as long
each time (with up to 10 % off at random): about 22 hours from the first attempt to the
last, after which the delivery is given up and its endpoint marked failing.
"""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from services.webhooks.addresses import Networks
from shared.settings import CommonSettings


class WebhooksSettings(CommonSettings):
    webhook_allowed_networks: str = Field(
        "",
        description="comma-separated CIDRs an endpoint may resolve to although private,"
        " loopback or link-local (e.g. 10.20.0.0/16); empty: public addresses only",
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=60, description="one attempt, connecting to the last byte read"
    )
    webhook_retry_base_seconds: float = Field(
        20.0, ge=0, description="delay after the first failed attempt; doubles each time"
    )
    webhook_retry_factor: float = Field(2.0, ge=1)
    webhook_max_attempts: int = Field(13, ge=1, le=50, description="attempts per delivery")
    webhook_senders: int = Field(
        256,
        ge=1,
        le=5000,
        description="endpoints sent to at once by this replica (one connection each)",
    )
    webhook_endpoint_concurrency: int = Field(
        32, ge=1, le=64, description="attempts at once to one endpoint, each of another store"
    )
    webhook_store_run: int = Field(
        16,
        ge=1,
        le=200,
        description="deliveries of one store claimed together, sent one after another",
    )
    webhook_intake_batch: int = Field(
        500,
        ge=1,
        le=1000,
        description="store events taken from the stream and queued in one transaction",
    )
    webhook_poll_seconds: float = Field(
        0.5,
        gt=0,
        description="how often due deliveries are looked for (at once when this replica"
        " has queued some)",
    )
    webhook_retention_days: float = Field(
        30.0, gt=0, description="finished deliveries and their attempts are kept this long"
    )
    database_pool_size: int = Field(8, ge=2, le=100)
    fetch_timeout_seconds: float = Field(2.0, gt=0)

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"{part!r} is not a CIDR such as 10.0.0.0/8") from None
        return value

    def allowed(self) -> Networks:
        return Networks.parse(self.webhook_allowed_networks)

    @property
    def retry_cap_seconds(self) -> float:
        """Where the doubling stops: far above the default schedule's last delay."""
        return 12 * 3600.0
