"""Each service logs in to Postgres as its own role (migration 0007, `shared.db_roles`),
which may do what the service's SQL does and nothing else: a compromised gateway cannot
rewrite the audit log or the projection, a compromised auditor cannot touch accounts,
requests or credentials (nor erase the audit log), the reaper only reads the
projection, and none of them can change the schema. What each role may do is proved by
the gateway, auditor and reaper suites, which run as these roles (their conftests); one
test here follows one store through all three. `shared.db_roles` sets the logins from
the services' DSNs (the chart's init container, `./dev up`)."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from devtools import procs
from devtools.launcher import ROOT, SERVICES, service_argv
from devtools.platform_start import Platform
from services.reaper.records import Records
from shared.db import create_pool
from shared.db_roles import GROUP_ROLES, Login, dsn_as
from tests.auditor.lifecycle import eventually, running_auditor, status_is, store_stream
from tests.gateway.conftest import Harness

STORE = "00000000-0000-0000-0000-00000000000a"
USER = "00000000-0000-0000-0000-00000000000b"


@pytest.fixture
async def seeded(db_pool: asyncpg.Pool) -> asyncpg.Pool:
    """One row in each table, written by the migration owner; the owner's pool."""
    await db_pool.execute(
        "INSERT INTO users (id, username, password_hash) VALUES ($1, 'olga', 'argon2-hash')", USER
    )
    await db_pool.execute(
        "INSERT INTO api_tokens (id, user_id, name, token_hash) VALUES ($1, $2, 'cli', 'digest')",
        uuid.uuid4(),
        USER,
    )
    await db_pool.execute(
        "INSERT INTO sessions (token_hash, user_id, expires_at)"
        " VALUES ('cookie-digest', $1, now() + interval '1 day')",
        USER,
    )
    await db_pool.execute(
        "INSERT INTO store_requests (id, owner_id, name, slug, namespace, engine, plan)"
        " VALUES ($1, $2, 'Shop', 'shop', 'store-shop-1', 'woocommerce', 'small')",
        STORE,
        USER,
    )
    await db_pool.execute(
        "INSERT INTO store_states (id, owner_id, name, slug, namespace, engine, plan, status)"
        " VALUES ($1, $2, 'Shop', 'shop', 'store-shop-1', 'woocommerce', 'small', 'ready')",
        STORE,
        USER,
    )
    await db_pool.execute(
        "INSERT INTO store_events (event_id, store_id, type, subject, actor, occurred_at,"
        " envelope, stream_seq) VALUES ('e1', $1, 'ready', 'store.ready.x', 'provisioner',"
        " now(), '{}', 1)",
        STORE,
    )
    await db_pool.execute(
        "INSERT INTO credential_access (store_id, user_id, outcome, correlation_id)"
        " VALUES ($1, $2, 'granted', 'c1')",
        STORE,
        USER,
    )
    return db_pool


@pytest.fixture
async def as_role(
    service_database_urls: dict[str, str],
) -> AsyncIterator[dict[str, asyncpg.Connection]]:
    """A connection per service, each logged in as that service's role."""
    conns = {s: await asyncpg.connect(url) for s, url in service_database_urls.items()}
    try:
        yield conns
    finally:
        for conn in conns.values():
            await conn.close()


async def refused(conn: asyncpg.Connection, sql: str, *args: Any) -> bool:
    try:
        await conn.execute(sql, *args)
    except asyncpg.InsufficientPrivilegeError:
        return True
    return False


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[asyncpg.Record]]:
    tables = ("users", "api_tokens", "sessions", "store_requests", "store_states",
              "store_events", "credential_access", "outbox")  # fmt: skip
    return {t: list(await pool.fetch(f"SELECT * FROM {t} ORDER BY 1")) for t in tables}


REWRITE_AUDIT = [
    "INSERT INTO store_events (event_id, store_id, type, subject, actor, occurred_at, envelope,"
    " stream_seq) VALUES ('forged', 'x', 'deleted', 'store.deleted.x', 'admin', now(), '{}', 9)",
    "UPDATE store_events SET actor = 'someone else'",
    "DELETE FROM store_events",
    "TRUNCATE store_events",
    "INSERT INTO store_states (id, owner_id, name, slug, namespace, engine, plan, status)"
    " VALUES (gen_random_uuid(), gen_random_uuid(), 'n', 'n', 'store-n-1', 'w', 's', 'ready')",
    "UPDATE store_states SET status = 'deleted'",
    "DELETE FROM store_states",
    "TRUNCATE store_states",
]

