"""A throwaway MariaDB server from Debian's `mariadbd`, for tests (the backup tool's
WooCommerce side: tests/fixtures/mariadb.py).

As root the server runs as the unprivileged `mysql` user (created if missing), as
devtools/postgres.py runs Postgres. It listens on 127.0.0.1:<port> for the clients under
test and on a unix socket in its directory, where `root` (no password) administers it
with `sql`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from devtools import procs
from devtools.local_server import LocalServer

OS_USER = "mysql"


def mariadb_binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise FileNotFoundError(f"{name} not found: install Debian's mariadb-server")
    return found


def _os_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", OS_USER], check=True)
    return OS_USER


class LocalMariaDB(LocalServer):
    """One mariadbd in `base`: data, socket and log."""

    def __init__(self, base: Path, port: int | None = None) -> None:
        self.base = base
        self.datadir = base / "data"
        self.socket = base / "mariadb.sock"
        self.log = base / "mariadb.log"
        self.port = port or procs.free_port()

    def start(self, timeout: float = 60.0) -> None:
        user = _os_user()
        self.base.mkdir(parents=True, exist_ok=True)
        if user is not None:
            shutil.chown(self.base, user)
        if not self.datadir.exists():
            self._install(user)
        argv = [
            mariadb_binary("mariadbd"),
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            "--bind-address=127.0.0.1",
            f"--port={self.port}",
            f"--pid-file={self.base / 'mariadb.pid'}",
            "--skip-name-resolve",
            "--innodb-flush-log-at-trx-commit=0",
        ]
        self._proc = procs.start(argv, self.log, user=user)
        procs.wait_for_port(self.port, timeout=timeout, proc=self._proc, log=self.log)
        self._wait_accepting(timeout)

    def _install(self, user: str | None) -> None:
        argv = [
            mariadb_binary("mariadb-install-db"),
            "--no-defaults",
            f"--datadir={self.datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ]
        if user is not None:
            argv = ["runuser", "-u", user, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {done.stderr.strip()[-2000:]}")

    def _wait_accepting(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sql("SELECT 1")
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"mariadbd not accepting: {procs.tail(self.log)}") from None
                time.sleep(0.2)

    def sql(
        self, statements: str, database: str = "mysql", login: tuple[str, str] | None = None
    ) -> str:
        """Run `statements`, as root over the socket or as `login` (user, password) over
        TCP; the tab-separated answer."""
        argv = [mariadb_binary("mariadb"), "--no-defaults", "--batch", "--skip-column-names"]
        argv.append(f"--database={database}")
        env = dict(os.environ)
        if login is None:
            argv += [f"--socket={self.socket}", "--user=root"]
        else:
            argv += ["--protocol=TCP", "--host=127.0.0.1", f"--port={self.port}"]
            argv.append(f"--user={login[0]}")
            env["MYSQL_PWD"] = login[1]
        done = subprocess.run(argv, input=statements, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"mariadb: {done.stderr.strip()}")
        return done.stdout
