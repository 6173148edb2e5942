"""The soak's chaos driver: while the users' traffic runs, it SIGKILLs a random service
process (its whole process group) every `kill_every` seconds and starts it again, as
Kubernetes would restart a crashed pod; once during the soak it restarts NATS, once
Postgres (a fast shutdown, then a start on the same data directory), and once it
freezes the API server with SIGSTOP for `pause_seconds` and lets it go on with SIGCONT.

Used by `devtools/soak.py`, which hands it its `Platform`. A service that exits on its
own is started again too, and counted apart (`exits`): the soak reports them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field

from devtools.platform_start import Platform
from devtools.workspace import say

# The platform's own processes the driver may kill: the mail sink stands in for the
# operator's upstream relay and is not one.
KILLABLE = ("gateway", "provisioner", "reaper", "auditor", "webhooks", "mailrelay")


@dataclass
class ChaosLog:
    """What the driver did, for the summary."""

    kills: Counter[str] = field(default_factory=Counter)  # service -> SIGKILLs
    exits: Counter[str] = field(default_factory=Counter)  # service -> exits of its own
    restarts: list[str] = field(default_factory=list)  # "nats", "postgres", "kube-apiserver"
    pgids: set[int] = field(default_factory=set)  # every process group started

    def line(self) -> str:
        kills = ", ".join(f"{name} {n}" for name, n in sorted(self.kills.items()))
        return f"{sum(self.kills.values())} SIGKILLs ({kills or 'none'})"


class Chaos:
    def __init__(
        self,
        platform: Platform,
        rng: random.Random,
        kill_every: float = 30.0,
        pause_seconds: float = 20.0,
    ) -> None:
        self.platform = platform
        self.rng = rng
        self.kill_every = kill_every
        self.pause_seconds = pause_seconds
        self.log = ChaosLog(pgids={child.pid for child in platform.children.values()})
        self._restarting: set[str] = set()

    async def run(self, duration: float) -> None:
        """Kills every `kill_every` seconds for `duration`; the one-off restarts at 30 %,
        50 % and 70 % of it."""
        started = time.monotonic()
        once = [
            (0.3 * duration, self.restart_nats),
            (0.5 * duration, self.restart_postgres),
            (0.7 * duration, self.pause_apiserver),
        ]
        next_kill = self.kill_every
        while (elapsed := time.monotonic() - started) < duration:
            if once and elapsed >= once[0][0]:
                await once.pop(0)[1]()
            elif elapsed >= next_kill:
                await self.kill(self.rng.choice(KILLABLE))
                next_kill += self.kill_every
            await asyncio.sleep(0.5)

    async def kill(self, name: str) -> None:
        child = self.platform.children[name]
        say(f"chaos: SIGKILL {name} (pid {child.pid})")
        self._restarting.add(name)  # not an exit of its own for `supervise`
        try:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            await asyncio.to_thread(child.wait)
            self.log.kills[name] += 1
            self._start(name)
        finally:
            self._restarting.discard(name)

    async def supervise(self) -> None:
        """Start again any service that exited on its own, until cancelled."""
        while True:
            for name in set(KILLABLE) - self._restarting:
                if self.platform.children[name].poll() is not None:
                    code = self.platform.children[name].returncode
                    say(f"{name} exited by itself ({code}); starting it again")
                    self.log.exits[name] += 1
                    self._start(name)
            await asyncio.sleep(1.0)

    def _start(self, name: str) -> None:
        self.log.pgids.add(self.platform.restart_service(name).pid)

    async def restart_nats(self) -> None:
        assert self.platform.nats is not None
        say("chaos: restarting NATS")
        await asyncio.to_thread(self.platform.nats.restart)
        self.log.restarts.append("nats")

    async def restart_postgres(self) -> None:
        assert self.platform.postgres is not None
        say("chaos: restarting Postgres (fast shutdown)")
        await asyncio.to_thread(self.platform.postgres.restart)
        self.log.restarts.append("postgres")

    async def pause_apiserver(self) -> None:
        assert self.platform.cluster is not None
        pid = self.platform.cluster.pid_of("kube-apiserver")
        say(f"chaos: SIGSTOP kube-apiserver for {self.pause_seconds:.0f}s")
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(self.pause_seconds)
        finally:
            os.kill(pid, signal.SIGCONT)
        self.log.restarts.append("kube-apiserver")
