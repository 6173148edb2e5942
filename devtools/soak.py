"""`just soak MINUTES` (`python -m devtools.soak --minutes N`): the whole platform on
simulated (kwok) nodes under a steady mix of users' requests while processes die, then a
check of what must hold whatever happened.

It starts a `Platform` (devtools/platform_start.py: Postgres, NATS, the object storage,
the control plane with kwok nodes, the services) in a fresh workspace, `.run/soak`, whose
services read a copy of the engine charts in which woocommerce offers a next version
(devtools/engine_charts.py), and adds a few users and an administrator with the
operators' CLI. For MINUTES the users call the gateway's REST API and the administrator
rolls the next version out to their stores, one fleet rollout at a time
(devtools/soak_load.py), while the chaos driver (devtools/soak_chaos.py) SIGKILLs a
random service every 30 s and starts it again, restarts NATS and Postgres once each and
freezes the API server for 20 s. Then the load stops, the services settle (every
accepted request and upgrade ended, the audit log caught up, namespaces agree with
stores, or `--settle` seconds passed with no progress), the invariants are checked
(devtools/soak_checks.py, devtools/soak_upgrades.py), everything is stopped and no
process may be left. It prints what the users asked and got, what became of the
upgrades, what the driver did and the invariants, and exits 1 on any violation (2 when
the platform could not start).
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import random
import shutil
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import asyncpg
import nats

from devtools import procs
from devtools.cluster import stop_recorded
from devtools.engine_charts import Upgrade, with_next_version
from devtools.platform_start import Platform
from devtools.soak_chaos import Chaos, ChaosLog
from devtools.soak_checks import (
    Verdict,
    accepted_requests_ended,
    audit_log_matches_stream,
    connections_within_pools,
    kube_client,
    leftover_processes,
    namespaces_match_stores,
    no_duplicate_events,
    no_internal_errors,
    projection_equals_rebuild,
    stream_messages,
    table,
)
from devtools.soak_load import Administrator, Tally, User, add_user, run_users
from devtools.soak_upgrades import Upgrades, read_upgrades, upgrade_outcomes, upgrade_violations
from devtools.workspace import RUN, say
from shared.subjects import STREAM

# Existing servers the platform would otherwise use: the soak restarts its own.
EXTERNAL = ("STOREFLEET_DATABASE_URL", "STOREFLEET_NATS_URL", "KUBECONFIG",
            "STOREFLEET_BACKUP_S3_ENDPOINT")  # fmt: skip
# Settling ends at the latest after this many times `--settle` seconds, progress or not.
SETTLE_CAP = 4
# Settings for every service (the platform passes STOREFLEET_* through; set by hand wins).
TUNING = {
    "STOREFLEET_RATE_LIMIT_REQUESTS": "100000/minute",
    "STOREFLEET_RATE_LIMIT_CREATES": "1000/minute",
    "STOREFLEET_SWEEP_INTERVAL_SECONDS": "5",  # orphans found within seconds of settling
    "STOREFLEET_KUBE_QPS": "200",
    "STOREFLEET_KUBE_BURST": "400",
    "STOREFLEET_ROLLOUT_PASS_SECONDS": "2",  # a rollout asks for its upgrades promptly
    "STOREFLEET_UPGRADE_WORKERS": "8",  # a rollout's upgrades at once, not two by two
}


@dataclass
class Result:
    tally: Tally
    chaos: ChaosLog
    verdicts: list[Verdict]
    settled_in: float
    upgrades: Upgrades


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=3.0, help="how long the load runs")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--kill-every", type=float, default=30.0, help="seconds between kills")
    parser.add_argument("--pause", type=float, default=20.0, help="API server frozen, seconds")
    parser.add_argument("--settle", type=float, default=300.0,
                        help="most seconds to settle without progress")  # fmt: skip
    parser.add_argument("--seed", type=int, default=None, help="of the users and the driver")
    parser.add_argument("--dir", type=Path, default=RUN / "soak", help="the workspace")
    return parser.parse_args(argv)


def hold_workspace(workspace: Path) -> TextIO | None:
    """The workspace's lock, held until this process ends; None when another soak holds
    it (its chaos driver would restart NATS and Postgres from this one's files)."""
    workspace.parent.mkdir(parents=True, exist_ok=True)
    lock = (workspace.parent / f".{workspace.name}.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


def fresh_workspace(workspace: Path) -> None:
    """An empty workspace; a control plane an earlier soak left running is stopped."""
    stop_recorded(workspace / "platform-cluster")
    shutil.rmtree(workspace, ignore_errors=True)
    workspace.mkdir(parents=True)
    workspace.chmod(0o755)  # Postgres runs as its own user, below it


def start(platform: Platform) -> Upgrade:
    """Start `platform` with every service reading engine charts that offer the upgrade
    returned, in its run directory."""
    charts = platform.run / "charts"
    upgrade = with_next_version(charts)
    platform.env["STOREFLEET_CHARTS_DIR"] = str(charts)
    platform.start_backends()
    platform.migrate()
    platform.start_services(procs.free_port())
    platform.wait_ready()
    return upgrade


async def soak(
    platform: Platform, upgrade: Upgrade, args: argparse.Namespace, rng: random.Random
) -> Result:
    owner_env = {**os.environ, **platform.env}
    tally = Tally()
    gateway = platform.env["STOREFLEET_GATEWAY_URL"]
    users = []
    for n in range(args.users):
        name = f"soak-{n}"
        password = await asyncio.to_thread(add_user, owner_env, name)
        users.append((User(name, gateway, tally, random.Random(rng.random())), password))
    password = await asyncio.to_thread(add_user, owner_env, "soak-admin", True)
    admin = Administrator(User("soak-admin", gateway, tally, random.Random()), upgrade)
    chaos = Chaos(platform, rng, args.kill_every, args.pause)
    supervisor = asyncio.create_task(chaos.supervise())
    try:
        duration = args.minutes * 60
        say(f"soak: {args.users} users for {args.minutes:g} minutes, "
            f"a kill every {args.kill_every:g}s")  # fmt: skip
        until = time.monotonic() + duration
        await asyncio.gather(run_users(users, (admin, password), until), chaos.run(duration))
        say("soak: load stopped; waiting for the services to settle")
        started = time.monotonic()
        await asyncio.to_thread(platform.wait_ready)
        await settle(platform, tally, args.settle)
        settled_in = time.monotonic() - started
        say(f"soak: settled in {settled_in:.0f}s; checking the invariants")
        verdicts, upgrades = await check(platform, tally)
    finally:
        supervisor.cancel()
    return Result(tally, chaos.log, verdicts, settled_in, upgrades)


async def settle(platform: Platform, tally: Tally, within: float) -> None:
    """Until every accepted request and upgrade ended, the audit log has the whole stream
    and the namespaces agree with the stores; or until `within` seconds passed with no
    progress (the count of violations not falling), at most `SETTLE_CAP` times `within`.

    A backlog still draining (the reaper deleting a thousand namespaces) is waited for;
    a stuck one fails the checks after `within` seconds."""
    started = time.monotonic()
    best, progressed = float("inf"), started
    while True:
        verdicts, _ = await quick_checks(platform, tally)
        left = sum(len(v.violations) for v in verdicts)
        if left == 0:
            return
        now = time.monotonic()
        if left < best:
            best, progressed = left, now
        if now - progressed >= within or now - started >= SETTLE_CAP * within:
            say(f"soak: not settled after {now - started:.0f}s ({left} violations left)")
            return
        await asyncio.sleep(5)


async def quick_checks(platform: Platform, tally: Tally) -> tuple[list[Verdict], Upgrades]:
    assert platform.nats is not None
    pool = await asyncpg.create_pool(
        platform.env["STOREFLEET_DATABASE_URL"], min_size=1, max_size=2
    )
    nc = await nats.connect(platform.nats.url)
    kube = await kube_client(Path(platform.env["KUBECONFIG"]))
    try:
        messages = await stream_messages(nc.jetstream(), STREAM)
        ended = await accepted_requests_ended(pool, tally.accepted)
        audited = await audit_log_matches_stream(pool, messages)
        upgrades = await read_upgrades(pool, tally.accepted)
        verdicts = [
            Verdict("every accepted request ended", ended),
            Verdict("every rollout and its upgrades ended", upgrade_violations(upgrades)),
            Verdict("no internal errors (500)", no_internal_errors(tally.outcomes)),
            Verdict("namespaces match live stores", await namespaces_match_stores(pool, kube)),
            Verdict("audit rows equal stream messages", audited),
            Verdict("no duplicate events", await no_duplicate_events(pool, messages)),
            Verdict("connections within pools", await connections_within_pools(pool)),
        ]
        return verdicts, upgrades
    finally:
        await kube.close()
        await nc.close()
        await pool.close()


async def check(platform: Platform, tally: Tally) -> tuple[list[Verdict], Upgrades]:
    assert platform.nats is not None
    verdicts, upgrades = await quick_checks(platform, tally)
    rebuilt = await projection_equals_rebuild(
        platform.env["STOREFLEET_DATABASE_URL"], platform.nats.service_env("auditor")
    )
    return [*verdicts, Verdict("projection equals a rebuild from the stream", rebuilt)], upgrades


def summary(result: Result, minutes: float, took: float) -> str:
    accepted = Counter(a.kind for a in result.tally.accepted)
    chaos = result.chaos
    lines = [
        f"soak: {minutes:g} minutes of load, {took / 60:.1f} minutes in all "
        f"(settled in {result.settled_in:.0f}s)",
        f"requests: {sum(result.tally.outcomes.values())} made, "
        f"{len(result.tally.accepted)} accepted ("
        + ", ".join(f"{kind} {n}" for kind, n in sorted(accepted.items()))
        + ")",
        *(f"  {outcome}: {n}" for outcome, n in sorted(result.tally.outcomes.items())),
        upgrades_line(result.upgrades),
        f"chaos: {chaos.line()}",
        f"restarted: {', '.join(chaos.restarts) or 'nothing'}",
        "services that exited by themselves: "
        + (", ".join(f"{n} {k}" for n, k in sorted(chaos.exits.items())) or "none"),
        table(result.verdicts),
    ]
    failed = [v for v in result.verdicts if not v.passed]
    lines.append(f"invariants: {len(result.verdicts) - len(failed)} passed, {len(failed)} failed")
    return "\n".join(lines)


def upgrades_line(upgrades: Upgrades) -> str:
    """How many upgrades the rollouts asked for and what became of them."""
    states = Counter(state for state, _ in upgrades.rollouts.values())
    rollouts = ", ".join(f"{state} {n}" for state, n in sorted(states.items())) or "none"
    ended = ", ".join(f"{what} {n}" for what, n in sorted(upgrade_outcomes(upgrades).items()))
    return (
        f"upgrades: {len(upgrades.asked)} asked by {len(upgrades.rollouts)} rollouts"
        f" (rollouts {rollouts}); outcomes: {ended or 'none'}"
    )


def _interrupted(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: the platform is stopped before the soak exits."""
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = parse(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    for name in EXTERNAL:
        os.environ.pop(name, None)
    for name, value in TUNING.items():
        os.environ.setdefault(name, value)
    workspace = args.dir.resolve()
    lock = hold_workspace(workspace)
    if lock is None:
        say(f"soak: another soak is running in {workspace}; stop it first")
        return 2
    fresh_workspace(workspace)
    say(f"soak: workspace {workspace}, seed {seed}")
    platform = Platform(run=workspace, simulated="the soak runs on simulated nodes")
    began = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupted)
    # Started in the background a shell hands it SIGINT ignored: take Ctrl-C back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        upgrade = start(platform)
        result = asyncio.run(soak(platform, upgrade, args, rng))
    except RuntimeError as exc:
        say(f"soak: the platform could not start: {exc}")
        return 2
    except KeyboardInterrupt:
        say("soak: interrupted; no verdict")
        return 130
    finally:
        say("soak: stopping the platform")
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one waits for the stop
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        platform.stop()
    pgids = result.chaos.pgids | {child.pid for child in platform.children.values()}
    result.verdicts.append(Verdict("no processes left", leftover_processes(workspace, pgids)))
    print(summary(result, args.minutes, time.monotonic() - began), flush=True)
    return 0 if all(v.passed for v in result.verdicts) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
