"""Settings read once from the environment (prefix `STOREFLEET_`) by each service's
`__main__` and passed down explicitly. Secrets are `SecretStr` so reprs and logs show
`**********`; URLs with credentials are shown through `redact_url`.

Pure: no I/O imports. `load_settings` turns a validation failure into one line that
names the environment variable, which `shared.service` prints before exiting non-zero.
"""

from __future__ import annotations

import os
from typing import Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.backup_keys import check_prefix

ENV_PREFIX = "STOREFLEET_"


class SettingsError(Exception):
    """A setting is missing or wrong; the message names it."""


def redact_url(url: str) -> str:
    """The URL with any password replaced, fit for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _postgres_url(value: SecretStr) -> SecretStr:
    if urlsplit(value.get_secret_value()).scheme not in {"postgres", "postgresql"}:
        raise ValueError("must be postgresql://user[:password]@host:port/database")
    return value


class CommonSettings(BaseSettings):
    """What every service needs: where NATS and Postgres are, how to log and serve health."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    nats_url: str = Field(
        "nats://127.0.0.1:4222", description="NATS server URL(s), comma separated"
    )
    nats_user: str | None = Field(None, description="this service's NATS user; unset: none")
    nats_password: SecretStr | None = None
    nats_ca_file: str | None = Field(
        None, description="CA bundle that signed the NATS servers' certificates (tls:// URLs)"
    )
    database_url: SecretStr = Field(
        SecretStr("postgresql://storefleet@127.0.0.1:5432/storefleet"),
        description="Postgres DSN; may carry a password, so it is secret",
    )
    stream_name: str = Field("STORES", description="JetStream stream holding store.> events")
    stream_replicas: int = Field(1, ge=1, le=5)
    stream_max_age_days: int = Field(30, ge=1)
    log_level: str = Field("info", pattern="^(debug|info|warning|error)$")
    health_host: str = "0.0.0.0"
    health_port: int = Field(8081, ge=0, le=65535)
    shutdown_grace_seconds: float = Field(20.0, gt=0, description="under the pod's grace period")
    connect_timeout_seconds: float = Field(10.0, gt=0)

    @field_validator("nats_url")
    @classmethod
    def _nats_scheme(cls, value: str) -> str:
        for url in value.split(","):
            if urlsplit(url.strip()).scheme not in {"nats", "tls", "ws", "wss"}:
                raise ValueError("must be nats://host:port (comma separated for several)")
        return value

    @field_validator("database_url")
    @classmethod
    def _pg_scheme(cls, value: SecretStr) -> SecretStr:
        return _postgres_url(value)


class DatabaseRolesSettings(BaseSettings):
    """What `python -m shared.db_roles` reads: the migration owner's DSN, and the DSN each
    service will log in with (its login role and password); a service left unset is
    skipped."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    database_url: SecretStr = Field(
        SecretStr("postgresql://storefleet@127.0.0.1:5432/storefleet"),
        description="the migration owner's DSN: owns the tables, may create roles",
    )
    gateway_database_url: SecretStr | None = None
    auditor_database_url: SecretStr | None = None
    reaper_database_url: SecretStr | None = None
    mailrelay_database_url: SecretStr | None = None
    webhooks_database_url: SecretStr | None = None
    connect_timeout_seconds: float = Field(10.0, gt=0)
    log_level: str = Field("info", pattern="^(debug|info|warning|error)$")

    @field_validator(
        "database_url",
        "gateway_database_url",
        "auditor_database_url",
        "reaper_database_url",
        "mailrelay_database_url",
        "webhooks_database_url",
    )
    @classmethod
    def _pg_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else _postgres_url(value)

    def service_urls(self) -> dict[str, str]:
        """Service name -> the DSN it logs in with, for the services that have one."""
        urls = {
            "gateway": self.gateway_database_url,
            "auditor": self.auditor_database_url,
            "reaper": self.reaper_database_url,
            "mailrelay": self.mailrelay_database_url,
            "webhooks": self.webhooks_database_url,
        }
        return {name: url.get_secret_value() for name, url in urls.items() if url is not None}


class KubeSettings(BaseSettings):
    """How the services that talk to Kubernetes reach it, and how hard they may push."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    kubeconfig: str | None = Field(None, description="path; unset means in-cluster config")
    kube_context: str | None = None
    kube_qps: float = Field(50.0, gt=0, description="client-side requests per second")
    kube_burst: int = Field(100, ge=1, description="client-side burst above the QPS")
    kube_request_timeout_seconds: float = Field(30.0, gt=0)


class ObjectStoreSettings(BaseSettings):
    """Where backups go: any S3-compatible bucket the operator names, reached with one
    key pair that only the platform holds (`shared.objectstore`). Mix into the settings
    of the service that writes backups, as `KubeSettings` is."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    backup_s3_endpoint: str = Field(
        description="the S3 API's base URL, https://host[:port] (http only on a private network)"
    )
    backup_s3_bucket: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="an existing bucket"
    )
    backup_s3_region: str = Field("us-east-1", min_length=1, description="signs the requests")
    backup_s3_access_key: str = Field(min_length=1)
    backup_s3_secret_key: SecretStr
    backup_s3_prefix: str = Field(
        "storefleet", description="every key starts with it: several platforms share a bucket"
    )
    backup_s3_addressing_style: Literal["path", "virtual"] = Field(
        "path", description="bucket in the path (most S3-compatible servers) or in the host"
    )
    backup_s3_startup_wait_seconds: float = Field(
        120.0, gt=0, description="how long a service waits at start-up for the object store"
    )

    @field_validator("backup_s3_endpoint")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be https://host[:port]")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("must be a bare URL: credentials go in the access and secret keys")
        return value.rstrip("/")

    @field_validator("backup_s3_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return check_prefix(value)


def object_store_settings() -> ObjectStoreSettings | None:
    """The backups' object storage, or None when the operator configured none
    (`STOREFLEET_BACKUP_S3_ENDPOINT` unset): backups are off. Raises `SettingsError`."""
    if not os.environ.get(f"{ENV_PREFIX}BACKUP_S3_ENDPOINT"):
        return None
    return load_settings(ObjectStoreSettings)


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S]) -> S:
    """Read `cls` from the environment, or raise `SettingsError` naming the variable."""
    try:
        return cls()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ENV_PREFIX + "_".join(str(p) for p in first["loc"]).upper()
        raise SettingsError(f"invalid setting {name}: {first['msg']}") from None
