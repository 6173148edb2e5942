"""The auditor process: applies migrations, opens NATS and Postgres, then serves until
told to stop. The batch consumer arrives with the auditor issue."""

from __future__ import annotations

from services.auditor.settings import AuditorSettings
from shared.resources import open_database, open_nats
from shared.service import Runtime


async def main(settings: AuditorSettings, runtime: Runtime) -> None:
    await open_database(runtime, settings, run_migrations=True)
    await open_nats(runtime, settings)
    await runtime.stopping.wait()
