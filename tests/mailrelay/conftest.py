"""The `mail_relay` fixture: one relay process, its upstream and its database per module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from devtools import procs
from devtools.launcher import start_service
from shared.db import migrate
from shared.db_roles import Login, dsn_as, set_logins
from tests.fixtures.postgres import PostgresServer
from tests.helpers.serving import wait_answering
from tests.mailrelay.relay import Relay, Upstream, relay_env, start_upstream


@pytest.fixture(scope="module")
async def mail_relay(
    postgres_server: PostgresServer,
    service_logins: dict[str, Login],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Relay]:
    database_url = await postgres_server.create_database()
    await migrate(database_url)
    login = service_logins["mailrelay"]
    await set_logins(database_url, [login])
    upstream = Upstream()
    controller = start_upstream(upstream)
    port, health = procs.free_port(), procs.free_port()
    log = Path(tmp_path_factory.mktemp("mailrelay")) / "mailrelay.log"
    env = relay_env(dsn_as(database_url, login), port, health, controller.port)  # its own role
    proc = start_service("mailrelay", log, env)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        await wait_answering(f"http://127.0.0.1:{health}/readyz", log, proc)
        yield Relay(port, log, pool, upstream)
    finally:
        procs.stop(proc)
        await pool.close()
        controller.stop()
