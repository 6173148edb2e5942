"""The migrations runner against a real Postgres: idempotent, and safe to race, within
one database and across the databases of one server."""

from __future__ import annotations

import asyncio
import sys

import asyncpg

from devtools.postgres import LocalPostgres
from shared.db import MIGRATIONS_DIR, migrate

EXPECTED_TABLES = {
    "users",
    "api_tokens",
    "store_requests",  # the gateway's
    "store_states",  # the auditor's projection
    "outbox",
    "store_events",
    "schema_migrations",
    "rollouts",  # the gateway's, driven by the reaper (0013)
    "rollout_stores",
    "domain_requests",  # the gateway's (0014)
    "domain_states",  # the reaper's domain verifier's (0014)
    "webhook_endpoints",  # the gateway's, sent to by the webhooks service (0015)
    "webhook_deliveries",
    "webhook_attempts",
    "oidc_logins",  # the gateway's single sign-on logins under way (0016)
    "webhook_intake",  # the webhooks intake's horizon (0017)
    "store_primary_domains",  # the gateway's: each store's chosen primary domain (0020)
}
# What the API reads: store_requests joined with store_states; a store's domains; its
# primary domain while that is active.
EXPECTED_VIEWS = {"stores", "store_domains", "store_primary"}


async def tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
            " UNION ALL SELECT viewname FROM pg_views WHERE schemaname = 'public'"
        )
        return {r["name"] for r in rows}
    finally:
        await conn.close()


async def test_migrations_run_twice_in_a_row_without_error(database_url: str) -> None:
    first = await migrate(database_url)
    second = await migrate(database_url)

    assert first == [p.stem for p in sorted(MIGRATIONS_DIR.glob("*.sql"))]
    assert second == []
    assert await tables(database_url) >= EXPECTED_TABLES | EXPECTED_VIEWS


async def test_migrations_from_two_processes_at_once_apply_each_file_once(
    database_url: str,
) -> None:
    script = (
        "import asyncio, sys; from shared.db import migrate;"
        " print(asyncio.run(migrate(sys.argv[1])))"
    )
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            database_url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    results = [await p.communicate() for p in procs]

    assert [p.returncode for p in procs] == [0, 0], [err.decode() for _, err in results]
    applied = [out.decode().strip().splitlines()[-1] for out, _ in results]
    every_file = str([p.stem for p in sorted(MIGRATIONS_DIR.glob("*.sql"))])
    assert sorted(applied) == sorted(["[]", every_file]), (
        "one applies, the other finds nothing to do"
    )
    conn = await asyncpg.connect(database_url)
    try:
        count = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        await conn.close()
    assert count == len(list(MIGRATIONS_DIR.glob("*.sql")))


async def test_a_slug_is_unique_only_among_stores_that_are_not_deleted(
    db_pool: asyncpg.Pool,
) -> None:
    owner = "00000000-0000-0000-0000-000000000001"
    await db_pool.execute(
        "INSERT INTO users (id, username, password_hash) VALUES ($1, 'u', 'x')", owner
    )
    insert = (
        "INSERT INTO store_states (id, owner_id, name, slug, namespace, engine, plan, status)"
        " VALUES (gen_random_uuid(), $1, 'Shop', 'shop', 'store-shop-1',"
        " 'woocommerce', 'small', $2)"
    )
    await db_pool.execute(insert, owner, "deleted")
    await db_pool.execute(insert, owner, "ready")
    try:
        await db_pool.execute(insert, owner, "requested")
    except asyncpg.UniqueViolationError:
        pass
    else:
        raise AssertionError("a second live store with the same slug was accepted")


async def test_the_service_roles_are_made_once_when_many_databases_migrate_at_once(
    fresh_server: LocalPostgres,
) -> None:
    """Roles belong to the whole server: four databases migrating at once race to make
    them (migrations 0007 and 0009); every database ends with them and their grants."""
    names = [f"race_{i}" for i in range(4)]
    for name in names:
        await asyncio.to_thread(fresh_server.create_database, name)
    await asyncio.gather(*(migrate(fresh_server.dsn(name)) for name in names))

    conn = await asyncpg.connect(fresh_server.dsn())
    try:
        roles = await conn.fetch(
            "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'storefleet_%'"
            " ORDER BY rolname"
        )
    finally:
        await conn.close()
    assert [tuple(r) for r in roles] == [
        ("storefleet_auditor", False), ("storefleet_gateway", False),
        ("storefleet_mailrelay", False), ("storefleet_reaper", False),
        ("storefleet_webhooks", False),
    ]  # fmt: skip
    for name in names:
        conn = await asyncpg.connect(fresh_server.dsn(name))
        try:
            may = await conn.fetchval(
                "SELECT has_table_privilege('storefleet_auditor', 'store_events', 'INSERT')"
            )
        finally:
            await conn.close()
        assert may, name
