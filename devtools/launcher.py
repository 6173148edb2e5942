"""The one way a service process is started outside Kubernetes: `python -m
services.<name>` from the checkout, in its own process group (so it can be stopped or
SIGKILLed whole), output appended to a log file, configured only through STOREFLEET_*
environment settings, as a deployment would configure it.

`just up` (devtools/platform_start.py) and the tests (tests/*/conftest.py, tests/e2e,
tests/provisioner/harness.py, tests/web) start services through `start_service`.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devtools import procs

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("gateway", "provisioner", "reaper", "auditor", "webhooks")


def service_argv(name: str, *args: str) -> list[str]:
    """The command line of service `name` (with a subcommand such as `rebuild`, if any)."""
    return [sys.executable, "-m", f"services.{name}", *args]


def settings_env(**settings: Any) -> dict[str, str]:
    """Settings by field name as the environment variables a deployment would set."""
    return {f"STOREFLEET_{key.upper()}": str(value) for key, value in settings.items()}


def start_service(
    name: str, log: Path, env: Mapping[str, str] | None = None, *args: str
) -> subprocess.Popen[bytes]:
    """Start service `name` with `env` over this process's environment, logging to `log`."""
    return procs.start(service_argv(name, *args), log, env=dict(env or {}), cwd=ROOT)
