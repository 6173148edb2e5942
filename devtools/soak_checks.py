"""The soak's invariants, each a function that looks at the real Postgres, NATS stream,
Kubernetes API or process table and returns its violations (empty: it holds), and the
table `devtools/soak.py` prints of them.

Called by `devtools/soak.py` once the load has stopped and the services have settled, and
by tests/e2e/test_soak.py, which plants a violation of each and sees it found. The
upgrades' invariant is devtools/soak_upgrades.py's.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from kubernetes_asyncio import client
from kubernetes_asyncio.config import new_client_from_config
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from devtools.launcher import ROOT, service_argv
from devtools.soak_load import Accepted
from shared.lifecycle import LIVE, TERMINAL
from shared.namespaces import PLATFORM_SELECTOR, store_id_of
from shared.subjects import ALL_STORE_SUBJECTS

# Backups that have ended, one way or the other.
BACKUP_ENDED = frozenset({"verified", "failed", "deleted"})
# Postgres connections one process of a service may hold: its pool (the settings'
# defaults: gateway db_pool_size, auditor, webhooks and mailrelay database_pool_size,
# the reaper's open_database default), plus its dedicated LISTEN connections (the
# gateway's outbox relay and stream checker, the reaper sweeper's leader lock).
CONNECTIONS = {
    "storefleet_gateway": 20 + 2,
    "storefleet_auditor": 4,
    "storefleet_reaper": 10 + 1,
    "storefleet_webhooks": 8,
    "storefleet_mailrelay": 4,
}
SHOWN = 5  # violations printed per invariant


@dataclass(frozen=True)
class StreamMessage:
    seq: int
    event_id: str


@dataclass(frozen=True)
class Verdict:
    name: str
    violations: list[str]

    @property
    def passed(self) -> bool:
        return not self.violations


async def accepted_requests_ended(pool: asyncpg.Pool, accepted: list[Accepted]) -> list[str]:
    """Every request the gateway accepted reached a terminal state: its store is ready,
    failed, suspended or deleted (deleted, for a delete), its backup verified, failed or
    deleted. A rollout and its upgrades are devtools/soak_upgrades.py's to check."""
    accepted = [a for a in accepted if a.kind != "rollout"]
    ids = sorted({a.store_id for a in accepted})
    rows = await pool.fetch("SELECT id::text, status FROM stores WHERE id = ANY($1::uuid[])", ids)
    statuses = {r["id"]: r["status"] for r in rows}
    backup_ids = [a.backup_id for a in accepted if a.backup_id]
    rows = await pool.fetch(
        "SELECT id::text, status FROM store_backups WHERE id = ANY($1::uuid[])", backup_ids
    )
    backups = {r["id"]: r["status"] for r in rows}
    found = []
    for a in accepted:
        status = statuses.get(a.store_id, "missing")
        if a.kind == "backup" and backups.get(a.backup_id, "missing") not in BACKUP_ENDED:
            found.append(f"backup {a.backup_id} of {a.store_id}: {backups.get(a.backup_id)}")
        elif a.kind == "delete" and status != "deleted":
            found.append(f"delete of {a.store_id}: store {status}")
        elif status not in TERMINAL:
            found.append(f"{a.kind} of {a.store_id}: store {status}")
    return found


def no_internal_errors(outcomes: Mapping[str, int]) -> list[str]:
    """A 500 is a defect of ours even mid-chaos: an outage the platform expects (Postgres
    restarting, a service killed) must answer 503 or nothing at all, which clients retry."""
    return [f"{outcome}: {n}" for outcome, n in sorted(outcomes.items()) if "error 500" in outcome]


async def namespaces_match_stores(pool: asyncpg.Pool, kube: client.ApiClient) -> list[str]:
    """No store namespace without a live store, no live store without its namespace."""
    listed = await client.CoreV1Api(kube).list_namespace(label_selector=PLATFORM_SELECTOR)
    namespaces = {ns.metadata.name: ns.metadata.labels or {} for ns in listed.items}
    rows = await pool.fetch("SELECT id::text, namespace, status FROM stores")
    live = {r["namespace"]: r for r in rows if r["status"] in LIVE}
    found = [
        f"namespace {name} (store {store_id_of(labels)}) has no live store"
        for name, labels in namespaces.items()
        if name not in live
    ]
    found += [
        f"store {r['id']} ({r['status']}) has no namespace {name}"
        for name, r in live.items()
        if name not in namespaces
    ]
    return found


async def stream_messages(js: JetStreamContext, stream: str) -> list[StreamMessage]:
    """Every message of `stream`, read with an ephemeral consumer (no acks)."""
    last = (await js.stream_info(stream)).state.last_seq
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=30.0
    )
    sub = await js.pull_subscribe(ALL_STORE_SUBJECTS, stream=stream, config=config)
    found: list[StreamMessage] = []
    try:
        while not found or found[-1].seq < last:
            try:
                msgs = await sub.fetch(500, timeout=2.0)
            except TimeoutError:
                break
            found += [
                StreamMessage(m.metadata.sequence.stream, str(json.loads(m.data)["id"]))
                for m in msgs
            ]
    finally:
        await sub.unsubscribe()
    return found


