"""The gateway's settings (environment, prefix STOREFLEET_), read once in `__main__` and
passed down. Engines and plans offered to users, rate limits and the trusted proxies,
login's hashing bound, sessions and security headers, event streams, the outbox relay's
pace, the credentials request timeout, what custom domains may be and point at, and
single sign-on (OpenID Connect: the provider, our client, the admin mapping, whether
password login stays on) all live here; see each field's description.
`health_port` (from `CommonSettings`) is where `/healthz`, `/readyz` and `/metrics` are
served, apart from the public `http_port`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import (
    Field,
    IPvAnyAddress,
    IPvAnyNetwork,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode

from services.gateway.proxies import ProxyTrust
from shared.engine_versions import EngineVersions, VersionsError, load_versions
from shared.plans import DEFAULT_PLAN, DEFAULT_PLANS, Plan
from shared.settings import CommonSettings, SettingsError

REPO = Path(__file__).resolve().parents[2]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class GatewaySettings(CommonSettings):
    http_host: str = "0.0.0.0"
    http_port: int = Field(8080, ge=0, le=65535)
    # Where suspended stores' Ingresses send visitors (services.gateway.paused); 0: off.
    paused_port: int = Field(0, ge=0, le=65535)
    db_pool_size: int = Field(20, ge=2, le=200, description="Postgres connections per replica")

    engines: list[str] = Field(
        ["woocommerce", "medusa"], min_length=1, description="engines users may pick"
    )
    default_engine: str = "woocommerce"
    charts_dir: Path = Field(
        REPO / "charts" / "engines",
        description="holds <engine>/versions.yaml, the versions each engine offers",
    )
    plans: dict[str, Plan] = Field(
        default_factory=lambda: dict(DEFAULT_PLANS), description="plan catalog, JSON"
    )
    default_plan: str = DEFAULT_PLAN
    default_max_stores: int = Field(10, ge=0, description="quota of a user without their own")

    rate_limit_storage: str = Field(
        "memory://", description="`limits` storage URI; redis://host:6379/0 shares the counts"
    )
    rate_limit_requests: str = Field(
        "3000/15 minutes; 60/10 seconds",
        description="`/api/` calls per signed-in user, and per client address for the rest",
    )
    rate_limit_creates: str = Field("10/15 minutes", description="store creations per user")
    rate_limit_login_client: str = Field("30/5 minutes", description="login attempts per address")
    rate_limit_login_account: str = Field(
        "10/5 minutes", description="login attempts per username, known or not"
    )
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="CIDRs of the proxies in front (the Ingress controller), JSON list; only"
        " from these are X-Forwarded-For and X-Forwarded-Proto read",
    )
    trust_forwarded_for: bool = Field(
        False,
        description="deprecated, used only while trusted_proxies is empty: read the last"
        " X-Forwarded-For entry and X-Forwarded-Proto from any peer",
    )
    login_hash_workers: int = Field(
        2, ge=1, le=16, description="argon2id checks at once, 64 MiB each (see gateway.hashing)"
    )
    login_queue: int = Field(32, ge=0, description="logins waiting for a check; beyond: 429")

    session_ttl_hours: float = Field(12.0, gt=0)
    auth_cache_seconds: float = Field(
        2.0, ge=0, description="how long a replica trusts a checked token or session; 0: never"
    )
    cookie_secure: bool = Field(
        True, description="a Secure `__Host-` session cookie (TLS only); false: plain HTTP"
    )
    hsts_seconds: int = Field(
        31_536_000, ge=0, description="Strict-Transport-Security max-age on TLS answers; 0: none"
    )
    allowed_origins: list[str] = Field(
        default_factory=list, description="extra Origins trusted for cookie requests"
    )

    credentials_timeout_seconds: float = Field(5.0, gt=0, description="wait for the provisioner")
    outbox_poll_seconds: float = Field(2.0, gt=0, description="relay poll when no NOTIFY comes")
    outbox_batch: int = Field(100, ge=1, le=10_000)
    sse_keepalive_seconds: float = Field(15.0, gt=0)
    sse_recheck_seconds: float = Field(
        30.0, gt=0, description="how often an open event stream re-checks its credential"
    )
    sse_streams_per_user: int = Field(
        5, ge=1, description="open event streams per user, over all replicas"
    )
    sse_replay_max_events: int = Field(
        1000, ge=0, description="most stream events a Last-Event-ID replays; older ids get `reset`"
    )
    base_domain: str = Field(
        "stores.localhost",
        description="stores answer at <slug>.<this> (the provisioner's); never a custom domain",
    )
    platform_domains: list[str] = Field(
        default_factory=list,
        description="the platform's own domains (the dashboard's, say), JSON list; a custom"
        " domain may be none of them nor under one",
    )
    ingress_host: str = Field(
        "",
        description="what a custom domain's CNAME points at: the ingress controller's public"
        " host name; empty: ingress.<base_domain>",
    )
    ingress_address: IPvAnyAddress | None = Field(
        None, description="the ingress controller's public IP, offered as an A/AAAA record"
    )
    web_dist: Path = Field(Path("web/dist"), description="built SPA served at / when present")

    local_login: bool = Field(
        True, description="password login; false (with oidc_issuer set): single sign-on only"
    )
    oidc_issuer: str = Field(
        "", description="the OpenID Connect provider's issuer URL; set: single sign-on is on"
    )
    oidc_client_id: str = Field("", description="our client id at the provider")
    oidc_client_secret: SecretStr | None = Field(None, description="our client secret there")
    oidc_redirect_url: str = Field(
        "", description="our callback as registered there: https://<host>/api/v1/auth/oidc/callback"
    )
    oidc_scopes: str = Field("openid email profile", description="scopes asked for, by spaces")
    oidc_username_claim: str = Field(
        "preferred_username", description="the claim naming new users (else their email)"
    )
    oidc_admin_claim: str = Field("", description="the claim (string or list) mapping to admin")
    oidc_admin_values: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="values of oidc_admin_claim that make an admin, by commas"
    )
    oidc_clock_skew_seconds: int = Field(
        60, ge=0, le=300, description="clock difference allowed on ID token times"
    )
    oidc_display_name: str = Field(
        "single sign-on", max_length=64, description="the provider's name on the login page"
    )

    @field_validator(
        "rate_limit_requests",
        "rate_limit_creates",
        "rate_limit_login_client",
        "rate_limit_login_account",
    )
    @classmethod
    def _limits_parse(cls, value: str) -> str:
        parse_many(value)  # ValueError names the string: "couldn't parse rate limit string"
        return value

    @field_validator("oidc_admin_values", mode="before")
    @classmethod
    def _split_values(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def sso_enabled(self) -> bool:
        return bool(self.oidc_issuer)

    @property
    def password_login(self) -> bool:
        """Whether POST /auth/login signs anyone in: always, unless SSO replaces it."""
        return self.local_login or not self.sso_enabled

    def reserved_domains(self) -> tuple[str, ...]:
        """Names no store may claim as its own domain, nor any name under them."""
        return (self.base_domain, *self.platform_domains)

    def cname_target(self) -> str:
        return self.ingress_host or f"ingress.{self.base_domain}"

    def a_target(self) -> str:
        return str(self.ingress_address) if self.ingress_address else ""

    def proxy_trust(self) -> ProxyTrust:
        """Who may tell us the client's address and scheme (see `gateway.proxies`)."""
        any_peer = self.trust_forwarded_for and not self.trusted_proxies
        return ProxyTrust(tuple(self.trusted_proxies), any_peer=any_peer)

    @model_validator(mode="after")
    def _defaults_offered(self) -> Self:
        if self.default_engine not in self.engines:
            raise ValueError(f"default_engine {self.default_engine!r} is not in engines")
        if self.default_plan not in self.plans:
            raise ValueError(f"default_plan {self.default_plan!r} is not in plans")
        if self.sso_enabled:
            self._check_sso()
        return self

    def _check_sso(self) -> None:
        for name in ("oidc_issuer", "oidc_redirect_url"):
            url = urlsplit(getattr(self, name))
            # Plain HTTP only on this machine (tests, ./dev up); anywhere else, TLS.
            if url.scheme != "https" and not (
                url.scheme == "http" and url.hostname in LOOPBACK_HOSTS
            ):
                raise ValueError(f"{name} must be an https:// URL")
        if not self.oidc_client_id:
            raise ValueError("oidc_client_id is needed with oidc_issuer")
        if "openid" not in self.oidc_scopes.split():
            raise ValueError("oidc_scopes must include openid")
        if bool(self.oidc_admin_claim) != bool(self.oidc_admin_values):
            raise ValueError("oidc_admin_claim and oidc_admin_values go together")


def engine_versions(settings: GatewaySettings) -> dict[str, EngineVersions]:
    """Each offered engine's version registry (its chart's versions.yaml; the chart is
    named as the engine is); `SettingsError` when one is missing or invalid."""
    try:
        return {engine: load_versions(settings.charts_dir, engine) for engine in settings.engines}
    except VersionsError as exc:
        raise SettingsError(f"invalid setting STOREFLEET_CHARTS_DIR: {exc}") from None
