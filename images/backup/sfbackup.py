#!/usr/bin/env python3
"""What runs inside a store's backup, restore and verify Jobs (issue 14): the program of
the storefleet/backup image. Standard library only; the image adds pg_dump, pg_restore,
the Postgres server, mariadb-dump, mariadb, mariadbd and tar.

    sfbackup.py dump|restore|verify [--plan /plan/plan.json]
                [--result /dev/termination-log] [--scratch /scratch]

The provisioner writes the plan (a Secret mounted at /plan) and reads the result from
the pod's status: Kubernetes copies the result file, up to 4096 bytes, into the
container's terminated state. The Job holds no storage key pair, only pre-signed URLs.

The plan:

    {"engine": "medusa" | "woocommerce",
     "database": {"kind": "postgres" | "mariadb", "host": "...", "port": 5432,
                  "name": "...", "user": "...", "password_file": "/secrets/db-password"},
     "volumes": {"files": "/data/uploads"},      # object name -> directory, may be {}
     "objects": {                                # per object: "database" and each volume
         "database": {"part_size": 16777216, "part_urls": ["https://...", ...],  # dump
                      "get_url": "https://...", "sha256": "<hex>", "size": 123}}}  # restore

- `dump` streams `pg_dump -Fc` or `mariadb-dump` (one consistent snapshot) into object
  "database" and `tar` of each volume directory into its object, cutting each stream
  into `part_size` parts and PUTting part i to `part_urls[i]` (the platform completes
  the multipart upload). Result: {"objects": {"database": {"size": N, "sha256": "<hex>",
  "parts": k}, "files": {...}}}
- `restore` downloads every object named in the plan into the scratch directory, checks
  each against the plan's size and SHA-256 and each archive's member names, and only then
  replaces the database's contents and each volume directory's contents.
  Result: {"restored": ["database", "files"]}
- `verify` downloads and checks "database", restores it into a throwaway server in the
  scratch directory (unix socket, no TCP) and counts the store's orders.
  Result: {"orders": N, "check": "order_count"}

On failure the exit status is 1 and the result is {"error": "<reason>"}. A reason never
holds a URL (a pre-signed URL is a credential) nor the database password. The Job should
run as the uid that owns the store's volume files; the database servers of `verify`
refuse root.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import posixpath
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

RESULT_LIMIT = 4096  # what Kubernetes keeps of a termination message
PUT_RETRIES = 3
BACKOFF_SECONDS = 1.0
HTTP_TIMEOUT = 300
READ_CHUNK = 1024 * 1024
ENGINE_DATABASES = {"medusa": "postgres", "woocommerce": "mariadb"}
NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
# URLs, and anything that looks like a query string or a signature, never leave here.
SECRET_SHAPES = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*://\S*|\S*[?&][^\s=?&]+=\S*|\S*(?:X-Amz-|Signature)\S*"
)
ORDER_COUNTS = {
    "medusa": 'SELECT count(*) FROM "order"',
    # HPOS (WooCommerce's default since 8.2) keeps orders in wp_wc_orders; without it
    # they are posts. The option says which store is authoritative.
    "woocommerce": (
        "SELECT IF((SELECT option_value FROM wp_options"
        " WHERE option_name = 'woocommerce_custom_orders_table_enabled') = 'yes',"
        " (SELECT count(*) FROM wp_wc_orders WHERE type = 'shop_order'),"
        " (SELECT count(*) FROM wp_posts WHERE post_type = 'shop_order'))"
    ),
}


class BackupError(Exception):
    """A failure a user can read; the message is redacted before it is written."""


# -- the plan ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    kind: str
    host: str
    port: int
    name: str
    user: str
    password: str


@dataclass(frozen=True)
class Plan:
    engine: str
    database: Database
    volumes: dict[str, Path]
    objects: dict[str, dict[str, Any]]

    def names(self) -> list[str]:
        """The objects this Job handles: the database, then each volume."""
        return ["database", *self.volumes]

    def secrets(self) -> list[str]:
        urls = [u for o in self.objects.values() for u in o.get("part_urls", [])]
        urls += [o["get_url"] for o in self.objects.values() if "get_url" in o]
        return [self.database.password, *urls]


def field(source: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = source.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BackupError(f"plan: {where}.{key} must be a {kind.__name__}")
    return value


def read_plan(path: Path) -> Plan:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"cannot read the plan {path}: {exc}") from exc
    engine = field(raw, "engine", str, "plan")
    if engine not in ENGINE_DATABASES:
        raise BackupError(f"plan: unknown engine {engine!r}")
    database = read_database(field(raw, "database", dict, "plan"))
    if database.kind != ENGINE_DATABASES[engine]:
        raise BackupError(f"plan: {engine} keeps its data in {ENGINE_DATABASES[engine]}")
    volumes = field(raw, "volumes", dict, "plan")
    for name in volumes:
        if name == "database" or not NAME.fullmatch(name):
            raise BackupError(f"plan: {name!r} cannot name a volume")
        field(volumes, name, str, "volumes")
    directories = {name: Path(directory) for name, directory in volumes.items()}
    return Plan(engine, database, directories, field(raw, "objects", dict, "plan"))


def read_database(raw: dict[str, Any]) -> Database:
    kind = field(raw, "kind", str, "database")
    if kind not in ("postgres", "mariadb"):
        raise BackupError(f"plan: unknown database kind {kind!r}")
    password = ""
    if raw.get("password_file"):
        try:
            password = Path(raw["password_file"]).read_text().rstrip("\r\n")
        except OSError as exc:
            raise BackupError(f"cannot read the database password: {exc.strerror}") from exc
    text = {key: field(raw, key, str, "database") for key in ("host", "name", "user")}
    return Database(kind, port=field(raw, "port", int, "database"), password=password, **text)


def upload_of(plan: Plan, name: str) -> tuple[int, list[str]]:
    found = plan.objects.get(name) or {}
    part_size = field(found, "part_size", int, f"objects.{name}")
    urls = field(found, "part_urls", list, f"objects.{name}")
    if part_size < 1 or not urls or not all(isinstance(u, str) for u in urls):
        raise BackupError(f"plan: objects.{name} needs a part_size and part_urls")
    return part_size, urls


# -- HTTP with pre-signed URLs -----------------------------------------------------------


def refusal(exc: urllib.error.HTTPError) -> str:
    """The status and S3's error code and message, from its XML body."""
    body = exc.read(4096).decode("utf-8", "replace")
    words = [re.search(f"<{tag}>([^<]{{0,200}})</{tag}>", body) for tag in ("Code", "Message")]
    said = ": ".join(m.group(1) for m in words if m)
    return f"the object storage answered {exc.code}" + (f" ({said})" if said else "")