async def audit_log_matches_stream(pool: asyncpg.Pool, messages: list[StreamMessage]) -> list[str]:
    """The audit log holds exactly the stream's messages: the same ids at the same
    stream sequences, none missing and none extra."""
    rows = await pool.fetch("SELECT event_id::text, stream_seq FROM store_events")
    audited = {(r["event_id"], r["stream_seq"]) for r in rows}
    streamed = {(m.event_id, m.seq) for m in messages}
    found = [f"{len(rows)} audit rows, {len(messages)} stream messages"] if (
        len(rows) != len(messages)
    ) else []  # fmt: skip
    found += [f"not audited: event {i} (seq {s})" for i, s in sorted(streamed - audited)]
    found += [f"not in the stream: event {i} (seq {s})" for i, s in sorted(audited - streamed)]
    return found


async def no_duplicate_events(pool: asyncpg.Pool, messages: list[StreamMessage]) -> list[str]:
    """No event was stored twice: each event id once in the stream (the outbox relay's
    re-publishes de-duplicated by Nats-Msg-Id) and once in the audit log, and each
    stream sequence once in the audit log."""
    found = [
        f"event {event_id} {n} times in the stream"
        for event_id, n in Counter(m.event_id for m in messages).items()
        if n > 1
    ]
    rows = await pool.fetch(
        "SELECT 'event ' || event_id::text AS what, count(*) AS n FROM store_events"
        " GROUP BY event_id HAVING count(*) > 1"
        " UNION ALL SELECT 'stream seq ' || stream_seq, count(*) FROM store_events"
        " GROUP BY stream_seq HAVING count(*) > 1"
    )
    return found + [f"{r['what']} {r['n']} times in the audit log" for r in rows]


async def projection_equals_rebuild(
    owner_dsn: str, auditor_env: Mapping[str, str], tables: Iterable[str] = ("store_states",)
) -> list[str]:
    """`python -m services.auditor rebuild` into an empty database gives the live
    projection's rows, column for column."""
    name = f"soak_rebuild_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(owner_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        rebuilt_dsn = urlunsplit(urlsplit(owner_dsn)._replace(path=f"/{name}"))
        out = await _rebuild(rebuilt_dsn, auditor_env)
        if out is not None:
            return [f"the rebuild failed: {out}"]
        found = []
        for table in tables:
            live, rebuilt = await _rows(owner_dsn, table), await _rows(rebuilt_dsn, table)
            found += _differences(table, live, rebuilt)
        return found
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _rebuild(dsn: str, auditor_env: Mapping[str, str]) -> str | None:
    """Run the rebuild; None when it succeeded, else the tail of its output."""
    proc = await asyncio.create_subprocess_exec(
        *service_argv("auditor", "rebuild"),
        cwd=ROOT,
        env={**os.environ, **auditor_env, "STOREFLEET_DATABASE_URL": dsn},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    return None if proc.returncode == 0 else out.decode(errors="replace")[-2000:]


async def _rows(dsn: str, table: str) -> dict[str, dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        return {str(r["id"]): dict(r) for r in await conn.fetch(f"SELECT * FROM {table}")}
    finally:
        await conn.close()


def _differences(
    table: str, live: dict[str, dict[str, Any]], rebuilt: dict[str, dict[str, Any]]
) -> list[str]:
    found = [f"{table} {key}: only live" for key in sorted(live.keys() - rebuilt.keys())]
    found += [f"{table} {key}: only rebuilt" for key in sorted(rebuilt.keys() - live.keys())]
    for key in sorted(live.keys() & rebuilt.keys()):
        differ = [c for c in live[key] if live[key][c] != rebuilt[key].get(c)]
        found += [
            f"{table} {key}.{c}: live {live[key][c]!r}, rebuilt {rebuilt[key].get(c)!r}"
            for c in differ
        ]
    return found


async def connections_within_pools(pool: asyncpg.Pool, processes: int = 1) -> list[str]:
    """Each service's Postgres connections (its login roles, by group) within its pools."""
    rows = await pool.fetch(
        "SELECT g.rolname AS service, count(*) AS n FROM pg_stat_activity a"
        " JOIN pg_roles r ON r.rolname = a.usename"
        " JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles g ON g.oid = m.roleid"
        " WHERE g.rolname = ANY($1::text[]) GROUP BY g.rolname",
        list(CONNECTIONS),
    )
    return [
        f"{r['service']}: {r['n']} connections, at most {CONNECTIONS[r['service']] * processes}"
        for r in rows
        if r["n"] > CONNECTIONS[r["service"]] * processes
    ]


def leftover_processes(workspace: Path, pgids: Iterable[int]) -> list[str]:
    """Processes left after the harness stopped everything: any whose command line names
    the workspace (Postgres, NATS, the object storage, the control plane), and any in a
    process group the harness started (the services, and whatever they started)."""
    groups, me, found = set(pgids), os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, pgid = stat[0], int(stat[2])
        if state not in ("Z", "X") and (str(workspace) in argv or pgid in groups):
            found.append(f"pid {entry.name}: {argv.strip()[:120]}")
    return found


async def kube_client(kubeconfig: Path) -> client.ApiClient:
    return await new_client_from_config(config_file=str(kubeconfig))


def table(verdicts: list[Verdict]) -> str:
    """The invariants as a table, with the first few violations of each."""
    width = max(len(v.name) for v in verdicts)
    lines = [f"{'invariant':<{width}}  result", f"{'-' * width}  ------"]
    for v in verdicts:
        result = "pass" if v.passed else f"FAIL ({len(v.violations)})"
        lines.append(f"{v.name:<{width}}  {result}")
        lines += [f"{'':<{width}}    {line}" for line in v.violations[:SHOWN]]
    return "\n".join(lines)
