"""`just up`: the whole platform on this machine, in the foreground.

Starts Postgres, NATS and the local Kubernetes control plane (unless
STOREFLEET_DATABASE_URL, STOREFLEET_NATS_URL or KUBECONFIG point at existing ones), builds
the dashboard when `web/dist` is missing or older than its sources, applies the
migrations, makes sure a first administrator exists (its password is kept in
`.run/admin.json`, so a restart reuses it), then starts the four services, each a
`python -m services.<name>` process logging to `.run/logs/`, and waits until they are
ready. It prints the dashboard's URL, the administrator's credentials and how to stop,
and writes `.run/env` (one KEY=value a line) so scripts can drive the running platform.
Ctrl-C, SIGTERM or `just down` stops everything it started.

Where the machine can run containers (root, containerd and runc installed, no other
real node running), the control plane gets this machine's real worker node
(devtools/node.py) with the store images `just images` builds, and stores really run:
each answers at http://<slug>.stores.localhost:<ingress port>/ through its Traefik.
Elsewhere, or with STOREFLEET_LOCAL_NODE=kwok, it has simulated (kwok) nodes, whose pods
never start, and the banner says why. There, with no storage driver either, a stand-in
binds each volume claim of the StorageClass `storefleet-local` to a fresh hostPath
volume, as a real provisioner would, so store pods with volumes get scheduled.

Also used by tests/web (the dashboard's build) and `just web` (`... platform web`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from devtools import images, node, procs
from devtools.cluster import LocalCluster, ensure_binaries, stop_recorded
from devtools.nats import LocalNats
from devtools.postgres import LocalPostgres

ROOT = Path(__file__).resolve().parent.parent
RUN = Path(os.environ.get("STOREFLEET_RUN_DIR") or ROOT / ".run")
PIDFILE = RUN / "platform.pid"
ADMIN_FILE = RUN / "admin.json"
CLUSTER_DIR = RUN / "platform-cluster"
WEB = ROOT / "web"
SERVICES = ("gateway", "provisioner", "reaper", "auditor")
WEB_SOURCES = ("src", "index.html", "package.json", "package-lock.json", "vite.config.ts")
STORAGE_CLASS = "storefleet-local"
# What the engine charts' values-local.yaml run (WordPress cannot be built here).
STORE_IMAGES = ("medusa", "postgres", "mariadb", "redis")
READY_TIMEOUT = 120.0


def say(text: str) -> None:
    print(f"[storefleet] {text}", flush=True)


def _shown(path: Path) -> Path:
    """`path` relative to the checkout when inside it (STOREFLEET_RUN_DIR may be elsewhere)."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


# -- the dashboard ---------------------------------------------------------------------


def _newest(paths: list[Path]) -> float:
    stamps = [0.0]
    for path in paths:
        if path.is_dir():
            stamps += [p.stat().st_mtime for p in path.rglob("*") if p.is_file()]
        elif path.exists():
            stamps.append(path.stat().st_mtime)
    return max(stamps)


def dashboard_stale(web: Path = WEB) -> bool:
    """Whether web/dist is missing or older than any of the dashboard's sources."""
    index = web / "dist" / "index.html"
    if not index.exists():
        return True
    return _newest([web / name for name in WEB_SOURCES]) > index.stat().st_mtime


