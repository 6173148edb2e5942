"""One real Medusa store for the session: node_modules installed if missing, the setup
step run against a fresh database of the session's Postgres, and `medusa start` on a
free port. Every Medusa test skips, with the reason, only when node or npm is absent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from devtools import procs
from tests.fixtures.postgres import PostgresServer
from tests.medusa import medusa_app
from tests.medusa.medusa_app import MedusaServer, StoreSettings
from tests.medusa.store_api import AdminApi, StoreApi


@pytest.fixture(scope="session")
def node_and_npm() -> None:
    reason = medusa_app.node_missing()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
async def medusa_store(
    node_and_npm: None, postgres_server: PostgresServer
) -> AsyncIterator[StoreSettings]:
    """A running, set-up store; its settings say where it is and who its admin is."""
    install_seconds = await asyncio.to_thread(medusa_app.install)
    settings = StoreSettings(
        database_url=await postgres_server.create_database(), port=procs.free_port()
    )
    setup_seconds = await asyncio.to_thread(medusa_app.setup, settings)
    server = MedusaServer(settings)
    try:
        start_seconds = await server.start()
        medusa_app.record_timings(
            npm_ci_s=install_seconds, setup_s=setup_seconds, start_s=start_seconds
        )
        yield settings
    finally:
        server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def store_api(medusa_store: StoreSettings, http: aiohttp.ClientSession) -> StoreApi:
    return StoreApi(http, medusa_store.url)


@pytest.fixture
async def admin_api(medusa_store: StoreSettings, http: aiohttp.ClientSession) -> AdminApi:
    admin = AdminApi(http, medusa_store.url)
    await admin.login(medusa_store.admin_email, medusa_store.admin_password)
    return admin
