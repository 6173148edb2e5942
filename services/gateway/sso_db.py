"""Postgres queries of single sign-on: sign-ins under way (`oidc_logins`, migration
0016) and the users the provider's identities are (`users.oidc_issuer`, `oidc_subject`).

Called by `routes_sso`. Only digests of the state and of the browser binding are
stored; a callback takes its row, so a state serves once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

PENDING_LIFETIME = timedelta(minutes=10)
_NAME_TRIES = 8


@dataclass(frozen=True)
class PendingLogin:
    """What the callback checks the provider's answer against."""

    nonce: str
    verifier: str
    next_path: str


@dataclass(frozen=True)
class SsoUser:
    id: str
    username: str
    disabled: bool


async def begin_login(
    pool: asyncpg.Pool,
    state_digest: str,
    binding_digest: str,
    pending: PendingLogin,
) -> None:
    await pool.execute(
        "INSERT INTO oidc_logins (state_hash, binding_hash, nonce, verifier, next_path,"
        " expires_at) VALUES ($1, $2, $3, $4, $5, now() + $6)",
        state_digest,
        binding_digest,
        pending.nonce,
        pending.verifier,
        pending.next_path,
        PENDING_LIFETIME,
    )


async def take_login(
    pool: asyncpg.Pool, state_digest: str, binding_digest: str
) -> PendingLogin | None:
    """The sign-in of this state begun in this browser, removed so it serves once; None
    when unknown, used, expired or begun elsewhere. Also clears expired ones."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "DELETE FROM oidc_logins WHERE state_hash = $1 AND binding_hash = $2"
            " RETURNING nonce, verifier, next_path, expires_at > now() AS live",
            state_digest,
            binding_digest,
        )
        await conn.execute("DELETE FROM oidc_logins WHERE expires_at < now()")
    if row is None or not row["live"]:
        return None
    return PendingLogin(row["nonce"], row["verifier"], row["next_path"])


async def sign_in_user(
    pool: asyncpg.Pool, issuer: str, subject: str, wanted_name: str, *, admin: bool
) -> SsoUser:
    """The user of (issuer, subject), created on first sign-in (default quota) under
    `wanted_name` or, when a user has that name, a free variant of it; its role set from
    the provider's claims at each sign-in."""
    role = "admin" if admin else "user"
    found = await _update_role(pool, issuer, subject, role)
    if found is not None:
        return found
    for attempt in range(_NAME_TRIES):
        name = _candidate(wanted_name, attempt)
        try:
            await pool.execute(
                "INSERT INTO users (id, username, role, oidc_issuer, oidc_subject)"
                " VALUES ($1, $2, $3, $4, $5)",
                uuid.uuid4(),
                name,
                role,
                issuer,
                subject,
            )
        except asyncpg.UniqueViolationError:
            # Either the name is taken, or a concurrent first sign-in made the user.
            found = await _update_role(pool, issuer, subject, role)
            if found is not None:
                return found
            continue
        created = await _update_role(pool, issuer, subject, role)
        if created is not None:
            return created
    raise RuntimeError("no free username for a new single sign-on user")


def _candidate(wanted: str, attempt: int) -> str:
    """`wanted`, then `wanted-2`, `wanted-3`, then random suffixes."""
    if attempt == 0:
        return wanted
    return f"{wanted}-{attempt + 1}" if attempt < 4 else f"{wanted}-{uuid.uuid4().hex[:6]}"


async def _update_role(pool: asyncpg.Pool, issuer: str, subject: str, role: str) -> SsoUser | None:
    row = await pool.fetchrow(
        "UPDATE users SET role = $3 WHERE oidc_issuer = $1 AND oidc_subject = $2"
        " RETURNING id, username, disabled",
        issuer,
        subject,
        role,
    )
    return None if row is None else SsoUser(str(row["id"]), row["username"], row["disabled"])