def build_dashboard(web: Path = WEB) -> Path:
    """`npm ci` when node_modules is missing or stale, then `npm run build`; web/dist."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm not found: install Node.js 20+ (scripts/bootstrap.sh does)")
    installed = web / "node_modules" / ".package-lock.json"
    lock = web / "package-lock.json"
    if not installed.exists() or lock.stat().st_mtime > installed.stat().st_mtime:
        _npm([npm, "ci", "--no-audit", "--no-fund"], web)
    _npm([npm, "run", "build"], web)
    return web / "dist"


def _npm(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()[-20:]
        raise RuntimeError(f"{' '.join(argv[1:])} failed in {cwd}:\n" + "\n".join(output))


def ensure_dashboard(web: Path = WEB) -> Path:
    if dashboard_stale(web):
        say("building the dashboard (web/dist)")
        build_dashboard(web)
    return web / "dist"


# -- the first administrator -----------------------------------------------------------


@dataclass(frozen=True)
class Admin:
    username: str
    password: str | None  # None: the user exists, but this machine never saw its password


def database_key(dsn: str, local: bool) -> str:
    """The local Postgres moves to a free port each run; a given one is known by its DSN."""
    return "local" if local else hashlib.sha256(dsn.encode()).hexdigest()[:16]


def _stored_admins() -> dict[str, dict[str, str]]:
    try:
        return dict(json.loads(ADMIN_FILE.read_text()))
    except (OSError, ValueError):
        return {}


def ensure_admin(env: dict[str, str], username: str, key: str) -> Admin:
    """The administrator `username`, created with a generated password if missing.

    Passwords are kept per database in .run/admin.json (mode 0600): a restart against the
    same database reuses it, and the CLI's "already exists" means there is nothing to do.
    """
    stored = _stored_admins()
    done = subprocess.run(
        [sys.executable, "-m", "services.gateway", "users", "add", username, "--admin"],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode == 0:
        stored[key] = {"username": username, "password": done.stdout.strip()}
        ADMIN_FILE.write_text(json.dumps(stored, indent=2) + "\n")
        ADMIN_FILE.chmod(0o600)
        say(f"created the administrator {username!r}")
    elif "already exists" not in done.stderr:
        raise RuntimeError(f"could not create the administrator: {done.stderr.strip()}")
    known = stored.get(key, {})
    if known.get("username") == username:
        return Admin(username, known["password"])
    return Admin(username, os.environ.get("STOREFLEET_ADMIN_PASSWORD"))


def login_works(gateway_url: str, admin: Admin) -> bool:
    body = json.dumps({"username": admin.username, "password": admin.password}).encode()
    req = urllib.request.Request(
        f"{gateway_url}/api/v1/auth/login",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


# -- volumes on the local control plane --------------------------------------------------


class LocalVolumes:
    """Binds claims of `storefleet-local` to hostPath volumes, once a second, in a thread."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="local volumes", daemon=True)

    def start(self) -> None:
        storage_class = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS},
            "provisioner": "storefleet.dev/local-volumes",
            "reclaimPolicy": "Retain",
            "volumeBindingMode": "Immediate",
        }
        with contextlib.suppress(urllib.error.HTTPError):  # 409: there already
            self.cluster.request("POST", "/apis/storage.k8s.io/v1/storageclasses", storage_class)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(5)

    def _run(self) -> None:
        while not self.stopping.wait(1.0):
            with contextlib.suppress(OSError, ValueError):  # the API server is going away
                self._bind_claims()

    def _bind_claims(self) -> None:
        claims = self.cluster.request("GET", "/api/v1/persistentvolumeclaims")["items"]
        for claim in claims:
            spec = claim["spec"]
            if spec.get("storageClassName") == STORAGE_CLASS and not spec.get("volumeName"):
                with contextlib.suppress(urllib.error.HTTPError):
                    self.cluster.request("POST", "/api/v1/persistentvolumes", _volume_for(claim))
        # A volume whose claim is gone (its store deleted) goes too, as with a real driver.
        for volume in self.cluster.request("GET", "/api/v1/persistentvolumes")["items"]:
            mine = volume["spec"].get("storageClassName") == STORAGE_CLASS
            if mine and volume.get("status", {}).get("phase") in ("Released", "Failed"):
                name = volume["metadata"]["name"]
                with contextlib.suppress(urllib.error.HTTPError):
                    self.cluster.request("DELETE", f"/api/v1/persistentvolumes/{name}")


def _volume_for(claim: dict[str, object]) -> dict[str, object]:
    meta: dict[str, str] = claim["metadata"]  # type: ignore[assignment]
    spec: dict[str, object] = claim["spec"]  # type: ignore[assignment]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"local-{meta['uid']}"},
        "spec": {
            "capacity": {"storage": spec["resources"]["requests"]["storage"]},  # type: ignore[index]
            "accessModes": spec["accessModes"],
            # Released once its claim is gone; then `_bind_claims` deletes it.
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": STORAGE_CLASS,
            "hostPath": {"path": f"/var/lib/storefleet-volumes/{meta['uid']}"},
            "claimRef": {"namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
        },
    }


# -- a real node for the stores ---------------------------------------------------------


