"""The reaper's settings (environment, prefix STOREFLEET_).

With `backups_enabled`, `__main__` also reads the object storage's settings
(`shared.settings.ObjectStoreSettings`, STOREFLEET_BACKUP_S3_*) and the reaper's leader
runs the backup passes (`services.reaper.backups`) with the plan catalog's policies.
The domain verifier (`services.reaper.domains`) always runs: `dns_resolvers` says whom it
asks (`host` or `host:port`, comma separated, IP addresses; empty: the system's).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from shared.plans import DEFAULT_PLANS, Plan
from shared.settings import CommonSettings, KubeSettings


class ReaperSettings(CommonSettings, KubeSettings):
    sweep_interval_seconds: float = Field(60.0, gt=0, description="time between sweeps")
    # A deletion holds its worker while the namespace goes (its pods' grace period, 30 s
    # by default), so the workers bound deletions a minute: 64 is about 120.
    deletion_workers: int = Field(64, ge=1, le=256, description="deletions handled at once")
    deletion_wait_seconds: float = Field(
        600.0, gt=0, description="how long one delivery waits for a namespace to be gone"
    )
    deletion_poll_seconds: float = Field(
        1.0, gt=0, description="first namespace polling interval (then longer, up to 5 s)"
    )
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
    suspend_deadline_seconds: float = Field(
        1800.0, gt=0, description="a store suspending this long without news has its suspend failed"
    )
    resume_deadline_seconds: float = Field(
        1800.0, gt=0, description="a store resuming this long without news has its resume failed"
    )
    upgrade_deadline_seconds: float = Field(
        3600.0, gt=0, description="a store upgrading this long without news has its upgrade failed"
    )
    terminating_report_seconds: float = Field(
        300.0, ge=0, description="a namespace terminating this long is reported"
    )

    backups_enabled: bool = Field(
        False, description="schedule, expire and watch backups (needs STOREFLEET_BACKUP_S3_*)"
    )
    plans: dict[str, Plan] = Field(
        default_factory=lambda: dict(DEFAULT_PLANS),
        description="plan catalog, JSON, as the gateway's and the provisioner's",
    )
    backup_pass_seconds: float = Field(60.0, gt=0, description="time between backup passes")
    backup_requests_per_pass: int = Field(
        20, ge=1, le=10_000, description="scheduled backups requested per pass at most"
    )
    backup_deadline_seconds: float = Field(
        7200.0, gt=0, description="a backup requested or running this long without news fails"
    )
    restore_deadline_seconds: float = Field(
        7200.0, gt=0, description="a store restoring this long without news has its restore failed"
    )
    backup_orphan_scan_seconds: float = Field(
        3600.0, ge=0, description="time between listings of the bucket for orphaned objects"
    )

    rollout_pass_seconds: float = Field(
        10.0, gt=0, description="time between passes of the rollout driver"
    )
    charts_dir: Path = Field(
        Path(__file__).resolve().parents[2] / "charts" / "engines",
        description="the engine charts, whose versions.yaml says which upgrades a rollout may do",
    )

    dns_resolvers: str = Field(
        "",
        description="resolvers the domain verifier asks, `host` or `host:port` (IPv6:"
        " `[::1]:53`), comma separated; empty: the system's (/etc/resolv.conf)",
    )
    dns_timeout_seconds: float = Field(5.0, gt=0, le=60, description="one TXT look-up at most")
    domain_verify_ttl_hours: float = Field(
        72.0, gt=0, description="a domain not verified this long after it was added fails"
    )
    domain_recheck_hours: float = Field(
        24.0, gt=0, description="time between checks that a verified domain's TXT record is there"
    )
    domain_pass_seconds: float = Field(30.0, gt=0, description="time between verifier passes")
    domain_checks_per_pass: int = Field(200, ge=1, le=10_000, description="look-ups per pass")
    ingress_class: str = Field("nginx", description="IngressClass of the stores' Ingresses")
    domain_cert_issuer: str = Field(
        "",
        description="cert-manager issuer of the custom domains' certificates (HTTP-01);"
        " empty: verified domains are served over plain HTTP",
    )
    domain_cert_issuer_kind: Literal["ClusterIssuer", "Issuer"] = Field(
        "ClusterIssuer", description="an Issuer is looked up in each store's namespace"
    )
    domain_cert_max_pending: int = Field(
        50, ge=1, le=10_000, description="certificates issuing at once (CA: pending authorisations)"
    )
    domain_cert_orders_per_hour: int = Field(
        100, ge=1, le=100_000, description="certificates asked for in any hour (CA: new orders)"
    )
    paused_port: int = Field(
        8082, ge=1, le=65535, description="the gateway's paused-page port (suspended stores)"
    )
    domain_cert_timeout_minutes: float = Field(
        60.0, gt=0, description="an issuance not done in this long fails (challenge_failed)"
    )

    @field_validator("dns_resolvers")
    @classmethod
    def _resolvers_parse(cls, value: str) -> str:
        parse_resolvers(value)
        return value

    def resolvers(self) -> tuple[tuple[str, int], ...]:
        return parse_resolvers(self.dns_resolvers)


def parse_resolvers(text: str) -> tuple[tuple[str, int], ...]:
    """`"10.0.0.2, 127.0.0.1:5353, [::1]:53"` -> ((host, port), ...); port 53 by default."""
    found = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        host, port = item, "53"
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = rest.removeprefix(":") or "53"
        elif item.count(":") == 1:
            host, port = item.split(":")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{item!r}: a resolver is an IP address, optionally :port") from None
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{item!r}: the port must be a number from 1 to 65535")
        found.append((host, int(port)))
    return tuple(found)