CHANGE_ACCOUNTS = [
    "UPDATE users SET role = 'admin'",
    "INSERT INTO users (id, username, password_hash, role)"
    " VALUES (gen_random_uuid(), 'mallory', 'x', 'admin')",
    "DELETE FROM users",
    "UPDATE api_tokens SET revoked_at = NULL",
    "INSERT INTO api_tokens (id, user_id, name, token_hash)"
    f" VALUES (gen_random_uuid(), '{USER}', 'stolen', 'known-digest')",
    "DELETE FROM sessions",
    "INSERT INTO sessions (token_hash, user_id, expires_at)"
    f" VALUES ('forged', '{USER}', now() + interval '1 year')",
    "UPDATE store_requests SET owner_id = gen_random_uuid()",
    "DELETE FROM store_requests",
    "INSERT INTO outbox (event_id, subject, envelope) VALUES ('x', 'store.delete.x', '{}')",
    "DELETE FROM credential_access",
    "SELECT password_hash FROM users",
    "SELECT token_hash FROM api_tokens",
    "SELECT token_hash FROM sessions",
]


async def test_the_gateway_role_cannot_rewrite_the_audit_log_or_the_projection(
    seeded: asyncpg.Pool, as_role: dict[str, asyncpg.Connection]
) -> None:
    before = await snapshot(seeded)
    gateway = as_role["gateway"]

    assert [sql for sql in REWRITE_AUDIT if not await refused(gateway, sql)] == []
    assert await refused(gateway, "DELETE FROM credential_access")  # its own log, too
    assert await refused(gateway, "UPDATE credential_access SET outcome = 'refused'")
    assert await snapshot(seeded) == before


async def test_the_auditor_role_cannot_change_accounts_requests_or_credentials(
    seeded: asyncpg.Pool, as_role: dict[str, asyncpg.Connection]
) -> None:
    before = await snapshot(seeded)
    auditor = as_role["auditor"]

    assert [sql for sql in CHANGE_ACCOUNTS if not await refused(auditor, sql)] == []
    assert await snapshot(seeded) == before


async def test_the_auditor_role_may_append_to_the_audit_log_but_never_change_or_erase_it(
    seeded: asyncpg.Pool, as_role: dict[str, asyncpg.Connection]
) -> None:
    auditor = as_role["auditor"]
    entry = await seeded.fetchrow("SELECT * FROM store_events")

    assert await refused(auditor, "UPDATE store_events SET actor = 'someone else'")
    assert await refused(auditor, "DELETE FROM store_events")
    assert await refused(auditor, "TRUNCATE store_events")  # rebuild --in-place: the owner's
    assert await seeded.fetchrow("SELECT * FROM store_events") == entry
    await auditor.execute(
        "INSERT INTO store_events (event_id, store_id, type, subject, actor, occurred_at,"
        " envelope, stream_seq) VALUES ('e2', $1, 'deleting', 's', 'a', now(), '{}', 2)",
        STORE,
    )
    assert await seeded.fetchval("SELECT count(*) FROM store_events") == 2


async def test_the_reaper_role_may_only_read_the_projection(
    seeded: asyncpg.Pool, as_role: dict[str, asyncpg.Connection]
) -> None:
    before = await snapshot(seeded)
    reaper = as_role["reaper"]
    elsewhere = ("users", "api_tokens", "sessions", "store_requests", "store_events",
                 "outbox", "credential_access", "stores")  # fmt: skip
    reads_elsewhere = [f"SELECT * FROM {t}" for t in elsewhere]

    await seeded.execute(
        "INSERT INTO store_events (event_id, store_id, type, subject, actor, occurred_at,"
        " envelope, stream_seq) VALUES ('e2', $1, 'upgrade.completed', 'store.upgrade.completed.x',"
        ' \'provisioner\', now(), \'{"data": {"operation_id": "op-1"}}\', 2)',
        STORE,
    )
    before = await snapshot(seeded)

    assert await reaper.fetchval("SELECT namespace FROM store_states") == "store-shop-1"
    outcomes = await reaper.fetch("SELECT store_id, operation_id, type FROM upgrade_outcomes")
    assert [tuple(r) for r in outcomes] == [(STORE, "op-1", "upgrade.completed")]
    refusals = REWRITE_AUDIT + CHANGE_ACCOUNTS + reads_elsewhere
    assert [sql for sql in refusals if not await refused(reaper, sql)] == []
    assert await snapshot(seeded) == before