def put_part(url: str, body: bytes, what: str) -> None:
    """PUT one part; retry what may pass (unreachable, 5xx, throttled), not a refusal."""
    reason = ""
    for attempt in range(PUT_RETRIES + 1):
        if attempt:
            time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
        request = urllib.request.Request(url, data=body, method="PUT")
        request.add_header("Content-Type", "application/octet-stream")
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as answer:
                answer.read()
                return
        except urllib.error.HTTPError as exc:
            reason = refusal(exc)
            if exc.code < 500 and exc.code not in (408, 429):
                break
        except OSError as exc:  # URLError, refused, reset, timed out
            reason = f"the object storage is unreachable ({unreachable(exc)})"
    raise BackupError(f"{what}: {reason}")


def unreachable(exc: OSError) -> str:
    inner = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return getattr(inner, "strerror", None) or type(inner).__name__


def download(url: str, target: Path, size: int, sha256: str, what: str) -> None:
    """GET an object into `target`, refusing it unless its size and SHA-256 match."""
    digest, got = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as answer, target.open("wb") as out:
            while chunk := answer.read(READ_CHUNK):
                got += len(chunk)
                if got > size:
                    break
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise BackupError(f"downloading {what}: {refusal(exc)}") from exc
    except OSError as exc:
        raise BackupError(f"downloading {what}: {unreachable(exc)}") from exc
    if got != size:
        raise BackupError(f"{what} is not the backup: {got}+ bytes where it had {size}")
    if digest.hexdigest() != sha256.lower():
        raise BackupError(f"{what} is not the backup: its SHA-256 differs")


