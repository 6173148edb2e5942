"""The operators' command line, `python -m services.gateway users ...`:

    users add NAME [--admin] [--max-stores N]   prints a generated password
    users disable NAME                          signs the user out everywhere
    users list
    openapi                                     prints the API document

Reads the same settings as the server (STOREFLEET_DATABASE_URL) and applies pending
migrations first. Exit codes: 0 done, 1 refused (e.g. the user exists), 2 bad setting
or unreachable database.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import asyncpg

from services.gateway import accounts
from services.gateway.openapi import build_document, render
from services.gateway.security import hash_password, new_password
from services.gateway.settings import GatewaySettings
from shared.db import create_pool, migrate


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m services.gateway",
        description="storefleet gateway; no arguments runs the server",
    )
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser("openapi", help="print the OpenAPI document")
    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="action", required=True
    )
    add = users.add_parser("add", help="add a user and print a generated password")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="an administrator")
    add.add_argument("--max-stores", type=int, metavar="N", help="this user's store quota")
    disable = users.add_parser("disable", help="stop a user from signing in")
    disable.add_argument("name")
    users.add_parser("list", help="list users")
    return top


async def _add(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    if args.max_stores is not None and args.max_stores < 0:
        print("--max-stores must be 0 or more", file=sys.stderr)
        return 1
    password = new_password()
    try:
        await accounts.create_user(
            pool, args.name, hash_password(password), admin=args.admin, max_stores=args.max_stores
        )
    except accounts.UserExists:
        print(f"user {args.name!r} already exists", file=sys.stderr)
        return 1
    print(password)
    return 0


async def _disable(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    if not await accounts.disable_user(pool, args.name):
        print(f"no user {args.name!r}", file=sys.stderr)
        return 1
    print(f"disabled {args.name}")
    return 0


async def _list(pool: asyncpg.Pool, _: argparse.Namespace) -> int:
    print(f"{'USERNAME':<24} {'ROLE':<6} {'DISABLED':<8} {'STORES':>6} {'QUOTA':>6}  CREATED")
    for row in await accounts.list_users(pool):
        quota = "-" if row["max_stores"] is None else str(row["max_stores"])
        print(
            f"{row['username']:<24} {row['role']:<6} {str(row['disabled']).lower():<8}"
            f" {row['stores']:>6} {quota:>6}  {row['created_at']:%Y-%m-%d %H:%M}"
        )
    return 0


async def _users(settings: GatewaySettings, args: argparse.Namespace) -> int:
    dsn = settings.database_url.get_secret_value()
    await migrate(dsn)
    pool = await create_pool(dsn, max_size=2, timeout=settings.connect_timeout_seconds)
    try:
        action = {"add": _add, "disable": _disable, "list": _list}[args.action]
        return await action(pool, args)
    finally:
        await pool.close()


def run(settings: GatewaySettings, argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    if args.command == "openapi":
        sys.stdout.write(render(build_document()))
        return 0
    return asyncio.run(_users(settings, args))
