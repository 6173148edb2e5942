"""Postgres adapter: the connection pool every service uses, and the migrations runner.

Migrations are plain SQL files in `shared/migrations/`, applied in file-name order, each
in its own transaction, under a session advisory lock: several processes may run
`migrate` at once (the others wait, then find nothing to do) and running it twice is a
no-op. Called by `python -m shared.db_roles` (as the owner), by the gateway's and the
auditor's start-up, and by the test fixtures. A service logged in as its own role
(migration 0007) may not change the schema: with nothing pending, `migrate` only reads
`schema_migrations`; with something pending it raises `SchemaBehind`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from shared.settings import redact_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same in every process.
MIGRATION_LOCK_KEY = 0x5F0F1EE7

log = structlog.get_logger(__name__)


class DatabaseUnavailable(Exception):
    """Postgres could not be reached; the message names the endpoint, never a password."""


class SchemaBehind(Exception):
    """Migrations are pending and this role may not apply them."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 10.0, **kwargs: Any
) -> asyncpg.Pool:
    """A pool whose connections encode and decode json/jsonb as Python values."""
    try:
        return await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            init=_init_connection,
            **kwargs,
        )
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise DatabaseUnavailable(f"cannot reach Postgres at {redact_url(dsn)}: {exc}") from exc


async def close_pool(pool: asyncpg.Pool, timeout: float = 10.0) -> None:
    """Close gracefully, but never wait forever: `Pool.close` waits for every connection
    to be released, so one stuck holder would hang a shutdown."""
    try:
        async with asyncio.timeout(timeout):
            await pool.close()
    except TimeoutError:
        log.warning("postgres pool did not close in time; terminating", seconds=timeout)
        pool.terminate()


def pending_files(applied: set[str]) -> list[Path]:
    return [p for p in sorted(MIGRATIONS_DIR.glob("*.sql")) if p.stem not in applied]


async def migrate(dsn: str) -> list[str]:
    """Apply every migration not yet applied; return the names applied by this call."""
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise DatabaseUnavailable(f"cannot reach Postgres at {redact_url(dsn)}: {exc}") from exc
    try:
        if not pending_files(await _applied(conn)):
            return []  # no DDL: a service's own role may run this
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        try:
            return await _apply_pending(conn)
        except asyncpg.InsufficientPrivilegeError as exc:
            role = await conn.fetchval("SELECT current_user")
            raise SchemaBehind(
                f"migrations are pending and role {role} may not apply them; run"
                " `python -m shared.db_roles` with the migration owner's STOREFLEET_DATABASE_URL"
            ) from exc
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    finally:
        await conn.close()


async def _applied(conn: asyncpg.Connection) -> set[str]:
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return set()
    return {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}


async def _apply_pending(conn: asyncpg.Connection) -> list[str]:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    applied = await _applied(conn)
    done = []
    for path in pending_files(applied):
        async with conn.transaction():
            await conn.execute(path.read_text())
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.stem)
        log.info("migration applied", migration=path.stem)
        done.append(path.stem)
    return done