# -- processes ---------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """Our environment without inherited database settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "MYSQL", "MARIADB"))}
    return {**env, **extra}


def start(argv: list[str], **options: Any) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(argv, **options)
    except OSError as exc:
        raise BackupError(f"cannot run {Path(argv[0]).name}: {exc.strerror}") from exc


def run(argv: list[str], what: str, env: dict[str, str], **options: Any) -> str:
    """Run a command to its end; its stdout, or a failure naming `what` and its stderr."""
    options.setdefault("stdin", subprocess.DEVNULL)
    proc = start(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, **options)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise BackupError(f"{what} failed: {last_words(err)}")
    return out.decode("utf-8", "replace")


def last_words(stderr: bytes) -> str:
    text = " ".join(stderr.decode("utf-8", "replace").split())
    return text[-600:] or "no message"


def stream_dump(argv: list[str], env: dict[str, str], plan: Plan, name: str) -> dict[str, Any]:
    """Upload a dump command's stdout as object `name`; its exit status decides."""
    part_size, urls = upload_of(plan, name)
    proc = start(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None and proc.stderr is not None
    stderr: list[bytes] = []
    drain = threading.Thread(target=collect, args=(proc.stderr, stderr))
    drain.start()
    try:
        found = upload(proc.stdout, part_size, urls, name)
    except BaseException:
        proc.kill()
        raise
    finally:
        proc.stdout.close()
        code = proc.wait()
        drain.join()
    if code != 0:
        raise BackupError(f"dumping {name} failed: {last_words(b''.join(stderr))}")
    return found


def collect(stream: IO[bytes], into: list[bytes]) -> None:
    """Keep a process's stderr (read apart, so a full pipe never blocks the dump)."""
    into.append(stream.read())


def upload(stream: IO[bytes], part_size: int, urls: list[str], name: str) -> dict[str, Any]:
    """Cut `stream` into parts; an empty stream is one empty part, never an extra one."""
    digest, size, parts = hashlib.sha256(), 0, 0
    while True:
        chunk = read_full(stream, part_size)
        if not chunk and parts:
            break
        if parts == len(urls):
            raise BackupError(f"{name}: backup larger than {len(urls)} parts of {part_size} bytes")
        digest.update(chunk)
        size += len(chunk)
        put_part(urls[parts], chunk, f"uploading part {parts + 1} of {name}")
        parts += 1
        if len(chunk) < part_size:
            break
    return {"size": size, "sha256": digest.hexdigest(), "parts": parts}


def read_full(stream: IO[bytes], size: int) -> bytes:
    chunks, wanted = [], size
    while wanted and (chunk := stream.read(min(wanted, READ_CHUNK))):
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)


# -- database clients --------------------------------------------------------------------


def pg_bin(tool: str) -> str:
    """Debian keeps each Postgres major's programs apart; take the newest."""
    majors = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"), key=pg_major)
    return str(majors[-1]) if majors else shutil.which(tool) or tool


def pg_major(path: Path) -> int:
    return int(path.parts[-3]) if path.parts[-3].isdigit() else 0


def mariadb_bin(tool: str) -> str:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/bin") or tool


def conninfo(**params: object) -> str:
    """A libpq connection string: quoted values, so a name cannot add a parameter."""
    quoted = (str(v).replace("\\", "\\\\").replace("'", "\\'") for v in params.values())
    return " ".join(f"{key}='{value}'" for key, value in zip(params, quoted, strict=True))


def pg_target(db: Database) -> str:
    return conninfo(host=db.host, port=db.port, dbname=db.name, user=db.user)


def mariadb_client(db: Database) -> list[str]:
    # --no-defaults must come first; values glued to options so none reads as an option.
    return [
        "--no-defaults",
        f"--host={db.host}",
        f"--port={db.port}",
        f"--user={db.user}",
        "--protocol=TCP",
        "--default-character-set=utf8mb4",
    ]


def db_env(db: Database) -> dict[str, str]:
    if db.kind == "postgres":
        return clean_env(PGPASSWORD=db.password, PGCONNECT_TIMEOUT="30")
    return clean_env(MYSQL_PWD=db.password)


