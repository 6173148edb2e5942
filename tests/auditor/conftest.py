"""Fixtures for the auditor tests: a Postgres pool with the services' json codecs on a
fresh migrated database, logged in as the auditor's own role as deployed (so every write
the tests make through it is one the auditor may make), and a stream of the test's own
on `store.>`. `other_pool` is the migration owner's, on a second database."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from nats.js import JetStreamContext

from devtools import procs
from shared.db import create_pool, migrate
from tests.auditor.lifecycle import store_stream
from tests.fixtures.nats import TestStream
from tests.fixtures.postgres import PostgresServer


@pytest.fixture
async def pool(service_database_urls: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(service_database_urls["auditor"], max_size=6)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def other_database_url(postgres_server: PostgresServer) -> str:
    """A second, independent migrated database, to compare projections."""
    dsn = await postgres_server.create_database()
    await migrate(dsn)
    return dsn


@pytest.fixture
async def other_pool(other_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(other_database_url, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def auditor_env(
    nats_server: Any, service_database_urls: dict[str, str], stream: TestStream
) -> dict[str, str]:
    """Settings for `python -m services.auditor` on this test's stream and database, as
    the auditor's own role."""
    return {
        **os.environ,
        **nats_server.service_env("auditor"),
        "STOREFLEET_DATABASE_URL": service_database_urls["auditor"],
        "STOREFLEET_STREAM_NAME": stream.name,
        "STOREFLEET_HEALTH_PORT": str(procs.free_port()),
        "STOREFLEET_FETCH_TIMEOUT_SECONDS": "0.3",
    }


@pytest.fixture
async def stream(js: JetStreamContext, stores_stream_name: str) -> TestStream:
    return await store_stream(js, stores_stream_name)
