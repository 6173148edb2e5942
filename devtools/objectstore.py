"""A throwaway S3-compatible server on a free loopback port, for tests and `just up`: the
Versity S3 Gateway (versitygw) serving a directory through its posix backend, built by
scripts/build-objectstore-bins.sh.

Used by `tests/fixtures/objectstore.py` (one per test session) and by
`devtools/platform_start.py`. Each `LocalObjectStore` makes a fresh random root key
pair, handed to the server in its environment (not its argv, which `ps` shows) and
never logged; `start()` creates the bucket. The data directory, port and key pair
survive `restart()`, so a test can stop the server under a running client and bring
the same objects back.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from devtools.local_server import LocalServer
from devtools.procs import free_port, start, tail, wait_for_port
from shared.settings import ObjectStoreSettings

REPO = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO / "scripts" / "build-objectstore-bins.sh"
BUCKET = "storefleet-backups"
REGION = "us-east-1"


def versitygw_binary() -> Path:
    """Build (or find in the cache) versitygw and return its path."""
    done = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], cwd=REPO, check=True, stdout=subprocess.PIPE, text=True
    )
    return Path(done.stdout.strip().splitlines()[-1]) / "versitygw"


class LocalObjectStore(LocalServer):
    """versitygw on 127.0.0.1 with its buckets under `workdir/data`."""

    def __init__(self, workdir: Path, port: int | None = None, bucket: str = BUCKET) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.log = workdir / "versitygw.log"
        self.port = port or free_port()
        self.bucket = bucket
        self.access_key = "sf" + secrets.token_hex(9)
        self._secret_key = secrets.token_urlsafe(30)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self, prefix: str = "storefleet") -> ObjectStoreSettings:
        """What the platform's client needs to use the bucket under `prefix`."""
        return ObjectStoreSettings(
            backup_s3_endpoint=self.endpoint,
            backup_s3_bucket=self.bucket,
            backup_s3_region=REGION,
            backup_s3_access_key=self.access_key,
            backup_s3_secret_key=SecretStr(self._secret_key),
            backup_s3_prefix=prefix,
        )

    def env(self, prefix: str = "storefleet") -> dict[str, str]:
        """The same as STOREFLEET_BACKUP_S3_* environment variables."""
        values = self.settings(prefix).model_dump()
        values["backup_s3_secret_key"] = self._secret_key
        return {f"STOREFLEET_{name.upper()}": str(value) for name, value in values.items()}

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            str(versitygw_binary()),
            "--port", f"127.0.0.1:{self.port}",
            "--region", REGION,
            "--quiet",  # no access log on stdout
            "posix", str(self.data_dir),
        ]  # fmt: skip
        env = {"ROOT_ACCESS_KEY_ID": self.access_key, "ROOT_SECRET_ACCESS_KEY": self._secret_key}
        self._proc = start(argv, self.log, env=env)
        wait_for_port(self.port, timeout, proc=self._proc, log=self.log)
        self._ensure_bucket(timeout)

    def admin_client(self) -> Any:
        """A synchronous botocore S3 client as the server's root: for setting up buckets
        here and in tests, outside any event loop. Never a service's client."""
        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self._secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def _ensure_bucket(self, timeout: float) -> None:
        """Create the bucket unless a restart finds it there."""
        s3 = self.admin_client()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
                    s3.create_bucket(Bucket=self.bucket)
                return
            except (BotoCoreError, ClientError) as exc:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"no bucket after {timeout}s ({type(exc).__name__}): {tail(self.log)}"
                    ) from None
                time.sleep(0.1)
