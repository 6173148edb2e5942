"""What `just up` starts, in order, and how it stops them: Postgres, NATS, the backups'
S3-compatible object storage (devtools/objectstore.py) and the local Kubernetes control
plane (unless STOREFLEET_DATABASE_URL, STOREFLEET_NATS_URL, STOREFLEET_BACKUP_S3_ENDPOINT
or KUBECONFIG point at existing ones), the migrations and the services' Postgres logins
(`shared.db_roles`, with passwords new on every start), then the four services, each a
`python -m services.<name>` process (devtools/launcher.py) logging to `.run/logs/`, and
the mail relay with a local sink standing in for the operator's upstream SMTP relay. The
gateway, the auditor and the reaper log in to Postgres as their own roles, and every
service to NATS as its own user, as deployed; the provisioner gets no database. The
provisioner and the reaper get the object storage's settings (STOREFLEET_BACKUP_S3_*),
and the reaper runs the backup passes (STOREFLEET_BACKUPS_ENABLED).

Where the machine can run containers (root, containerd and runc installed, no other
real node running), the control plane gets this machine's real worker node
(devtools/node.py) with the store images `just images` builds, and stores really run.
Elsewhere, or with STOREFLEET_LOCAL_NODE=kwok, it has simulated (kwok) nodes, whose pods
never start; there, with no storage driver either, `BackgroundVolumes`
(devtools/volumes.py) binds each volume claim of the StorageClass `storefleet-local` to a
fresh hostPath volume, so store pods with volumes get scheduled.

`devtools/platform.py` (the CLI) drives a `Platform` in `.run`; the soak
(`devtools/soak.py`) drives one in `.run/soak` on simulated nodes, SIGKILLs its services
and starts them again with `restart_service`, and restarts its Postgres and NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from devtools import images, node, procs
from devtools.admin import Admin
from devtools.cluster import LocalCluster, ensure_binaries, stop_recorded
from devtools.dashboard import WEB
from devtools.launcher import SERVICES, start_service
from devtools.nats import LocalNats
from devtools.objectstore import LocalObjectStore
from devtools.postgres import LocalPostgres
from devtools.volumes import BackgroundVolumes
from devtools.workspace import RUN, say, shown

CLUSTER_DIR = RUN / "platform-cluster"
STORAGE_CLASS = "storefleet-local"
# What the engine charts' values-local.yaml run (WordPress cannot be built here).
STORE_IMAGES = ("medusa", "postgres", "mariadb", "redis")
READY_TIMEOUT = 120.0
# The services handed the object storage's settings and key pair: the provisioner writes
# backups, the reaper schedules and expires them.
BACKUP_SERVICES = ("provisioner", "reaper")


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


class Platform:
    """`run`: where data, logs and the cluster live (`.run` for `just up`); `simulated`:
    why to use simulated nodes even where a real node could run (empty: decide here)."""

    def __init__(self, run: Path = RUN, simulated: str = "") -> None:
        self.run = run
        self.simulated = simulated
        self.stops: list[object] = []
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.service_envs: dict[str, dict[str, str]] = {}  # how to start each one again
        self.postgres: LocalPostgres | None = None
        self.cluster: LocalCluster | None = None
        self.health: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.database_urls: dict[str, str] = {}  # service -> DSN as its own role
        self.local_cluster = False
        self.local_database = False
        self.real_node: node.RealCluster | None = None
        # Traefik runs on this host: a suspended store's Ingress reaches the gateway's
        # paused page here, through an ExternalName Service naming 127.0.0.1.
        self.paused_port = procs.free_port()
        self.nats: LocalNats | None = None  # started here: each service gets its own user
        # STOREFLEET_BACKUP_S3_*: in .run/env for scripts, and for the services that use
        # the bucket (BACKUP_SERVICES); no other service is handed the key pair.
        self.object_store_env: dict[str, str] = {}
        self.simulated_because = ""  # why stores run on simulated nodes, when they do

    def start_backends(self) -> None:
        if os.environ.get("STOREFLEET_DATABASE_URL"):
            self.env["STOREFLEET_DATABASE_URL"] = os.environ["STOREFLEET_DATABASE_URL"]
        else:
            pg = LocalPostgres(self.run / "postgres" / "data", durable=True, passwords=True)
            say(f"starting Postgres on 127.0.0.1:{pg.port}")
            pg.start()
            self.stops.append(pg)
            self.postgres = pg
            with contextlib.suppress(subprocess.CalledProcessError):
                pg.create_database("storefleet")
            self.env["STOREFLEET_DATABASE_URL"] = pg.dsn("storefleet")
            self.local_database = True
        if os.environ.get("STOREFLEET_NATS_URL"):
            self.env["STOREFLEET_NATS_URL"] = os.environ["STOREFLEET_NATS_URL"]
        else:
            nats = LocalNats(self.run / "nats")
            say("starting NATS with JetStream")
            nats.start()
            self.stops.append(nats)
            self.nats = nats
            self.env["STOREFLEET_NATS_URL"] = nats.url  # the admin, for tools; not services
        self._start_object_store()
        if os.environ.get("KUBECONFIG"):
            self.env["KUBECONFIG"] = os.environ["KUBECONFIG"]
        else:
            self._start_cluster()

    def _start_object_store(self) -> None:
        if os.environ.get("STOREFLEET_BACKUP_S3_ENDPOINT"):
            prefix = "STOREFLEET_BACKUP_S3_"
            given = {k: v for k, v in os.environ.items() if k.startswith(prefix)}
            self.object_store_env = given
            return
        store = LocalObjectStore(self.run / "objectstore")
        say("starting the object storage (versitygw; first run builds it: minutes)")
        store.start()
        self.stops.append(store)
        self.object_store_env = store.env()
        say(f"object storage: {store.endpoint}, bucket {store.bucket}")

    def _start_cluster(self) -> None:
        # Apart from `just cluster-up`'s .run/cluster, so neither stops the other's.
        cluster_dir = self.run / CLUSTER_DIR.name
        stop_recorded(cluster_dir)  # leftovers of a run that did not stop cleanly
        reason = self.simulated or real_node_unavailable()
        if reason is None:
            say("building the store images (first run: minutes), then starting the local "
                "control plane with a real worker node")  # fmt: skip
            images.build_images(STORE_IMAGES)
            self.real_node = node.start_real_cluster(cluster_dir, images=STORE_IMAGES)
            self.stops.append(RealNode())
            self.env["KUBECONFIG"] = str(self.real_node.kubeconfig)
            return
        self.simulated_because = reason
        say(f"starting the local Kubernetes control plane with simulated nodes ({reason})")
        cluster = self.new_cluster(cluster_dir)
        cluster.start()
        self.stops.append(cluster)
        self.cluster = cluster
        volumes = BackgroundVolumes(cluster.kubeconfig, STORAGE_CLASS)
        volumes.start()
        self.stops.append(volumes)
        self.local_cluster = True
        self.env["KUBECONFIG"] = str(cluster.kubeconfig)

    def new_cluster(self, cluster_dir: Path) -> LocalCluster:
        """The simulated control plane, not started; a benchmark's subclass sizes it."""
        return LocalCluster(cluster_dir, ensure_binaries())

    def migrate(self) -> None:
        """Migrations, then a login role with a fresh password for each service."""
        from shared.db import migrate
        from shared.db_roles import GROUP_ROLES, Login, dsn_as, set_logins

        owner = self.env["STOREFLEET_DATABASE_URL"]
        applied = asyncio.run(migrate(owner))
        say(f"migrations: {len(applied)} applied" if applied else "migrations: up to date")
        logins = [
            Login(service, f"storefleet_{service}_login", secrets.token_urlsafe(24))
            for service in GROUP_ROLES
        ]
        asyncio.run(set_logins(owner, logins))
        self.database_urls = {login.service: dsn_as(owner, login) for login in logins}

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
            env["STOREFLEET_PAUSED_HOST"] = "127.0.0.1"
            env["STOREFLEET_PAUSED_PORT"] = str(self.paused_port)
        env = {k: v for k, v in env.items() if k not in os.environ}
        port = procs.free_port()  # the gateway's /readyz is not on its public port
        self.health[name] = f"http://127.0.0.1:{port}/readyz"
        env = {**env, **self.env, "STOREFLEET_HEALTH_PORT": str(port)}
        env.pop("STOREFLEET_DATABASE_URL")  # the owner's: for migrations and operators only
        if self.nats is not None:  # started here: the admin's URL is for tools only
            env.pop("STOREFLEET_NATS_URL")
            if name in self.nats.passwords:
                env |= self.nats.service_env(name)
        if name in self.database_urls:
            env["STOREFLEET_DATABASE_URL"] = self.database_urls[name]
        if name in BACKUP_SERVICES and self.object_store_env:
            env |= self.object_store_env
            # The reaper's leader schedules and expires the backups, unless told otherwise.
            if name == "reaper" and "STOREFLEET_BACKUPS_ENABLED" not in os.environ:
                env["STOREFLEET_BACKUPS_ENABLED"] = "true"
        return env

    def start_services(self, gateway_port: int) -> None:
        self.env["STOREFLEET_GATEWAY_URL"] = f"http://127.0.0.1:{gateway_port}"
        helm = ensure_binaries() / "helm"
        for name in SERVICES:
            self.service_envs[name] = self.service_env(name, gateway_port, helm)
            self.restart_service(name)
            say(f"started {name} (log: {shown(self.log_of(name))})")
        self.start_mail(gateway_port, helm)

    def log_of(self, name: str) -> Path:
        return self.run / "logs" / f"{name}.log"

    def restart_service(self, name: str) -> subprocess.Popen[bytes]:
        """Start service `name` (again, once it has exited) with the same settings."""
        child = start_service(name, self.log_of(name), self.service_envs[name])
        self.children[name] = child
        return child

    def start_mail(self, gateway_port: int, helm: Path) -> None:
        """The mail relay, handing mail to a local sink that writes every message to
        .run/logs/mail-sink.log (there is no upstream relay here). Store pods cannot reach
        it, so the provisioner is not told of it; send to it by hand with a store's login
        (username: store id, password: `shared.mailauth.store_mail_password` under
        STOREFLEET_MAIL_RELAY_KEY from .run/env)."""
        sink_port, relay_port = procs.free_port(), procs.free_port()
        sink_log = self.log_of("mail-sink")
        sink = [sys.executable, "-u", "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{sink_port}"]
        self.children["mail-sink"] = procs.start(sink, sink_log)
        self.env["STOREFLEET_MAIL_RELAY_KEY"] = secrets.token_hex(32)
        self.env["STOREFLEET_MAIL_RELAY_PORT"] = str(relay_port)
        self.service_envs["mailrelay"] = {
            "STOREFLEET_LISTEN_HOST": "127.0.0.1",
            "STOREFLEET_LISTEN_PORT": str(relay_port),
            "STOREFLEET_UPSTREAM_HOST": "127.0.0.1",
            "STOREFLEET_UPSTREAM_PORT": str(sink_port),
            "STOREFLEET_UPSTREAM_SECURITY": "none",
            **self.service_env("mailrelay", gateway_port, helm),
        }
        log = self.log_of("mailrelay")
        self.restart_service("mailrelay")
        say(f"started mailrelay on 127.0.0.1:{relay_port} (log: {shown(log)}; "
            f"mail: {shown(sink_log)})")  # fmt: skip

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        for name, url in self.health.items():
            while not _answers(url):
                child = self.children[name]
                log = self.log_of(name)
                if child.poll() is not None:
                    raise RuntimeError(f"{name} exited with {child.returncode}:\n{procs.tail(log)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not ready after {timeout:.0f}s; see {log}")
                time.sleep(0.2)

    def write_env(self, admin: Admin) -> None:
        values = {**self.env, **self.object_store_env, "STOREFLEET_ADMIN_USER": admin.username}
        values["STOREFLEET_ADMIN_PASSWORD"] = admin.password or ""
        path = self.run / "env"
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