async def test_the_mail_relay_role_may_only_read_the_stores_view(
    seeded: asyncpg.Pool, as_role: dict[str, asyncpg.Connection]
) -> None:
    before = await snapshot(seeded)
    relay = as_role["mailrelay"]
    elsewhere = ("users", "api_tokens", "sessions", "store_requests", "store_states",
                 "store_events", "outbox", "credential_access", "stream_places")  # fmt: skip

    assert await relay.fetchval("SELECT status FROM stores WHERE id = $1", STORE) is not None
    refusals = REWRITE_AUDIT + CHANGE_ACCOUNTS + [f"SELECT * FROM {t}" for t in elsewhere]
    assert [sql for sql in refusals if not await refused(relay, sql)] == []
    assert await snapshot(seeded) == before


async def test_each_domain_table_has_its_one_writer_and_the_verified_index_holds(
    seeded: asyncpg.Pool, as_role: dict[str, asyncpg.Connection]
) -> None:
    """The gateway writes the requests, the reaper's verifier the states (migration 0014);
    the auditor and the mail relay see neither."""
    request_id = "00000000-0000-0000-0000-0000000000d1"
    await seeded.execute(
        "INSERT INTO domain_requests (id, store_id, domain, token, requested_by)"
        " VALUES ($1, $2, 'shop.example.org', 'token-1', $3)",
        request_id,
        STORE,
        USER,
    )
    gateway, reaper = as_role["gateway"], as_role["reaper"]
    await reaper.execute(
        "INSERT INTO domain_states (id, store_id, domain, state, next_check_at)"
        " VALUES ($1, $2, 'shop.example.org', 'verified', now())",
        request_id,
        STORE,
    )
    await gateway.execute("UPDATE domain_requests SET removed_at = now() WHERE id = $1", request_id)
    assert await gateway.fetchval("SELECT state FROM store_domains") == "removed"
    assert await reaper.fetchval("SELECT token FROM domain_requests") == "token-1"

    gateway_refused = [
        "UPDATE domain_states SET state = 'verified'",
        "INSERT INTO domain_states (id, store_id, domain, state, next_check_at)"
        f" VALUES (gen_random_uuid(), '{STORE}', 'x.example.org', 'verified', now())",
        "DELETE FROM domain_states",
        "DELETE FROM domain_requests",
    ]
    reaper_refused = [
        "UPDATE domain_requests SET token = 'mine'",
        "INSERT INTO domain_requests (id, store_id, domain, token, requested_by)"
        f" VALUES (gen_random_uuid(), '{STORE}', 'x.example.org', 't', '{USER}')",
        "DELETE FROM domain_requests",
        "DELETE FROM domain_states",
    ]
    assert [sql for sql in gateway_refused if not await refused(gateway, sql)] == []
    assert [sql for sql in reaper_refused if not await refused(reaper, sql)] == []
    for service in ("auditor", "mailrelay"):
        for table in ("domain_requests", "domain_states", "store_domains"):
            assert await refused(as_role[service], f"SELECT * FROM {table}")
    # A second store may not hold the domain verified too.
    other = "00000000-0000-0000-0000-0000000000d2"
    await seeded.execute(
        "INSERT INTO domain_requests (id, store_id, domain, token, requested_by)"
        " VALUES ($1, gen_random_uuid(), 'shop.example.org', 'token-2', $2)",
        other,
        USER,
    )
    with pytest.raises(asyncpg.UniqueViolationError):
        await reaper.execute(
            "INSERT INTO domain_states (id, store_id, domain, state, next_check_at)"
            " VALUES ($1, gen_random_uuid(), 'shop.example.org', 'verified', now())",
            other,
        )


