"""Waiting for a gateway process the attack tests started (`devtools.launcher`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers.serving import wait_answering


async def wait_serving(url: str, log: Path, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Until the gateway at `url` answers `/healthz` (30 s at most)."""
    await wait_answering(f"{url}/healthz", log, proc)
