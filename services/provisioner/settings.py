"""The provisioner's settings (environment, prefix STOREFLEET_), read once in `__main__`
and passed down: pool size, where helm and the engine charts are, the cluster's shape
(base domain, ingress class and namespace, storage class, TLS issuer), the plan catalog,
the platform mail relay the stores send through, and the deadlines of a store's provisioning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from shared.mailauth import MIN_KEY_BYTES
from shared.plans import DEFAULT_PLANS, Plan
from shared.settings import CommonSettings, KubeSettings

REPO = Path(__file__).resolve().parents[2]

# Private, shared and link-local ranges: pod, service and node addresses live here, and so
# does the cloud metadata endpoint. Store pods get outbound web everywhere else.
PRIVATE_CIDRS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")


class ProvisionerSettings(CommonSettings, KubeSettings):
    workers: int = Field(8, ge=1, le=256, description="concurrent stores per process")

    helm_binary: str = Field("helm", description="helm v3 executable (path or name on PATH)")
    charts_dir: Path = Field(REPO / "charts" / "engines", description="holds charts/<engine>/")
    engine_values: Literal["local", "prod", "none"] = Field(
        "local", description="extra values file of each engine chart: values-<this>.yaml"
    )
    render_timeout_seconds: float = Field(60.0, gt=0)

    base_domain: str = Field("stores.localhost", description="stores answer at <slug>.<this>")
    public_port: int | None = Field(
        None, ge=1, le=65535, description="port in store URLs; empty: the scheme's (80/443)"
    )
    ingress_class: str = Field("nginx", description="IngressClass of the stores' Ingresses")
    ingress_namespace: str = Field(
        "ingress-nginx", description="namespace of the ingress controller pods"
    )
    platform_namespace: str = Field("storefleet", description="where the platform itself runs")
    dns_namespace: str = Field("kube-system", description="namespace of the cluster DNS pods")
    storage_class: str = Field("", description="StorageClass of store volumes; empty: default")
    tls_issuer: str = Field("", description="cert-manager ClusterIssuer; empty: plain HTTP")
    egress_blocked_cidrs: list[str] = Field(
        default_factory=lambda: list(PRIVATE_CIDRS),
        description="ranges store pods may not reach on the web ports (cluster and metadata)",
    )

    plans: dict[str, Plan] = Field(
        default_factory=lambda: dict(DEFAULT_PLANS), description="plan catalog, JSON"
    )
    store_country: str = Field("US:CA", description="WooCommerce base country[:state]")
    store_currency: str = Field("USD", description="ISO 4217 code of new stores")

    mail_relay_host: str = Field(
        "", description="the platform's mail relay Service as stores reach it; empty: no mail"
    )
    mail_relay_port: int = Field(2525, ge=1, le=65535, description="its port (and its pods')")
    mail_relay_key: SecretStr = Field(
        SecretStr(""), description="key of the stores' relay passwords (shared.mailauth)"
    )
    mail_from: str = Field("", description="From address; empty: wordpress@<store host>")

    @field_validator("mail_relay_key")
    @classmethod
    def _mail_key(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        if info.data.get("mail_relay_host") and len(value.get_secret_value()) < MIN_KEY_BYTES:
            raise ValueError(f"must be at least {MIN_KEY_BYTES} characters with a mail relay")
        return value

    # Backups run when the object store is configured (STOREFLEET_BACKUP_S3_*).
    backup_image: str = Field("storefleet/backup:dev", description="image of backup Jobs")
    backup_workers: int = Field(2, ge=1, le=64, description="concurrent backups per process")
    restore_workers: int = Field(2, ge=1, le=64, description="concurrent restores per process")
    backup_part_mib: int = Field(64, ge=5, le=5120, description="multipart part size, MiB")
    backup_max_parts: int = Field(
        64,
        ge=1,
        le=10_000,
        description="parts per object: the largest object is this times the part size",
    )
    backup_job_deadline_seconds: int = Field(
        3600, ge=60, le=11 * 3600, description="a backup, restore or verification Job's limit"
    )
    backup_verify: bool = Field(True, description="restore each backup into a throwaway database")
    backup_egress_cidrs: list[str] = Field(
        default_factory=list,
        description="object store addresses in private ranges that backup Jobs may reach"
        " (JSON list of CIDRs; a bundled in-cluster object store needs none)",
    )

    # Suspend and resume (services.provisioner.suspensions).
    suspend_workers: int = Field(4, ge=1, le=64, description="concurrent suspends, and resumes")
    suspend_deadline_seconds: float = Field(
        600.0, gt=0, description="a suspend's workloads must stop (a resume's start) within this"
    )
    paused_host: str = Field(
        "",
        description="where a suspended store's Ingress sends visitors: the gateway's Service"
        " DNS name (or its IP for an ingress controller outside the cluster); empty: the"
        " store's Ingress is left alone and visitors get the controller's own error",
    )
    paused_port: int = Field(8082, ge=1, le=65535, description="the gateway's paused-page port")

    # Engine upgrades (services.provisioner.upgrades), which run with backups.
    upgrade_workers: int = Field(2, ge=1, le=64, description="concurrent upgrades per process")
    upgrade_gate_seconds: float = Field(
        900.0,
        gt=0,
        description="an upgraded store's setup Job must complete and its workloads be ready"
        " within this, or it is rolled back",
    )

    ready_deadline_seconds: float = Field(600.0, gt=0, description="per delivery, to ready")
    apply_attempts: int = Field(6, ge=1, description="tries of one API call on temporary errors")
    pending_poll_seconds: float = Field(5.0, gt=0, description="consumer pending gauge period")
    worker_name: str = Field("", description="name in provisioning events; default host/pid")