async def test_a_stores_primary_domain_is_the_gateways_to_choose_and_the_reapers_to_read(
    seeded: asyncpg.Pool, as_role: dict[str, asyncpg.Connection]
) -> None:
    """The gateway records the owner's choice (migration 0020); the reaper reads it, to send
    a store back to its host when the domain ends, and marks that in its own table."""
    request_id = "00000000-0000-0000-0000-0000000000e1"
    await seeded.execute(
        "INSERT INTO domain_requests (id, store_id, domain, token, requested_by)"
        " VALUES ($1, $2, 'shop.example.org', 'token-1', $3)",
        request_id,
        STORE,
        USER,
    )
    await seeded.execute(
        "INSERT INTO domain_states (id, store_id, domain, state, next_check_at)"
        " VALUES ($1, $2, 'shop.example.org', 'active', now())",
        request_id,
        STORE,
    )
    gateway, reaper = as_role["gateway"], as_role["reaper"]
    await gateway.execute(
        "INSERT INTO store_primary_domains (store_id, domain_id, operation_id, requested_by)"
        " VALUES ($1, $2, gen_random_uuid(), $3)",
        STORE,
        request_id,
        USER,
    )
    assert await gateway.fetchval("SELECT domain FROM store_primary") == "shop.example.org"
    assert str(await reaper.fetchval("SELECT domain_id FROM store_primary_domains")) == request_id
    await reaper.execute("UPDATE domain_states SET primary_released = true")

    reaper_refused = [
        "UPDATE store_primary_domains SET domain_id = NULL",
        "DELETE FROM store_primary_domains",
        f"INSERT INTO store_primary_domains (store_id, operation_id, requested_by)"
        f" VALUES (gen_random_uuid(), gen_random_uuid(), '{USER}')",
    ]
    assert [sql for sql in reaper_refused if not await refused(reaper, sql)] == []
    assert await refused(gateway, "UPDATE domain_states SET primary_released = false")
    assert await refused(gateway, "DELETE FROM store_primary_domains")
    for service in ("auditor", "mailrelay"):
        for table in ("store_primary_domains", "store_primary"):
            assert await refused(as_role[service], f"SELECT * FROM {table}")


async def test_the_webhooks_role_reads_endpoints_and_writes_only_deliveries_and_failing(
    seeded: asyncpg.Pool, as_role: dict[str, asyncpg.Connection]
) -> None:
    endpoint = uuid.uuid4()
    await seeded.execute(
        "INSERT INTO webhook_endpoints (id, owner_id, url, event_types, secret)"
        " VALUES ($1, $2, 'https://example.com/h', '{*}', $3)",
        endpoint,
        USER,
        b"k" * 32,
    )
    hooks = as_role["webhooks"]
    elsewhere = ("api_tokens", "sessions", "store_requests", "store_states", "store_events",
                 "outbox", "credential_access")  # fmt: skip

    assert await hooks.fetchval("SELECT secret FROM webhook_endpoints") == b"k" * 32
    await hooks.execute("UPDATE webhook_endpoints SET failing = true WHERE id = $1", endpoint)
    refusals = [
        *REWRITE_AUDIT,
        *CHANGE_ACCOUNTS,
        *(f"SELECT * FROM {t}" for t in elsewhere),
        "SELECT password_hash FROM users",
        "UPDATE webhook_endpoints SET url = 'http://10.0.0.1/'",
        "INSERT INTO webhook_endpoints (id, owner_id, url, event_types, secret)"
        " SELECT gen_random_uuid(), id, 'http://x/', '{*}', 'kkkkkkkkkkkkkkkkkkkkkkkk' FROM users",
        "DELETE FROM webhook_endpoints",
    ]
    assert [sql for sql in refusals if not await refused(hooks, sql)] == []


async def test_the_gateway_may_not_read_a_webhook_secret_back(
    seeded: asyncpg.Pool, as_role: dict[str, asyncpg.Connection]
) -> None:
    gateway = as_role["gateway"]
    await gateway.execute(
        "INSERT INTO webhook_endpoints (id, owner_id, url, event_types, secret)"
        " VALUES ($1, $2, 'https://example.com/h', '{*}', $3)",
        uuid.uuid4(),
        USER,
        b"k" * 32,
    )

    assert await refused(gateway, "SELECT secret FROM webhook_endpoints")
    assert await refused(gateway, "SELECT body FROM webhook_deliveries")
    assert await refused(gateway, "UPDATE webhook_endpoints SET failing = false")