def dump_command(db: Database) -> list[str]:
    if db.kind == "postgres":
        return [pg_bin("pg_dump"), "-Fc", "--no-owner", "--no-acl", f"--dbname={pg_target(db)}"]
    return [
        mariadb_bin("mariadb-dump"),
        *mariadb_client(db),
        "--single-transaction",
        "--routines",
        "--triggers",
        "--no-tablespaces",
        "--",
        db.name,
    ]


def restore_database(db: Database, dump: Path) -> None:
    if db.kind == "postgres":
        argv = [
            pg_bin("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-acl",
            "--single-transaction",
            f"--dbname={pg_target(db)}",
            str(dump),
        ]
        run(argv, "restoring the database", db_env(db))
        return
    argv = [mariadb_bin("mariadb"), *mariadb_client(db), f"--database={db.name}"]
    with dump.open("rb") as source:
        run(argv, "restoring the database", db_env(db), stdin=source)


# -- volumes -----------------------------------------------------------------------------


def tar_command(directory: Path) -> list[str]:
    return ["tar", "--create", "--file=-", "--numeric-owner", f"--directory={directory}", "."]


def check_archive(archive: Path, name: str) -> None:
    """Refuse, before anything is unpacked, an archive with an absolute name, a `..`, a
    link (or a member written through one) that leads out, or a device. Python's own
    data filter (3.11.4+) checks again while unpacking; Debian bookworm's 3.11.2 lacks
    it, so these checks stand alone."""
    try:
        with tarfile.open(archive, mode="r:") as tar:
            members = tar.getmembers()
    except tarfile.TarError as exc:
        raise BackupError(f"{name}: not a readable archive: {exc}") from exc
    links = {posixpath.normpath(m.name): m.linkname for m in members if m.issym()}
    for member in members:
        if refused(member, links):
            raise BackupError(f"{name}: the archive is refused: member {member.name!r}")


def refused(member: tarfile.TarInfo, links: dict[str, str]) -> bool:
    if member.name.startswith("/") or ".." in member.name.split("/"):
        return True
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return True  # devices and fifos have no place in a store's files
    if resolve(posixpath.dirname(member.name), links) is None:
        return True  # written through a link that leads out
    if member.issym():
        place = posixpath.join(posixpath.dirname(member.name), member.linkname)
        return member.linkname.startswith("/") or resolve(place, links) is None
    return member.islnk() and resolve(member.linkname, links) is None


def resolve(path: str, links: dict[str, str], depth: int = 0) -> str | None:
    """Where `path` (relative to the directory) lands once the archive's symlinks are
    followed; None when it leaves the directory, is absolute or loops."""
    if path.startswith("/") or depth > 40:
        return None
    place: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not place:
                return None
            place.pop()
            continue
        place.append(part)
        target = links.get("/".join(place))
        if target is not None:
            base = "/".join(place[:-1])
            landed = resolve(posixpath.join(base, target), links, depth + 1)
            if landed is None:
                return None
            place = landed.split("/") if landed else []
    return "/".join(place)


def replace_contents(directory: Path, archive: Path) -> None:
    """Empty `directory` (a mount: it stays) and unpack `archive` into it."""
    for entry in directory.iterdir():
        if entry.name == "lost+found":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    with tarfile.open(archive, mode="r:") as tar:
        members = [m for m in tar if posixpath.normpath(m.name) != "."]
        if hasattr(tarfile, "data_filter"):
            tar.extractall(directory, members=members, filter="data")
        else:
            tar.extractall(directory, members=members)


# -- verify: a throwaway server ----------------------------------------------------------


class Throwaway:
    """A database server in `work`, reachable only by its unix socket, with one empty
    database, "verify"."""

    def __init__(self, kind: str, work: Path) -> None:
        self.kind, self.work = kind, work
        self.socket = work / ("pg-run" if kind == "postgres" else "mariadb.sock")
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Throwaway:
        argv = self.postgres() if self.kind == "postgres" else self.mariadbd()
        with (self.work / "server.log").open("wb") as log:
            self.proc = start(argv, stdout=log, stderr=subprocess.STDOUT, env=clean_env())
        try:
            self.wait_ready()
            self.query("CREATE DATABASE verify")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # postgres: smart shutdown; mariadbd: normal shutdown
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def postgres(self) -> list[str]:
        data = self.work / "pg-data"
        self.socket.mkdir()
        initdb = [pg_bin("initdb"), f"--pgdata={data}", "--username=sfbackup", "--auth=trust"]
        run([*initdb, "--no-sync", "--encoding=UTF8", "--locale=C"], "initdb", clean_env())
        settings = [
            "listen_addresses=",
            f"unix_socket_directories={self.socket}",
            "fsync=off",
            "full_page_writes=off",
            "dynamic_shared_memory_type=mmap",  # no /dev/shm needed
        ]
        return [pg_bin("postgres"), "-D", str(data), *(f"-c{s}" for s in settings)]

    def mariadbd(self) -> list[str]:
        data = self.work / "mariadb-data"
        install = [mariadb_bin("mariadb-install-db"), "--no-defaults", f"--datadir={data}"]
        flags = ["--auth-root-authentication-method=normal", "--skip-test-db"]
        run([*install, *flags, "--skip-name-resolve"], "mariadb-install-db", clean_env())
        return [
            mariadb_bin("mariadbd"),
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={self.socket}",
            "--skip-networking",
            f"--tmpdir={self.work}",
            f"--pid-file={self.work / 'mariadb.pid'}",
        ]

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise BackupError(f"the throwaway {self.kind} server stopped: {self.log()}")
            try:
                self.query("SELECT 1")
                return
            except BackupError:
                time.sleep(0.3)
        raise BackupError(f"the throwaway {self.kind} server did not start: {self.log()}")

    def log(self) -> str:
        return last_words((self.work / "server.log").read_bytes())

    def client(self, database: str) -> list[str]:
        if self.kind == "postgres":
            target = conninfo(host=self.socket, dbname=database, user="sfbackup")
            return [
                pg_bin("psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                f"--dbname={target}",
            ]
        return [
            mariadb_bin("mariadb"),
            "--no-defaults",
            f"--socket={self.socket}",
            "--user=root",
            "--batch",
            "--skip-column-names",
            f"--database={database}",
        ]

    def query(self, sql: str, database: str = "") -> str:
        """Run one statement in `database` (the server's own when empty); its answer."""
        database = database or ("postgres" if self.kind == "postgres" else "mysql")
        option = "--command" if self.kind == "postgres" else "--execute"
        argv = [*self.client(database), f"{option}={sql}"]
        return run(argv, "the check query", clean_env()).strip()

    def restore(self, dump: Path) -> None:
        """Load a backup into "verify"; any error fails."""
        what = "restoring the backup into a throwaway server"
        if self.kind == "mariadb":
            with dump.open("rb") as source:
                run(self.client("verify"), what, clean_env(), stdin=source)
            return
        target = conninfo(host=self.socket, dbname="verify", user="sfbackup")
        flags = ["--no-owner", "--no-acl", "--exit-on-error", f"--dbname={target}"]
        run([pg_bin("pg_restore"), *flags, str(dump)], what, clean_env())


# -- the network -------------------------------------------------------------------------

# A new pod's traffic may be refused until the node's network policy agent has seen it
# (kube-router rejects it meanwhile): wait this long for each peer to answer a connect.
NETWORK_WAIT_SECONDS = 120.0


def database_peer(plan: Plan) -> list[tuple[str, int]]:
    return [(plan.database.host, plan.database.port)]


def storage_peers(plan: Plan) -> list[tuple[str, int]]:
    """The object store hosts of the plan's URLs."""
    found = []
    for wanted in plan.objects.values():
        for url in [wanted.get("get_url"), *(wanted.get("part_urls") or [])[:1]]:
            if isinstance(url, str):
                parts = urllib.parse.urlsplit(url)
                port = parts.port or (443 if parts.scheme == "https" else 80)
                found.append((parts.hostname or "", port))
    return sorted(set(found))


def wait_for_network(targets: list[tuple[str, int]], timeout: float = NETWORK_WAIT_SECONDS
                     ) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    for host, port in targets:
        while True:
            try:
                socket.create_connection((host, port), timeout=5).close()
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise BackupError(
                        f"cannot reach {host} port {port}: {unreachable(exc)}"
                    ) from None
                time.sleep(1)


# -- the commands ------------------------------------------------------------------------


def dump(plan: Plan, scratch: Path) -> dict[str, Any]:
    for name, directory in plan.volumes.items():
        if not directory.is_dir():
            raise BackupError(f"volume {name}: {directory} is not a directory")
    wait_for_network(database_peer(plan) + storage_peers(plan))
    db = plan.database
    objects = {"database": stream_dump(dump_command(db), db_env(db), plan, "database")}
    for name, directory in plan.volumes.items():
        objects[name] = stream_dump(tar_command(directory), clean_env(), plan, name)
    return {"objects": objects}


def fetch(plan: Plan, name: str, work: Path) -> Path:
    wanted = plan.objects.get(name) or {}
    url = field(wanted, "get_url", str, f"objects.{name}")
    size = field(wanted, "size", int, f"objects.{name}")
    sha256 = field(wanted, "sha256", str, f"objects.{name}")
    target = work / name
    download(url, target, size, sha256, name)
    return target


def restore(plan: Plan, scratch: Path) -> dict[str, Any]:
    wait_for_network(storage_peers(plan))
    with tempfile.TemporaryDirectory(dir=scratch, prefix="restore-") as work:
        fetched = {name: fetch(plan, name, Path(work)) for name in plan.names()}
        for name in plan.volumes:
            check_archive(fetched[name], name)
        wait_for_network(database_peer(plan))
        restore_database(plan.database, fetched["database"])
        for name, directory in plan.volumes.items():
            replace_contents(directory, fetched[name])
    return {"restored": plan.names()}


def verify(plan: Plan, scratch: Path) -> dict[str, Any]:
    if os.geteuid() == 0:
        raise BackupError("verify starts a database server, which refuses root")
    wait_for_network(storage_peers(plan))
    with tempfile.TemporaryDirectory(dir=scratch, prefix="verify-") as work:
        dumped = fetch(plan, "database", Path(work))
        with Throwaway(plan.database.kind, Path(work)) as server:
            server.restore(dumped)
            answer = server.query(ORDER_COUNTS[plan.engine], "verify")
    if not answer.isdigit():
        raise BackupError(f"the check query answered {answer[:100]!r}, not a count")
    return {"orders": int(answer), "check": "order_count"}


COMMANDS = {"dump": dump, "restore": restore, "verify": verify}


def summary(command: str, result: dict[str, Any]) -> str:
    if "error" in result:
        return f"sfbackup {command} failed: {result['error']}"
    if command == "dump":
        parts = (
            f"{n} {o['size']} bytes in {o['parts']} parts" for n, o in result["objects"].items()
        )
        return "sfbackup dump: " + ", ".join(parts)
    if command == "restore":
        return "sfbackup restore: restored " + ", ".join(result["restored"])
    return f"sfbackup verify: the backup restores, {result['orders']} orders"


def redact(text: str, secrets: list[str]) -> str:
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return SECRET_SHAPES.sub("<redacted>", text)[:1000]


def execute(command: str, plan_path: Path, scratch: Path) -> dict[str, Any]:
    secrets: list[str] = []
    try:
        plan = read_plan(plan_path)
        secrets = plan.secrets()
        return COMMANDS[command](plan, scratch)
    except BackupError as exc:
        return {"error": redact(str(exc), secrets)}
    except Exception as exc:  # anything else still reaches the platform, redacted
        return {"error": redact(f"unexpected {type(exc).__name__}: {exc}", secrets)}


def write_result(path: Path, result: dict[str, Any]) -> None:
    text = json.dumps(result, separators=(",", ":"))
    if len(text.encode()) > RESULT_LIMIT:
        text = json.dumps({"error": "the result is larger than a termination message"})
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sfbackup", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("--plan", type=Path, default=Path("/plan/plan.json"))
    parser.add_argument("--result", type=Path, default=Path("/dev/termination-log"))
    parser.add_argument("--scratch", type=Path, default=Path("/scratch"))
    args = parser.parse_args(argv)
    result = execute(args.command, args.plan, args.scratch)
    write_result(args.result, result)
    print(summary(args.command, result), flush=True)
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