def real_node_unavailable() -> str | None:
    """Why stores cannot run for real on this machine, or None when they can."""
    if os.environ.get("STOREFLEET_LOCAL_NODE", "") == "kwok":
        return "STOREFLEET_LOCAL_NODE=kwok"
    if os.geteuid() != 0:
        return "the real node needs root"
    missing = [tool for tool in ("containerd", "runc") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (scripts/bootstrap.sh installs them)"
    owner = node.running()
    if owner is not None:
        return f"a real node already runs on this machine ({owner.get('cluster_dir')})"
    return None


class RealNode:
    """The real node and its control plane, for `Platform.stops`."""

    def stop(self) -> None:
        node.stop_real_cluster()


# -- the platform ------------------------------------------------------------------------


class Platform:
    def __init__(self) -> None:
        self.stops: list[object] = []
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.health: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.local_cluster = False
        self.local_database = False
        self.real_node: node.RealCluster | None = None
        self.simulated_because = ""  # why stores run on simulated nodes, when they do

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
            self.local_database = True
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
            self._start_cluster()

    def _start_cluster(self) -> None:
        # Apart from `just cluster-up`'s .run/cluster, so neither stops the other's.
        stop_recorded(CLUSTER_DIR)  # leftovers of a run that did not stop cleanly
        reason = real_node_unavailable()
        if reason is None:
            say("building the store images (first run: minutes), then starting the local "
                "control plane with a real worker node")  # fmt: skip
            images.build_images(STORE_IMAGES)
            self.real_node = node.start_real_cluster(CLUSTER_DIR, images=STORE_IMAGES)
            self.stops.append(RealNode())
            self.env["KUBECONFIG"] = str(self.real_node.kubeconfig)
            return
        self.simulated_because = reason
        say(f"starting the local Kubernetes control plane with simulated nodes ({reason})")
        cluster = LocalCluster(CLUSTER_DIR, ensure_binaries())
        cluster.start()
        self.stops.append(cluster)
        volumes = LocalVolumes(cluster)
        volumes.start()
        self.stops.append(volumes)
        self.local_cluster = True
        self.env["KUBECONFIG"] = str(cluster.kubeconfig)

    def migrate(self) -> None:
        from shared.db import migrate

        applied = asyncio.run(migrate(self.env["STOREFLEET_DATABASE_URL"]))
        say(f"migrations: {len(applied)} applied" if applied else "migrations: up to date")

    def service_env(self, name: str, gateway_port: int, helm: Path) -> dict[str, str]:
        """What `name` needs to run here; settings given by hand (STOREFLEET_*) win."""
        env = {
            "STOREFLEET_KUBECONFIG": self.env["KUBECONFIG"],
            "STOREFLEET_HEALTH_HOST": "127.0.0.1",
            "STOREFLEET_HTTP_HOST": "127.0.0.1",
            "STOREFLEET_HTTP_PORT": str(gateway_port),
            "STOREFLEET_COOKIE_SECURE": "false",  # plain http on localhost
            "STOREFLEET_WEB_DIST": str(WEB / "dist"),
            "STOREFLEET_HELM_BINARY": str(helm),
        }
        if self.local_cluster:
            env["STOREFLEET_STORAGE_CLASS"] = STORAGE_CLASS
        if self.real_node is not None:  # its Traefik, in kube-system as on k3s
            env["STOREFLEET_INGRESS_CLASS"] = "traefik"
            env["STOREFLEET_INGRESS_NAMESPACE"] = "kube-system"
            env["STOREFLEET_PUBLIC_PORT"] = str(self.real_node.ingress_port)
            env["STOREFLEET_DEFAULT_ENGINE"] = "medusa"  # WordPress cannot be pulled here
        env = {k: v for k, v in env.items() if k not in os.environ}
        port = gateway_port if name == "gateway" else procs.free_port()
        self.health[name] = f"http://127.0.0.1:{port}/readyz"
        return {**env, **self.env, "STOREFLEET_HEALTH_PORT": str(port)}

    def start_services(self, gateway_port: int) -> None:
        self.env["STOREFLEET_GATEWAY_URL"] = f"http://127.0.0.1:{gateway_port}"
        helm = ensure_binaries() / "helm"
        for name in SERVICES:
            log = RUN / "logs" / f"{name}.log"
            argv = [sys.executable, "-m", f"services.{name}"]
            env = self.service_env(name, gateway_port, helm)
            self.children[name] = procs.start(argv, log, env=env, cwd=ROOT)
            say(f"started {name} (log: {_shown(log)})")

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        for name, url in self.health.items():
            while not _answers(url):
                child = self.children[name]
                log = RUN / "logs" / f"{name}.log"
                if child.poll() is not None:
                    raise RuntimeError(f"{name} exited with {child.returncode}:\n{procs.tail(log)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not ready after {timeout:.0f}s; see {log}")
                time.sleep(0.2)

    def write_env(self, admin: Admin) -> None:
        values = {**self.env, "STOREFLEET_ADMIN_USER": admin.username}
        values["STOREFLEET_ADMIN_PASSWORD"] = admin.password or ""
        path = RUN / "env"
        path.write_text("".join(f"{k}={v}\n" for k, v in sorted(values.items())))
        path.chmod(0o600)  # it holds a password

    def stop(self) -> None:
        for child in self.children.values():  # all at once: each drains in its own time
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        for child in reversed(self.children.values()):
            procs.stop(child, timeout=25)
        for backend in reversed(self.stops):
            backend.stop()  # type: ignore[attr-defined]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


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
    say(f"settings for scripts: {_shown(RUN / 'env')}")
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