async def test_the_gateway_may_queue_a_test_delivery_but_not_forge_its_outcome(
    seeded: asyncpg.Pool, as_role: dict[str, asyncpg.Connection]
) -> None:
    gateway, endpoint = as_role["gateway"], uuid.uuid4()
    await gateway.execute(
        "INSERT INTO webhook_endpoints (id, owner_id, url, event_types, secret)"
        " VALUES ($1, $2, 'https://example.com/h', '{*}', $3)",
        endpoint,
        USER,
        b"k" * 32,
    )
    queued = await gateway.fetchval(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, store_id,"
        " occurred_at, stream_seq, body) VALUES ($1, 'e1', 'webhook.test', '', now(), 0, '{}')"
        " RETURNING id",
        endpoint,
    )

    assert queued is not None
    refusals = [
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, store_id,"
        f" occurred_at, stream_seq, body, outcome) VALUES ('{endpoint}', 'e2', 'webhook.test',"
        " '', now(), 0, '{}', 'delivered')",
        f"INSERT INTO webhook_attempts (delivery_id, attempt, latency_ms) VALUES ({queued}, 1, 1)",
        "UPDATE webhook_deliveries SET body = '{}'",
    ]
    assert [sql for sql in refusals if not await refused(gateway, sql)] == []


@pytest.mark.parametrize("service", sorted(GROUP_ROLES))
async def test_no_service_role_may_change_the_schema_or_grant_itself_more(
    seeded: asyncpg.Pool, as_role: dict[str, asyncpg.Connection], service: str
) -> None:
    conn = as_role[service]
    changes = [
        "CREATE TABLE stash (x text)",
        "ALTER TABLE store_states ADD COLUMN x text",
        "DROP VIEW stores",
        "CREATE OR REPLACE FUNCTION store_status(text, integer, integer, boolean)"
        " RETURNS text LANGUAGE sql AS $$ SELECT 'ready' $$",
        "DROP TRIGGER outbox_notify ON outbox",
        "INSERT INTO schema_migrations (name) VALUES ('9999_forged')",
    ]

    assert [sql for sql in changes if not await refused(conn, sql)] == []
    assert await refused(conn, "CREATE ROLE mallory SUPERUSER")
    assert await refused(conn, f"GRANT {GROUP_ROLES['gateway']} TO current_user")
    for table in ("store_events", "users"):  # refused, or only warned of
        await refused(conn, f"GRANT ALL ON {table} TO PUBLIC")
    assert await refused(as_role["reaper"], "DELETE FROM store_events")
    assert await refused(as_role["reaper"], "SELECT * FROM users")


