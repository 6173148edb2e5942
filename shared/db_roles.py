"""`python -m shared.db_roles`: bring the database up to date, then let each service log
in as its own role.

Run with the migration owner's DSN in STOREFLEET_DATABASE_URL and each service's own DSN
in STOREFLEET_GATEWAY_DATABASE_URL, STOREFLEET_AUDITOR_DATABASE_URL and
STOREFLEET_REAPER_DATABASE_URL (one left unset is skipped). It applies the migrations
(0007 makes the NOLOGIN group roles storefleet_gateway, storefleet_auditor and
storefleet_reaper, with their grants), then makes the user each service DSN names a
login role if it is missing (LOGIN and nothing more), a member of that service's group
role, with the DSN's password. The password travels as a SCRAM-SHA-256 verifier computed
here, so no statement log on the server can show it.

Idempotent; several at once are serialized by an advisory lock. A DSN naming the owner,
a superuser, or a role that may create roles, databases or replicate is refused: a
service must hold no more than its grants.

Run by the chart as the gateway pod's init container, by `just up` before the services,
and by the tests' database fixtures. Exit codes: 0 done, 1 a service DSN refused,
2 a bad setting or an unreachable database.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import sys
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import asyncpg
import structlog

from shared.db import DatabaseUnavailable, SchemaBehind, migrate
from shared.logs import configure_logging
from shared.settings import DatabaseRolesSettings, SettingsError, load_settings, redact_url

GROUP_ROLES = {
    "gateway": "storefleet_gateway",
    "auditor": "storefleet_auditor",
    "reaper": "storefleet_reaper",
    "mailrelay": "storefleet_mailrelay",  # migration 0009
    "webhooks": "storefleet_webhooks",  # migration 0015
}
# Any constant works; it only has to be the same in every process.
ROLES_LOCK_KEY = 0x5F0F1EE8
SCRAM_ITERATIONS = 4096  # Postgres' own default (scram_iterations)

log = structlog.get_logger(__name__)


class RoleRefused(Exception):
    """A service DSN names a role a service must not log in as, or lacks a password."""


@dataclass(frozen=True)
class Login:
    """The login role one service uses, as its DSN names it."""

    service: str
    name: str
    password: str = field(default="", repr=False)


def login_of(service: str, url: str) -> Login:
    """The login role and password of a service DSN; `RoleRefused` when unusable."""
    parts = urlsplit(url)
    name, password = unquote(parts.username or ""), unquote(parts.password or "")
    setting = f"STOREFLEET_{service.upper()}_DATABASE_URL"
    if not name or not password:
        raise RoleRefused(f"{setting} must name a user and a password")
    if name in GROUP_ROLES.values():
        raise RoleRefused(f"{setting} names the group role {name}; give it a login role")
    if not (password.isascii() and password.isprintable()):
        raise RoleRefused(f"{setting}: the password must be printable ASCII")
    return Login(service, name, password)


def dsn_as(dsn: str, login: Login) -> str:
    """`dsn` (the owner's, say) logging in as `login` instead."""
    parts = urlsplit(dsn)
    where = f"{parts.hostname}:{parts.port}" if parts.port else (parts.hostname or "")
    user = f"{quote(login.name, safe='')}:{quote(login.password, safe='')}"
    return urlunsplit(parts._replace(netloc=f"{user}@{where}"))


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier Postgres stores for `password` (RFC 5802, 7677), as
    psql's \\password computes it; printable ASCII needs no SASLprep."""
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _refuse_powerful(conn: asyncpg.Connection, login: Login) -> bool:
    """Refuse a role that can do more than a service should; True if it exists."""
    row = await conn.fetchrow(
        "SELECT rolname = current_user AS owner,"
        " rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls AS powerful"
        " FROM pg_roles WHERE rolname = $1",
        login.name,
    )
    if row is not None and (row["owner"] or row["powerful"]):
        raise RoleRefused(
            f"STOREFLEET_{login.service.upper()}_DATABASE_URL names role {login.name}, which"
            " may do more than a service should (the owner, a superuser, or a role that"
            " creates roles or databases); give the service a login role of its own"
        )
    return row is not None


async def set_login(conn: asyncpg.Connection, login: Login) -> None:
    """Make `login` a login role in its service's group, with its password."""
    name = quote_ident(login.name)
    if not await _refuse_powerful(conn, login):
        await conn.execute(f"CREATE ROLE {name} LOGIN")
    await conn.execute(f"ALTER ROLE {name} LOGIN PASSWORD '{scram_verifier(login.password)}'")
    await conn.execute(f"GRANT {GROUP_ROLES[login.service]} TO {name}")
    log.info("service login role set", service=login.service, role=login.name)


async def set_logins(owner_dsn: str, logins: list[Login], timeout: float = 10.0) -> None:
    try:
        conn = await asyncpg.connect(owner_dsn, timeout=timeout)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        where = redact_url(owner_dsn)
        raise DatabaseUnavailable(f"cannot reach Postgres at {where}: {exc}") from exc
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", ROLES_LOCK_KEY)
            for login in logins:
                await set_login(conn, login)
    finally:
        await conn.close()


async def setup(settings: DatabaseRolesSettings) -> list[Login]:
    """Migrate as the owner, then set every service login the settings name."""
    logins = [login_of(service, url) for service, url in settings.service_urls().items()]
    owner_dsn = settings.database_url.get_secret_value()
    applied = await migrate(owner_dsn)
    log.info("migrations checked", applied=len(applied))
    await set_logins(owner_dsn, logins, settings.connect_timeout_seconds)
    return logins


def main() -> int:
    try:
        settings = load_settings(DatabaseRolesSettings)
        configure_logging("db_roles", settings.log_level)
        logins = asyncio.run(setup(settings))
    except (SettingsError, DatabaseUnavailable, SchemaBehind) as exc:
        print(f"db_roles: {exc}", file=sys.stderr)
        return 2
    except RoleRefused as exc:
        print(f"db_roles: {exc}", file=sys.stderr)
        return 1
    print(f"db_roles: logins set for {', '.join(x.service for x in logins) or 'no service'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
