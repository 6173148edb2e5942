"""The backup image's program (images/backup/sfbackup.py) as its Job runs it: a separate
process with Debian's python3, as an unprivileged user when the tests run as root (as
the image's uid 65532 does), a plan file, a result file, a scratch directory and only
pre-signed URLs of the real S3-compatible server.

`backup_job` is the Job's filesystem and a way to run one command. `Backup` is the
platform's side: it creates the multipart uploads and presigns their parts for a dump,
completes them, and presigns GETs for a restore or verify.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from devtools.postgres import pg_bin_dir
from shared.objectstore import URL_EXPIRY, ObjectDigest, ObjectStore
from tests.fixtures.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "images" / "backup" / "sfbackup.py"
JOB_USER = "nobody"  # no home, no rights: as close to the image's uid as the host has
MiB = 1024 * 1024


@dataclass(frozen=True)
class Outcome:
    """What the platform sees of a finished Job: exit status, result, log line."""

    code: int
    result: dict[str, Any]
    stdout: str
    stderr: str

    @property
    def error(self) -> str:
        return str(self.result.get("error", ""))


def python() -> str:
    """The system's python3, as the image has (the venv's may sit where the job user
    cannot read)."""
    return shutil.which("python3", path="/usr/bin:/bin") or sys.executable


class BackupJob:
    """One Job's filesystem: plan, result, scratch, a volume directory, its tool copy."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.scratch = base / "scratch"
        self.files = base / "files"
        self.tool = base / "sfbackup.py"
        for directory in (self.scratch, self.files):
            directory.mkdir()
        shutil.copy2(TOOL, self.tool)
        self.give(base)

    def give(self, path: Path) -> None:
        """Hand `path` and everything under it to the job's user."""
        if os.geteuid() != 0:
            return
        account = pwd.getpwnam(JOB_USER)
        for entry in [path, *path.rglob("*")]:
            os.lchown(entry, account.pw_uid, account.pw_gid)

    def password_file(self, password: str) -> str:
        path = self.base / f"password-{uuid.uuid4().hex[:6]}"
        path.write_text(password + "\n")  # as a Secret made with a trailing newline
        path.chmod(0o600)
        self.give(path)
        return str(path)

    async def run(self, command: str, plan: dict[str, Any]) -> Outcome:
        plan_file, result = self.base / "plan.json", self.base / "result.json"
        plan_file.write_text(json.dumps(plan))
        result.unlink(missing_ok=True)
        argv = [python(), str(self.tool), command, f"--plan={plan_file}"]
        argv += [f"--result={result}", f"--scratch={self.scratch}"]
        user = JOB_USER if os.geteuid() == 0 else None
        done = await asyncio.to_thread(
            subprocess.run, argv, capture_output=True, text=True, user=user, timeout=300
        )
        written = json.loads(result.read_text()) if result.exists() else {}
        return Outcome(done.returncode, written, done.stdout, done.stderr)


@pytest.fixture
def backup_job() -> Iterator[BackupJob]:
    # Not under pytest's tmp dir: that is private to root.
    base = Path(tempfile.mkdtemp(prefix="storefleet-backup-"))
    base.chmod(0o755)
    try:
        yield BackupJob(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Backup:
    """The platform's side of one backup in the bucket."""

    store: ObjectStore
    names: tuple[str, ...]
    backup_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    store_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    uploads: dict[str, str] = field(default_factory=dict)

    def key(self, name: str) -> str:
        return self.store.backup_key(self.store_id, self.backup_id, name)

    async def dump_objects(
        self, part_size: int = 5 * MiB, parts: int = 4, expires: timedelta = URL_EXPIRY
    ) -> dict[str, Any]:
        """The plan's "objects" for a dump: an upload per object, `parts` URLs each."""
        objects = {}
        for name in self.names:
            key = self.key(name)
            self.uploads[name] = await self.store.create_upload(key)
            urls = [
                await self.store.presign_part(key, self.uploads[name], n, expires)
                for n in range(1, parts + 1)
            ]
            objects[name] = {"part_size": part_size, "part_urls": urls}
        return objects

    async def put(self, name: str, body: bytes) -> dict[str, Any]:
        """Store `body` as object `name` (as a tampered or hostile backup would be);
        the plan's entry for GETting it."""
        request = urllib.request.Request(
            await self.store.presign_put(self.key(name)), data=body, method="PUT"
        )
        await asyncio.to_thread(lambda: urllib.request.urlopen(request).close())
        digest = hashlib.sha256(body).hexdigest()
        url = await self.store.presign_get(self.key(name))
        return {"get_url": url, "size": len(body), "sha256": digest}

    async def complete(self) -> dict[str, ObjectDigest]:
        """Complete every upload; what each object holds, read back."""
        found = {}
        for name, upload_id in self.uploads.items():
            await self.store.complete_upload(self.key(name), upload_id)
            found[name] = await self.store.digest(self.key(name))
        return found

    async def restore_objects(self, dumped: dict[str, Any]) -> dict[str, Any]:
        """The plan's "objects" for a restore or verify, from a dump's result."""
        return {
            name: {
                "get_url": await self.store.presign_get(self.key(name)),
                "size": dumped[name]["size"],
                "sha256": dumped[name]["sha256"],
            }
            for name in self.names
        }


@dataclass(frozen=True)
class PostgresStore:
    """A store's database on the test server: any name, its own role and password."""

    host: str
    port: int
    name: str
    user: str
    password: str

    def plan_database(self, password_file: str) -> dict[str, Any]:
        return {
            "kind": "postgres",
            "host": self.host,
            "port": self.port,
            "name": self.name,
            "user": self.user,
            "password_file": password_file,
        }

    async def fetch(self, sql: str) -> list[asyncpg.Record]:
        conn = await self.connect()
        try:
            return await conn.fetch(sql)
        finally:
            await conn.close()

    async def execute(self, sql: str) -> None:
        conn = await self.connect()
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.name,
        )


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def create_postgres_store(server: PostgresServer, name: str) -> PostgresStore:
    """A database called `name` (any text), owned by a new role with a password."""
    user, password = f"r_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    conn = await asyncpg.connect(server.admin_dsn)
    try:
        await conn.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
        await conn.execute(f"CREATE DATABASE {quote_ident(name)} OWNER {user}")
    finally:
        await conn.close()
    admin = urlsplit(server.admin_dsn)
    return PostgresStore(admin.hostname or "127.0.0.1", admin.port or 5432, name, user, password)


@pytest.fixture
def pg_tools() -> Path:
    """pg_dump and pg_restore of the host's Postgres (the server's own version)."""
    try:
        return pg_bin_dir()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
