"""Open event streams and the credentials they were opened with.

`sse.stream` registers each stream with `OpenStreams.open`, which takes one of the user's
`sse_streams_per_user` places in Postgres (`stream_places`, shared by every replica) or
refuses with 429 `too_many_streams`. A place is a lease of `LEASE_RECHECKS` re-checks: the
stream renews it while it runs and frees it when it ends, and a dead replica's places run
out by themselves. While it runs, the stream asks `OpenStream.credential_holds` before
every read: every `sse_recheck_seconds` it looks the token or session up again in
Postgres, so a revoked token, an ended session or a disabled user ends the stream.

`CredentialListener` makes that prompt: it LISTENs on `storefleet_credentials`, which
migration 0005 notifies with a user's id whenever one of that user's credentials stops
holding, and marks that user's streams on this replica for a re-check at their next read
(within `sse.WAKE_SECONDS`). It also forgets the user's entries in this replica's
`CallerCache`. `app.build_app` runs it in the app's cleanup context.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import structlog
from aiohttp import web

from services.gateway import accounts
from services.gateway import stream_places as sql
from services.gateway.accounts import Caller
from services.gateway.auth import CallerCache
from services.gateway.errors import ApiError
from shared.backoff import Backoff

log = structlog.get_logger(__name__)

CHANNEL = "storefleet_credentials"
LEASE_RECHECKS = 3  # a place outlives its stream's replica by at most three re-checks
PING_SECONDS = 10.0  # how often the listener proves its connection still answers
RETRY = Backoff(base=0.5, cap=10.0)
DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


async def current_caller(pool: asyncpg.Pool, who: Caller) -> Caller | None:
    """Who `who`'s credential names now; None once it is revoked, ended or disabled."""
    lookup = accounts.caller_by_token if who.via == "token" else accounts.caller_by_session
    return await lookup(pool, who.credential)


@dataclass(eq=False)
class OpenStream:
    """One open stream: its caller, its place, and when its credential was last checked."""

    who: Caller
    recheck_seconds: float
    place: uuid.UUID = field(default_factory=uuid.uuid4)
    prompted: asyncio.Event = field(default_factory=asyncio.Event)
    checked_at: float = field(default_factory=time.monotonic)

    @property
    def lease_seconds(self) -> float:
        return self.recheck_seconds * LEASE_RECHECKS

    async def credential_holds(self, pool: asyncpg.Pool) -> bool:
        """False once the credential no longer names an enabled user. Asks Postgres when
        the re-check is due or prompted; a failed lookup counts as no longer holding."""
        due = time.monotonic() - self.checked_at >= self.recheck_seconds
        if not (due or self.prompted.is_set()):
            return True
        self.prompted.clear()
        self.checked_at = time.monotonic()
        try:
            found = await current_caller(pool, self.who)
            if found is not None:
                await sql.renew_place(pool, found.id, self.place, self.lease_seconds)
        except DB_ERRORS as exc:
            log.warning(
                "cannot re-check a stream's credential; ending it", error=type(exc).__name__
            )
            return False
        if found is None:
            return False
        self.who = found
        return True


class OpenStreams:
    """The streams open on this replica, by user id; their places are in Postgres."""

    def __init__(self, per_user: int, recheck_seconds: float) -> None:
        self._per_user = per_user
        self._recheck_seconds = recheck_seconds
        self._by_user: dict[str, set[OpenStream]] = {}

    @contextlib.asynccontextmanager
    async def open(self, pool: asyncpg.Pool, who: Caller) -> AsyncIterator[OpenStream]:
        """Hold one of `who`'s stream places while the block runs; 429 when none is free."""
        opened = OpenStream(who, self._recheck_seconds)
        if not await sql.take_place(
            pool, who.id, opened.place, self._per_user, opened.lease_seconds
        ):
            raise ApiError(
                429,
                "too_many_streams",
                f"at most {self._per_user} event streams may be open per user; close one first",
                headers={"Retry-After": "10"},
            )
        held = self._by_user.setdefault(who.id, set())
        held.add(opened)
        try:
            yield opened
        finally:
            held.discard(opened)
            if not held:
                del self._by_user[who.id]
            try:
                await sql.free_place(pool, opened.place)
            except DB_ERRORS:
                log.warning("cannot free a stream's place; its lease runs out by itself")

    def prompt(self, user_id: str) -> None:
        """Re-check the credentials of `user_id`'s streams at their next read."""
        for opened in self._by_user.get(user_id, ()):
            opened.prompted.set()

    def prompt_all(self) -> None:
        for user_id in list(self._by_user):
            self.prompt(user_id)


STREAMS_KEY = web.AppKey("streams", OpenStreams)


class CredentialListener:
    """Keeps one LISTEN connection on `CHANNEL`, reconnecting with a backoff."""

    def __init__(self, dsn: str, streams: OpenStreams, callers: CallerCache) -> None:
        self._dsn = dsn
        self._streams = streams
        self._callers = callers

    async def run(self) -> None:
        """Listen until cancelled."""
        failures = 0
        while True:
            try:
                conn = await asyncpg.connect(self._dsn, timeout=5)
            except DB_ERRORS as exc:
                failures += 1
                log.warning("cannot LISTEN for revoked credentials", error=type(exc).__name__)
                await asyncio.sleep(RETRY.delay(failures))
                continue
            failures = 0
            try:
                await self._listen(conn)
            except DB_ERRORS as exc:
                log.warning("credential LISTEN connection lost", error=type(exc).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)

    async def _listen(self, conn: asyncpg.Connection) -> None:
        await conn.add_listener(CHANNEL, self._notified)
        # Whatever was revoked while nobody listened is caught by re-checking everyone.
        self._streams.prompt_all()
        while not conn.is_closed():
            await asyncio.sleep(PING_SECONDS)
            await conn.fetchval("SELECT 1", timeout=5)

    def _notified(self, _conn: object, _pid: int, _channel: str, user_id: str) -> None:
        self._callers.forget_user(user_id)
        self._streams.prompt(user_id)
