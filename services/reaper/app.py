"""The reaper process: opens NATS, Postgres and the Kubernetes client, then serves until
told to stop. Deletion and sweeps arrive with the reaper issue."""

from __future__ import annotations

from services.reaper.settings import ReaperSettings
from shared.resources import open_database, open_kube, open_nats
from shared.service import Runtime


async def main(settings: ReaperSettings, runtime: Runtime) -> None:
    await open_nats(runtime, settings)
    await open_database(runtime, settings)
    await open_kube(runtime, settings)
    await runtime.stopping.wait()
