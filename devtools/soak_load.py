"""The soak's traffic: several users, each signed in with an API token of their own,
calling the gateway's REST API as a client would, in a steady random mix of creates,
deletes, retries of failed stores, suspends and resumes, and on-demand backups; and an
administrator who keeps a few stores of its own through the soak and rolls an engine's
next version out to every ready store on the old one, one fleet rollout after another
(engine upgrades are the administrators' rollouts: a user has no upgrade of its own to
ask for).

Used by `devtools/soak.py`. Each user acts on its own stores, as the API shows them, and
the administrator starts a rollout only when none is under way, so every request is one
the platform could accept; what it answers is counted by outcome (`accepted`, `refused`
with its error code, `error` for a 5xx, `unavailable` when the gateway could not be
reached, as while it is being killed). Every accepted request is kept as an `Accepted`,
which the soak's invariants check reached a terminal state: for a rollout, the rollout
and each upgrade it asked for.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from devtools.engine_charts import Upgrade
from devtools.launcher import ROOT, service_argv

# How often each kind is picked, where the user has a store it applies to.
MIX = {"create": 6, "delete": 3, "retry": 2, "suspend": 2, "resume": 2, "backup": 2}
# Deletes mostly take stores that have settled, so that some live long enough to be
# suspended or backed up; the rest catch a store mid-provisioning, a case of its own.
SETTLED = frozenset({"ready", "failed", "suspended"})
DELETE_SETTLED = 0.8
STORES_PER_USER = 6  # live stores a user keeps at most, so the cluster is not swamped
PAUSE = (0.5, 2.5)  # seconds between one user's calls
# The administrator's rollouts: the first once stores are ready, each next one soon after
# the last has ended. A rollout picks the stores ready on the old version at its start:
# the users' stores seldom live long (their deletes and creates churn), so the
# administrator's own stores, never deleted, give every rollout some. A threshold of 1
# lets a rollout ask for every store it picked, whatever became of its canary: the
# upgrades are the load, not the rollout's verdict.
ADMIN_STORES = 3
FIRST_ROLLOUT = 30.0  # seconds into the load
ROLLOUT_LOOKS = 5.0  # seconds between looks at the last rollout
ROLLOUT = {"waves": [1, "100%"], "max_concurrent": 25, "failure_threshold": 1.0,
           "pause_seconds": 0}  # fmt: skip


@dataclass(frozen=True)
class Accepted:
    """A request the gateway accepted (202, 201 for a rollout): its kind, its store (none
    for a rollout), and for a backup the backup's id, for a rollout the rollout's."""

    kind: str
    user: str
    store_id: str
    backup_id: str = ""
    rollout_id: str = ""


@dataclass
class Tally:
    """What the users asked and what they got, over the whole soak."""

    outcomes: Counter[str] = field(default_factory=Counter)  # "create accepted", ...
    accepted: list[Accepted] = field(default_factory=list)

    def count(self, kind: str, outcome: str) -> None:
        self.outcomes[f"{kind} {outcome}"] += 1


def add_user(env: Mapping[str, str], name: str, admin: bool = False) -> str:
    """Add a user (an administrator when `admin`) with the operators' CLI; its generated
    password."""
    flags = ["--admin"] if admin else []
    done = subprocess.run(
        service_argv("gateway", "users", "add", name, "--max-stores", "100", *flags),
        env=dict(env), cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


class User:
    """One signed-in user of the gateway and the stores it knows of."""

    def __init__(self, name: str, gateway_url: str, tally: Tally, rng: random.Random) -> None:
        self.name = name
        self.url = gateway_url + "/api/v1"
        self.tally = tally
        self.rng = rng
        self.token = ""
        self.stores: dict[str, str] = {}  # id -> last status seen

    async def sign_in(self, password: str) -> None:
        """Sign in (a session cookie for 127.0.0.1, hence the unsafe jar) and take a token."""
        login = {"username": self.name, "password": password}
        headers = {"Origin": self.url.removesuffix("/api/v1")}
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(f"{self.url}/auth/login", json=login) as resp:
                resp.raise_for_status()
            body = {"name": "soak"}
            async with http.post(f"{self.url}/tokens", json=body, headers=headers) as resp:
                resp.raise_for_status()
                self.token = str((await resp.json())["token"])

    async def call(
        self, http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
    ) -> tuple[int, Any]:
        """(status, JSON body); status 0 when the gateway could not be reached."""
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            async with http.request(
                method, self.url + path, headers=headers, timeout=aiohttp.ClientTimeout(30),
                **kwargs,
            ) as resp:  # fmt: skip
                json = resp.content_type == "application/json"
                return resp.status, await resp.json() if json else None
        except (aiohttp.ClientError, TimeoutError):
            return 0, None

    async def refresh(self, http: aiohttp.ClientSession) -> None:
        status, body = await self.call(http, "GET", "/stores", params={"limit": "100"})
        if status == 200:
            self.stores = {s["id"]: s["status"] for s in body["items"]}

    def choose(self) -> tuple[str, str]:
        """The next request: its kind and the store it is for (empty for a create)."""
        live = [sid for sid, status in self.stores.items() if status != "deleted"]
        # A delete of a store being deleted is accepted again and changes nothing.
        deletable = [sid for sid in live if self.stores[sid] != "deleting"]
        settled = [sid for sid in deletable if self.stores[sid] in SETTLED]
        if settled and self.rng.random() < DELETE_SETTLED:
            deletable = settled
        by_status = {
            "delete": deletable,
            "retry": self._with("failed"),
            "suspend": self._with("ready"),
            "resume": self._with("suspended"),
            "backup": self._with("ready"),
        }
        kinds = [
            k for k in MIX if (k == "create" and len(live) < STORES_PER_USER) or by_status.get(k)
        ]
        kind = self.rng.choices(kinds, [MIX[k] for k in kinds])[0] if kinds else "create"
        return kind, self.rng.choice(by_status[kind]) if kind != "create" else ""

    def _with(self, status: str) -> list[str]:
        return [sid for sid, seen in self.stores.items() if seen == status]

    async def create(self, http: aiohttp.ClientSession) -> None:
        name = f"Soak {self.name} {uuid.uuid4().hex[:6]}"
        status, body = await self.call(http, "POST", "/stores", json={"name": name})
        self._record("create", body.get("id", "") if status == 202 else "", status, body)

    async def act(self, http: aiohttp.ClientSession) -> None:
        kind, store_id = self.choose()
        if kind == "create":
            await self.create(http)
            return
        if kind == "delete":
            status, body = await self.call(http, "DELETE", f"/stores/{store_id}")
        else:
            route = "backups" if kind == "backup" else kind
            status, body = await self.call(http, "POST", f"/stores/{store_id}/{route}")
        self._record(kind, store_id, status, body)

    def _record(self, kind: str, store_id: str, status: int, body: Any) -> None:
        if status != 202:
            self.tally.count(kind, not_accepted(status, body))
            return
        self.tally.count(kind, "accepted")
        backup_id = str(body.get("id", "")) if kind == "backup" else ""
        self.tally.accepted.append(Accepted(kind, self.name, store_id, backup_id))
        self.stores[store_id] = "deleting" if kind == "delete" else "busy"


def not_accepted(status: int, body: Any) -> str:
    """The outcome of a request the gateway did not accept."""
    if status == 0:
        return "unavailable"
    if status >= 500:
        return f"error {status}"
    code = body.get("error", {}).get("code", status) if isinstance(body, dict) else status
    return f"refused {code}"


class Administrator:
    """An administrator with stores of its own, rolling `upgrade` out to every ready store
    on its old version through the gateway's admin API, one rollout at a time."""

    def __init__(self, user: User, upgrade: Upgrade) -> None:
        self.user = user
        self.upgrade = upgrade
        self.last = ""  # the last rollout it started

    async def run(self, http: aiohttp.ClientSession, until: float) -> None:
        for _ in range(ADMIN_STORES):
            await self.user.create(http)
        await asyncio.sleep(min(FIRST_ROLLOUT, max(until - time.monotonic(), 0)))
        while time.monotonic() < until:
            if not await self._under_way(http):
                await self.start_rollout(http)
            await asyncio.sleep(min(ROLLOUT_LOOKS, max(until - time.monotonic(), 0)))

    async def _under_way(self, http: aiohttp.ClientSession) -> bool:
        """Whether the last rollout may still be running (as far as the gateway says)."""
        if not self.last:
            return False
        status, body = await self.user.call(http, "GET", f"/admin/rollouts/{self.last}")
        return status != 200 or body["state"] in ("running", "paused")

    async def start_rollout(self, http: aiohttp.ClientSession) -> None:
        asked = {"engine": self.upgrade.engine, "version": self.upgrade.new, **ROLLOUT}
        status, body = await self.user.call(http, "POST", "/admin/rollouts", json=asked)
        tally = self.user.tally
        if status != 201:
            tally.count("rollout", not_accepted(status, body))
            return
        self.last = str(body["id"])
        tally.count("rollout", "accepted")
        tally.accepted.append(Accepted("rollout", self.user.name, "", rollout_id=self.last))


async def run_users(
    users: list[tuple[User, str]], admin: tuple[Administrator, str], until: float
) -> None:
    """Every user and the administrator sign in, then act until the monotonic time
    `until`."""
    for user, password in [*users, (admin[0].user, admin[1])]:
        await user.sign_in(password)
    async with aiohttp.ClientSession() as http:
        acting = [_keep_acting(user, http, until) for user, _ in users]
        await asyncio.gather(*acting, admin[0].run(http, until))


async def _keep_acting(user: User, http: aiohttp.ClientSession, until: float) -> None:
    while time.monotonic() < until:
        await user.refresh(http)
        await user.act(http)
        await asyncio.sleep(user.rng.uniform(*PAUSE))
