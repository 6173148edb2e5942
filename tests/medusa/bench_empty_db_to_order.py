"""Benchmark: from an empty database to a placed Medusa order, step by step.

    .venv/bin/python -m tests.medusa.bench_empty_db_to_order

Starts a throwaway Postgres (or uses STOREFLEET_TEST_DATABASE_URL), installs
engines/medusa's node_modules if missing, then times the setup step, `medusa start`
until /health answers OK, and one order through the Store API. Prints the figures and
saves them to `.run/bench/medusa.json`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path

import aiohttp

from devtools import procs
from devtools.postgres import LocalPostgres
from tests.fixtures.postgres import PostgresServer
from tests.medusa import medusa_app
from tests.medusa.medusa_app import REPO, MedusaServer, StoreSettings
from tests.medusa.store_api import StoreApi, place_order

RESULTS = REPO / ".run" / "bench" / "medusa.json"


async def measure(postgres: PostgresServer) -> dict[str, float | None]:
    figures: dict[str, float | None] = {"npm_ci_s": medusa_app.install()}
    settings = StoreSettings(database_url=await postgres.create_database(), port=procs.free_port())
    started = time.monotonic()
    figures["setup_s"] = medusa_app.setup(settings)
    server = MedusaServer(settings)
    try:
        figures["start_s"] = await server.start()
        order_started = time.monotonic()
        async with aiohttp.ClientSession() as http:
            await place_order(StoreApi(http, settings.url), email="bench@customer.example")
        figures["order_s"] = time.monotonic() - order_started
        figures["empty_db_to_order_s"] = time.monotonic() - started
    finally:
        server.stop()
    return figures


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="storefleet-bench-pg-"))
    base.chmod(0o755)
    postgres = LocalPostgres(base / "data")
    postgres.start()
    try:
        figures = asyncio.run(measure(PostgresServer(postgres.dsn())))
    finally:
        postgres.stop()
        shutil.rmtree(base, ignore_errors=True)
    for name, value in figures.items():
        print(f"{name:>22}: {'skipped' if value is None else f'{value:.1f}'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
