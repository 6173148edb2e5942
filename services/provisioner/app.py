"""The provisioner process: opens NATS and the Kubernetes client, then serves until told
to stop. The store handler and its worker pool arrive with the provisioner issue."""

from __future__ import annotations

from services.provisioner.settings import ProvisionerSettings
from shared.resources import open_kube, open_nats
from shared.service import Runtime


async def main(settings: ProvisionerSettings, runtime: Runtime) -> None:
    await open_nats(runtime, settings)
    await open_kube(runtime, settings)
    await runtime.stopping.wait()
