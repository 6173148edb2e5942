"""The platform's first administrator for `just up`: created with the gateway's own CLI
(`python -m services.gateway users add NAME --admin`) when missing, its generated password
kept per database in `.run/admin.json` (mode 0600) so a restart reuses it, and a check
that the credentials `just up` prints really sign in.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass

from devtools.launcher import service_argv
from devtools.workspace import ROOT, RUN, say

ADMIN_FILE = RUN / "admin.json"


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
        service_argv("gateway", "users", "add", username, "--admin"),
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
