"""A throwaway Postgres cluster from Debian's `initdb`, for tests, benchmarks and `just up`.

`initdb` and `postgres` refuse to run as root (and CI runs as root), so as root the
cluster runs as the unprivileged `postgres` user (created if missing), with the data
directory owned by it.

The `postgres` role (the migration owner here) is trusted; with `passwords`, every other
role must give its password over TCP (scram-sha-256), as the services' own roles do in a
deployment (migration 0007, `shared.db_roles`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from devtools import procs

PG_USER = "postgres"
# Written over initdb's on every start, so an older data directory gets it too.
HBA_WITH_PASSWORDS = """\
local all all                  trust
host  all postgres 127.0.0.1/32 trust
host  all all      127.0.0.1/32 scram-sha-256
"""


def pg_bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise FileNotFoundError("initdb not found: install Debian's postgresql package")


def _ensure_os_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", PG_USER], check=True)
    return PG_USER


class LocalPostgres:
    """One Postgres server on 127.0.0.1:<port> with trust auth for the `postgres` role."""

    def __init__(
        self,
        datadir: Path,
        port: int | None = None,
        durable: bool = False,
        passwords: bool = False,
    ) -> None:
        self.datadir = datadir
        self.port = port or procs.free_port()
        self.durable = durable
        self.passwords = passwords
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = datadir.parent / f"{datadir.name}.log"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        user = _ensure_os_user()
        bindir = pg_bin_dir()
        self.datadir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            shutil.chown(self.datadir, user)
            self.datadir.chmod(0o700)
        if not (self.datadir / "PG_VERSION").exists():
            argv = [
                str(bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
            done = subprocess.run(
                argv if user is None else ["runuser", "-u", user, "--", *argv],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise RuntimeError(f"initdb failed: {done.stderr.strip()}")
        if self.passwords:
            (self.datadir / "pg_hba.conf").write_text(HBA_WITH_PASSWORDS)
        argv = [
            str(bindir / "postgres"),
            "-D",
            str(self.datadir),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={self.datadir}",
            "-c",
            "max_connections=300",
        ]
        if not self.durable:
            # A throwaway cluster: trade crash safety for speed.
            argv += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        self.proc = procs.start(argv, self.log, user=user)
        procs.wait_for_port(self.port, timeout=60, proc=self.proc, log=self.log)
        self._wait_accepting(bindir)

    def _wait_accepting(self, bindir: Path) -> None:
        for _ in range(300):
            ready = subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            procs.time.sleep(0.1)
        raise TimeoutError(f"postgres on {self.port} not accepting: {procs.tail(self.log)}")

    def create_database(self, name: str) -> str:
        bindir = pg_bin_dir()
        subprocess.run(
            [
                str(bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                name,
            ],
            check=True,
            capture_output=True,
        )
        return self.dsn(name)

    def restart(self, timeout: float = 60.0) -> None:
        """A fast shutdown, then start again on the same port and data directory."""
        self.shut_down(timeout)
        self.start()

    def shut_down(self, timeout: float = 60.0) -> None:
        """A fast shutdown (SIGINT to the postmaster: clients are disconnected, nothing
        lost), unlike `stop`'s, which waits for clients to leave; `start` brings the same
        data back."""
        if self.proc is None:
            raise RuntimeError("postgres is not running")
        postmaster = int((self.datadir / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGINT)
        self.proc.wait(timeout)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            procs.stop(self.proc, timeout=20)
            self.proc = None
