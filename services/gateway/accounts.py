"""Postgres queries about people: users, login sessions and API tokens.

Called by `auth` (who is calling), `routes_auth` (login, logout, tokens, /me),
`routes_users` (the admins' user list) and `cli` (operators adding, disabling and
listing users). Secrets arrive here already hashed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import asyncpg

from shared.lifecycle import LIVE

_CALLER_COLUMNS = "u.id, u.username, u.role, u.max_stores, u.created_at"
_TOKEN_COLUMNS = "id, name, scope, created_at, expires_at, last_used_at"
# A token authenticates while neither revoked nor expired (no expiry: tokens made before 0005).
_TOKEN_LIVE = "t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())"


class UserExists(Exception):
    """A user with that name is already there."""


@dataclass(frozen=True)
class Caller:
    """Who is making the request, and how they proved it."""

    id: str
    username: str
    role: str
    max_stores: int | None
    via: str  # "cookie" or "token"
    credential: str  # the session's or token's digest
    scope: str = "full"  # a token's scope, "read" or "full"; a session is "full"
    expires_at: datetime | None = None  # a token's expiry; sessions expire in Postgres

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def read_only(self) -> bool:
        return self.scope == "read"


def _caller(row: asyncpg.Record, via: str, credential: str) -> Caller:
    return Caller(str(row["id"]), row["username"], row["role"], row["max_stores"], via, credential)


def _token_caller(row: asyncpg.Record, credential: str) -> Caller:
    found = _caller(row, "token", credential)
    return replace(found, scope=row["scope"], expires_at=row["expires_at"])


async def create_user(
    pool: asyncpg.Pool,
    username: str,
    password_hash: str,
    *,
    admin: bool = False,
    max_stores: int | None = None,
) -> str:
    user_id = str(uuid.uuid4())
    try:
        await pool.execute(
            "INSERT INTO users (id, username, password_hash, role, max_stores)"
            " VALUES ($1, $2, $3, $4, $5)",
            user_id,
            username,
            password_hash,
            "admin" if admin else "user",
            max_stores,
        )
    except asyncpg.UniqueViolationError:
        raise UserExists(username) from None
    return user_id


async def disable_user(pool: asyncpg.Pool, username: str) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        user_id = await conn.fetchval(
            "UPDATE users SET disabled = true WHERE username = $1 RETURNING id", username
        )
        if user_id is None:
            return False
        await conn.execute("DELETE FROM sessions WHERE user_id = $1", user_id)
    return True


async def list_users(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            "SELECT u.id, u.username, u.role, u.disabled, u.max_stores, u.created_at,"
            " count(s.id) FILTER (WHERE s.status = ANY($1::text[])) AS stores"
            " FROM users u LEFT JOIN stores s ON s.owner_id = u.id"
            " GROUP BY u.id ORDER BY u.username",
            sorted(LIVE),
        )
    )


async def login_row(pool: asyncpg.Pool, username: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(
        f"SELECT {_CALLER_COLUMNS}, u.password_hash, u.disabled FROM users u WHERE u.username = $1",
        username,
    )
    return row


async def user_row(pool: asyncpg.Pool, user_id: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(
        f"SELECT {_CALLER_COLUMNS} FROM users u WHERE u.id = $1", uuid.UUID(user_id)
    )
    return row


async def open_session(
    pool: asyncpg.Pool, user_id: str, session_digest: str, ttl: timedelta
) -> None:
    await pool.execute(
        "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, now() + $3)",
        session_digest,
        uuid.UUID(user_id),
        ttl,
    )


async def close_session(pool: asyncpg.Pool, session_digest: str) -> None:
    await pool.execute(
        "DELETE FROM sessions WHERE token_hash = $1 OR expires_at < now()", session_digest
    )


async def caller_by_session(pool: asyncpg.Pool, session_digest: str) -> Caller | None:
    row = await pool.fetchrow(
        f"SELECT {_CALLER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT u.disabled",
        session_digest,
    )
    return None if row is None else _caller(row, "cookie", session_digest)


async def caller_by_token(pool: asyncpg.Pool, token_digest: str) -> Caller | None:
    # Stamping last use at most once a minute keeps reads from turning into writes.
    row = await pool.fetchrow(
        f"WITH hit AS (SELECT {_CALLER_COLUMNS}, t.id AS token_id, t.last_used_at,"
        " t.scope, t.expires_at FROM api_tokens t JOIN users u ON u.id = t.user_id"
        f" WHERE t.token_hash = $1 AND {_TOKEN_LIVE} AND NOT u.disabled),"
        " stamp AS (UPDATE api_tokens SET last_used_at = now() WHERE id IN (SELECT token_id"
        " FROM hit WHERE last_used_at IS NULL OR last_used_at < now() - interval '1 minute'))"
        " SELECT * FROM hit",
        token_digest,
    )
    return None if row is None else _token_caller(row, token_digest)


async def create_token(
    pool: asyncpg.Pool,
    user_id: str,
    name: str,
    token_digest: str,
    *,
    scope: str = "full",
    lifetime: timedelta | None = None,
) -> asyncpg.Record:
    """A new token of `scope`, expiring `lifetime` from now (never when None)."""
    row: asyncpg.Record = await pool.fetchrow(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, scope, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, now() + $6)"
        f" RETURNING {_TOKEN_COLUMNS}",
        uuid.uuid4(),
        uuid.UUID(user_id),
        name,
        token_digest,
        scope,
        lifetime,
    )
    return row


async def list_tokens(pool: asyncpg.Pool, user_id: str) -> list[asyncpg.Record]:
    """The user's tokens that still authenticate: not revoked, not expired."""
    return list(
        await pool.fetch(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens t"
            f" WHERE user_id = $1 AND {_TOKEN_LIVE} ORDER BY created_at, id",
            uuid.UUID(user_id),
        )
    )


async def revoke_token(pool: asyncpg.Pool, user_id: str, token_id: uuid.UUID) -> bool:
    done = await pool.fetchval(
        "UPDATE api_tokens SET revoked_at = now()"
        " WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING id",
        token_id,
        uuid.UUID(user_id),
    )
    return done is not None


async def stores_in_use(pool: asyncpg.Pool, user_id: str) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM stores WHERE owner_id = $1 AND status = ANY($2::text[])",
        uuid.UUID(user_id),
        sorted(LIVE),
    )
    return count
