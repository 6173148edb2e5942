"""`just up`: the whole platform on this machine, in the foreground.

`python -m devtools.platform up|down|web` (the justfile and `./dev` call it). `up` builds
the dashboard when `web/dist` is missing or older than its sources (devtools/dashboard.py),
starts the backends, applies the migrations and starts the four services
(devtools/platform_start.py), makes sure a first administrator exists (its password is
kept in `.run/admin.json`, so a restart reuses it; devtools/admin.py), and waits until
the services are ready. It prints the dashboard's URL, the administrator's credentials
and how to stop, and writes `.run/env` (one KEY=value a line) so scripts can drive the
running platform. Ctrl-C, SIGTERM or `just down` stops everything it started.

With a real worker node each store answers at
http://<slug>.stores.localhost:<ingress port>/ through its Traefik; on simulated nodes
nothing serves stores, and the banner says why. `web` only builds the dashboard.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import threading
import time
from pathlib import Path

from devtools.admin import Admin, database_key, ensure_admin, login_works
from devtools.dashboard import build_dashboard, ensure_dashboard
from devtools.platform_start import Platform
from devtools.workspace import ROOT, RUN, say, shown

PIDFILE = RUN / "platform.pid"


def _already_running() -> int | None:
    """The pid of a running `just up`, from the pid file (checked to be one of ours)."""
    try:
        pid = int(PIDFILE.read_text())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    ours = b"devtools.platform" in argv and b"up" in argv
    return pid if ours and pid != os.getpid() else None


def _gateway_port() -> int:
    port = int(os.environ.get("STOREFLEET_HTTP_PORT", "8080"))
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        raise SystemExit(f"[storefleet] port {port} is taken: set STOREFLEET_HTTP_PORT")
    return port


def announce(platform: Platform, admin: Admin, took: float) -> None:
    url = platform.env["STOREFLEET_GATEWAY_URL"]
    say(f"ready in {took:.0f}s")
    say(f"dashboard:  {url}/")
    if admin.password and login_works(url, admin):
        say(f"sign in as: {admin.username} / {admin.password}")
    else:
        say(
            f"the administrator {admin.username!r} exists but its password is unknown here:"
            " set STOREFLEET_ADMIN_PASSWORD, or STOREFLEET_ADMIN_USER to create another"
        )
    say(f"kubeconfig: {platform.env['KUBECONFIG']}")
    if platform.real_node is not None:
        port = platform.real_node.ingress_port
        say(f"stores:     run on this machine's real node, each at "
            f"http://<slug>.stores.localhost:{port}/ (Medusa's storefront: /shop)")  # fmt: skip
        say("            WooCommerce stores wait for WordPress's image, which cannot be "
            "pulled here")  # fmt: skip
    elif platform.simulated_because:
        say(f"stores:     on simulated nodes, so nothing serves them "
            f"({platform.simulated_because})")  # fmt: skip
    say(f"settings for scripts: {shown(RUN / 'env')}")
    say("stop with Ctrl-C here, or `just down` from another terminal")


def up() -> None:
    RUN.mkdir(exist_ok=True)
    if (pid := _already_running()) is not None:
        raise SystemExit(f"[storefleet] already running (pid {pid}); `just down` stops it")
    started = time.monotonic()
    port = _gateway_port()
    try:
        ensure_dashboard()
    except RuntimeError as exc:
        raise SystemExit(f"[storefleet] could not build the dashboard: {exc}") from None
    PIDFILE.write_text(str(os.getpid()))
    done = threading.Event()

    def interrupt(*_: object) -> None:
        if done.is_set():
            return
        done.set()
        if not serving.is_set():  # still starting: abandon it, then stop what started
            raise KeyboardInterrupt

    serving = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, interrupt)
    platform = Platform()
    try:
        platform.start_backends()
        platform.migrate()
        key = database_key(platform.env["STOREFLEET_DATABASE_URL"], platform.local_database)
        admin = ensure_admin(platform.env, os.environ.get("STOREFLEET_ADMIN_USER", "admin"), key)
        platform.start_services(port)
        platform.write_env(admin)
        platform.wait_ready()
        announce(platform, admin, time.monotonic() - started)
        serving.set()
        while not done.wait(1.0):
            for name, child in platform.children.items():
                if child.poll() is not None:
                    say(f"{name} exited with {child.returncode}; see .run/logs/{name}.log")
                    done.set()
    except RuntimeError as exc:
        say(f"could not start: {exc}")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        say("interrupted while starting")
    finally:
        say("stopping")
        platform.stop()
        PIDFILE.unlink(missing_ok=True)
        say("stopped")


def down() -> None:
    pid = _already_running()
    if pid is None:
        PIDFILE.unlink(missing_ok=True)
        say("nothing running")
        return
    os.kill(pid, signal.SIGTERM)
    say(f"asked the platform (pid {pid}) to stop")
    for _ in range(900):
        if _already_running() is None:
            say("stopped")
            return
        time.sleep(0.1)
    say(f"pid {pid} is still running after 90 s")


def web() -> None:
    say("building the dashboard (web/dist)")
    dist = build_dashboard()
    say(f"built {dist.relative_to(ROOT)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m devtools.platform")
    parser.add_argument("command", choices=["up", "down", "web"])
    {"up": up, "down": down, "web": web}[parser.parse_args().command]()