async def run_module(module: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, cwd=ROOT, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


def fresh_login(service: str, password: str | None = None) -> Login:
    return Login(service, f"t_{uuid.uuid4().hex[:8]}_{service}", password or uuid.uuid4().hex)


async def connects(dsn: str) -> str | None:
    """The role a connection to `dsn` gets, or None when its password is refused."""
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.InvalidPasswordError:
        return None
    try:
        return str(await conn.fetchval("SELECT current_user"))
    finally:
        await conn.close()


async def test_db_roles_gives_each_service_a_login_with_the_password_of_its_dsn(
    migrated_database_url: str, db_pool: asyncpg.Pool
) -> None:
    logins = {s: fresh_login(s) for s in GROUP_ROLES}
    env = {"STOREFLEET_DATABASE_URL": migrated_database_url}
    env |= {f"STOREFLEET_{s.upper()}_DATABASE_URL": dsn_as(migrated_database_url, login)
            for s, login in logins.items()}  # fmt: skip

    for _ in range(2):  # and again, as every gateway pod's start does
        code, out = await run_module("shared.db_roles", env)
        assert code == 0, out
    for service, login in logins.items():
        assert await connects(dsn_as(migrated_database_url, login)) == login.name
        wrong = Login(service, login.name, "not-the-password")
        assert await connects(dsn_as(migrated_database_url, wrong)) is None
        member = await db_pool.fetchval(
            "SELECT pg_has_role($1, $2, 'MEMBER')", login.name, GROUP_ROLES[service]
        )
        assert member, service
        stored = await db_pool.fetchval(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1", login.name
        )
        assert stored.startswith("SCRAM-SHA-256$") and login.password not in stored
        assert login.password not in out


async def test_a_changed_password_in_the_secret_replaces_the_old_one(
    migrated_database_url: str,
) -> None:
    first = fresh_login("reaper")
    second = Login("reaper", first.name, uuid.uuid4().hex)
    owner = {"STOREFLEET_DATABASE_URL": migrated_database_url}

    for login in (first, second):
        reaper = {"STOREFLEET_REAPER_DATABASE_URL": dsn_as(migrated_database_url, login)}
        code, out = await run_module("shared.db_roles", owner | reaper)
        assert code == 0, out

    assert await connects(dsn_as(migrated_database_url, second)) == first.name
    assert await connects(dsn_as(migrated_database_url, first)) is None


async def test_db_roles_refuses_to_hand_a_service_the_owner_or_a_group_role(
    migrated_database_url: str,
) -> None:
    owner = {"STOREFLEET_DATABASE_URL": migrated_database_url}
    as_owner = Login("gateway", "postgres", "whatever")
    as_group = Login("auditor", GROUP_ROLES["auditor"], "whatever")

    code, out = await run_module(
        "shared.db_roles",
        owner | {"STOREFLEET_GATEWAY_DATABASE_URL": dsn_as(migrated_database_url, as_owner)},
    )
    assert code == 1
    assert "STOREFLEET_GATEWAY_DATABASE_URL names role postgres" in out
    code, out = await run_module(
        "shared.db_roles",
        owner | {"STOREFLEET_AUDITOR_DATABASE_URL": dsn_as(migrated_database_url, as_group)},
    )
    assert code == 1
    assert "group role storefleet_auditor" in out


async def test_a_service_role_that_finds_migrations_pending_exits_naming_who_applies_them(
    seeded: asyncpg.Pool, service_database_urls: dict[str, str]
) -> None:
    await seeded.execute("DELETE FROM schema_migrations WHERE name = '0007_service_roles'")
    env = {
        "STOREFLEET_DATABASE_URL": service_database_urls["auditor"],
        "STOREFLEET_HEALTH_PORT": str(procs.free_port()),
    }
    proc = await asyncio.create_subprocess_exec(
        *service_argv("auditor"), cwd=ROOT, env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 60)

    assert proc.returncode == 2
    [line] = err.decode().strip().splitlines()
    assert "migrations are pending" in line and "python -m shared.db_roles" in line
    still_pending = await seeded.fetchval(
        "SELECT count(*) FROM schema_migrations WHERE name = '0007_service_roles'"
    )
    assert still_pending == 0


async def test_one_store_goes_through_the_gateway_auditor_and_reaper_each_as_its_role(
    gateway: Harness,
    nc: NATS,
    js: JetStreamContext,
    service_database_urls: dict[str, str],
) -> None:
    stream = await store_stream(js, gateway.settings.stream_name)
    auditor_pool = await create_pool(service_database_urls["auditor"], max_size=2)
    reaper_pool = await create_pool(service_database_urls["reaper"], max_size=2)
    try:
        user = await gateway.add_user()
        async with running_auditor(nc, auditor_pool, stream.name):
            created = await gateway.create_store(user, "role play")
            sid = created["id"]
            await eventually(
                lambda: status_is(auditor_pool, sid, "requested"), what="store projected"
            )
        records = Records(reaper_pool, js, stream.name)
        assert await records.namespace_of(sid) == created["namespace"]
        assert set(await records.stores([sid])) == {sid}
        async with gateway.client(user).get(f"/api/v1/stores/{sid}") as resp:
            assert resp.status == 200
            assert (await resp.json())["status"] == "requested"
    finally:
        await auditor_pool.close()
        await reaper_pool.close()


async def test_dev_up_starts_each_service_as_its_own_role(
    migrated_database_url: str, tmp_path: Path
) -> None:
    platform = Platform()
    platform.env = {"STOREFLEET_DATABASE_URL": migrated_database_url, "KUBECONFIG": "unused"}
    await asyncio.to_thread(platform.migrate)  # as `./dev up` does before the services start
    names = (*SERVICES, "mailrelay", "webhooks")
    env = {name: platform.service_env(name, 8080, tmp_path / "helm") for name in names}

    for service in GROUP_ROLES:
        assert await connects(env[service]["STOREFLEET_DATABASE_URL"]) == (
            f"storefleet_{service}_login"
        )
    assert "STOREFLEET_DATABASE_URL" not in env["provisioner"]
