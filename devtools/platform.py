"""`just up`: the whole platform on this machine, in the foreground.

Starts Postgres, NATS and the local Kubernetes control plane (unless
STOREFLEET_DATABASE_URL, STOREFLEET_NATS_URL or KUBECONFIG point at existing ones), then
the four services, each a `python -m services.<name>` process logging to `.run/logs/`.
Writes `.run/env` (one KEY=value a line) so scripts can drive the running platform.
Ctrl-C, SIGTERM or `just down` stops everything it started.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from devtools import procs
from devtools.cluster import LocalCluster, ensure_binaries
from devtools.nats import LocalNats
from devtools.postgres import LocalPostgres

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run"
PIDFILE = RUN / "platform.pid"
SERVICES = ("gateway", "provisioner", "reaper", "auditor")


class Platform:
    def __init__(self) -> None:
        self.stops: list[object] = []
        self.children: list[subprocess.Popen[bytes]] = []
        self.env: dict[str, str] = {}

    def start_backends(self) -> None:
        if os.environ.get("STOREFLEET_DATABASE_URL"):
            self.env["STOREFLEET_DATABASE_URL"] = os.environ["STOREFLEET_DATABASE_URL"]
        else:
            pg = LocalPostgres(RUN / "postgres" / "data", durable=True)
            say(f"starting Postgres on 127.0.0.1:{pg.port}")
            pg.start()
            self.stops.append(pg)
            with contextlib.suppress(subprocess.CalledProcessError):
                pg.create_database("storefleet")
            self.env["STOREFLEET_DATABASE_URL"] = pg.dsn("storefleet")
        if os.environ.get("STOREFLEET_NATS_URL"):
            self.env["STOREFLEET_NATS_URL"] = os.environ["STOREFLEET_NATS_URL"]
        else:
            nats = LocalNats(RUN / "nats")
            say("starting NATS with JetStream")
            nats.start()
            self.stops.append(nats)
            self.env["STOREFLEET_NATS_URL"] = nats.url
        if os.environ.get("KUBECONFIG"):
            self.env["KUBECONFIG"] = os.environ["KUBECONFIG"]
        else:
            say("starting the local Kubernetes control plane (first run builds it: slow)")
            cluster = LocalCluster(RUN / "cluster", ensure_binaries())
            cluster.start()
            self.stops.append(cluster)
            self.env["KUBECONFIG"] = str(cluster.kubeconfig)

    def start_services(self) -> None:
        gateway_port = int(os.environ.get("STOREFLEET_HTTP_PORT", "8080"))
        self.env["STOREFLEET_GATEWAY_URL"] = f"http://127.0.0.1:{gateway_port}"
        base = {
            **self.env,
            "STOREFLEET_KUBECONFIG": self.env["KUBECONFIG"],
            "STOREFLEET_HTTP_PORT": str(gateway_port),
            "STOREFLEET_HEALTH_HOST": "127.0.0.1",
        }
        for name in SERVICES:
            env = {**base, "STOREFLEET_HEALTH_PORT": str(procs.free_port())}
            log = RUN / "logs" / f"{name}.log"
            self.children.append(
                procs.start([sys.executable, "-m", f"services.{name}"], log, env=env, cwd=ROOT)
            )
            say(f"started {name} (log: {log.relative_to(ROOT)})")

    def write_env(self) -> None:
        lines = [f"{k}={v}" for k, v in sorted(self.env.items())]
        (RUN / "env").write_text("\n".join(lines) + "\n")

    def stop(self) -> None:
        for child in reversed(self.children):
            procs.stop(child, timeout=25)
        for backend in reversed(self.stops):
            backend.stop()  # type: ignore[attr-defined]


def say(text: str) -> None:
    print(f"[storefleet] {text}", flush=True)


def up() -> None:
    RUN.mkdir(exist_ok=True)
    PIDFILE.write_text(str(os.getpid()))
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    platform = Platform()
    try:
        platform.start_backends()
        platform.start_services()
        platform.write_env()
        say(f"gateway:    {platform.env['STOREFLEET_GATEWAY_URL']}")
        say(f"kubeconfig: {platform.env['KUBECONFIG']}")
        say(f"settings for scripts: {(RUN / 'env').relative_to(ROOT)}")
        say("stop with Ctrl-C or `just down`")
        while not done.wait(1.0):
            for child in platform.children:
                if child.poll() is not None:
                    say(f"a service exited with {child.returncode}; see .run/logs/")
                    done.set()
    finally:
        say("stopping")
        platform.stop()
        PIDFILE.unlink(missing_ok=True)
        say("stopped")


def down() -> None:
    if not PIDFILE.exists():
        say("nothing running")
        return
    pid = int(PIDFILE.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    say(f"asked the platform (pid {pid}) to stop")
    for _ in range(600):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            say("stopped")
            return
        time.sleep(0.1)
    say(f"pid {pid} is still running after 60 s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m devtools.platform")
    parser.add_argument("command", choices=["up", "down"])
    {"up": up, "down": down}[parser.parse_args().command]()
