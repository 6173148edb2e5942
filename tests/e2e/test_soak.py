"""The soak (`just soak`, devtools/soak.py) as CI runs it: three minutes of users' load
and an administrator's rollouts while services are SIGKILLed, NATS and Postgres restarted
and the API server frozen, then every invariant holds. And each invariant's check,
against a real platform of its own, finds a violation planted for it, so none can pass by
not looking.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import asyncpg
import nats
import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api, V1Namespace, V1ObjectMeta

from devtools import procs
from devtools.launcher import ROOT
from devtools.platform_start import Platform
from devtools.soak import hold_workspace, start
from devtools.soak_checks import (
    CONNECTIONS,
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
)
from devtools.soak_load import Accepted, Tally, User, add_user
from devtools.soak_upgrades import (
    UpgradeAsked,
    Upgrades,
    read_upgrades,
    upgrade_outcomes,
    upgrade_violations,
)
from shared.events import new_event
from shared.jetstream import publish_event
from shared.namespaces import store_labels
from shared.subjects import STREAM

pytestmark = pytest.mark.cluster


def test_a_three_minute_soak_with_kills_and_restarts_keeps_every_invariant() -> None:
    workspace = Path(tempfile.mkdtemp(prefix="storefleet-soak-"))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "devtools.soak", "--minutes", "3", "--dir", str(workspace)],
            cwd=ROOT, capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    out = done.stdout
    assert done.returncode == 0, out[-6000:] + done.stderr[-3000:]
    kills = re.search(r"^chaos: (\d+) SIGKILLs", out, re.M)
    assert kills and int(kills.group(1)) >= 4, out
    assert "restarted: nats, postgres, kube-apiserver" in out
    accepted = re.search(r"^requests: \d+ made, (\d+) accepted", out, re.M)
    assert accepted and int(accepted.group(1)) > 20, out
    upgrades = re.search(r"^upgrades: (\d+) asked by (\d+) rollouts", out, re.M)
    assert upgrades and int(upgrades.group(1)) >= 1 and int(upgrades.group(2)) >= 1, out
    assert re.search(r"^invariants: 9 passed, 0 failed", out, re.M), out


def test_a_soak_stopped_with_sigterm_stops_its_platform_first() -> None:
    workspace = Path(tempfile.mkdtemp(prefix="storefleet-soak-"))
    soak = subprocess.Popen(
        [sys.executable, "-m", "devtools.soak", "--minutes", "3", "--dir", str(workspace)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert soak.stdout is not None
        said = []
        for line in soak.stdout:
            said.append(line)
            if "users for 3 minutes" in line:
                break
        soak.send_signal(signal.SIGTERM)
        rest, _ = soak.communicate(timeout=180)
        out = "".join(said) + rest
        assert soak.returncode == 130, out[-4000:]
        assert "soak: stopping the platform" in out
        assert using(workspace) == [], out[-4000:]
    finally:
        if soak.poll() is None:
            soak.kill()
        shutil.rmtree(workspace, ignore_errors=True)


def test_a_second_soak_in_the_same_workspace_is_refused_before_it_starts_anything() -> None:
    parent = Path(tempfile.mkdtemp(prefix="storefleet-soak-"))
    workspace = parent / "soak"
    lock = hold_workspace(workspace)  # as a soak running there holds it
    assert lock is not None
    try:
        done = subprocess.run(
            [sys.executable, "-m", "devtools.soak", "--minutes", "3", "--dir", str(workspace)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        out = done.stdout + done.stderr
        assert done.returncode == 2, out
        assert "another soak is running" in out
        assert not workspace.exists()  # nothing removed, nothing started
    finally:
        lock.close()
        shutil.rmtree(parent, ignore_errors=True)


def using(workspace: Path) -> list[str]:
    """Processes whose command line or environment names the workspace."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            seen = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X") and str(workspace).encode() in seen:
            found.append(f"pid {entry.name}: {seen[:120]!r}")
    return found


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    """A platform of this module's own (on simulated nodes), as the soak starts it."""
    workspace = Path(tempfile.mkdtemp(prefix="storefleet-checks-"))
    workspace.chmod(0o755)  # Postgres runs as its own user, below it
    platform = Platform(run=workspace, simulated="tests of the soak's checks")
    try:
        start(platform)
        yield platform
    finally:
        platform.stop()
        shutil.rmtree(workspace, ignore_errors=True)


@pytest.fixture
async def owner(platform: Platform) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(
        platform.env["STOREFLEET_DATABASE_URL"], min_size=1, max_size=4
    )
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def kube(platform: Platform) -> AsyncIterator[ApiClient]:
    api = await kube_client(Path(platform.env["KUBECONFIG"]))
    try:
        yield api
    finally:
        await api.close()


@pytest.fixture
async def ready_store(platform: Platform, owner: asyncpg.Pool) -> Accepted:
    """A store created through the gateway by a new user, once it is ready."""
    name = f"checks-{uuid.uuid4().hex[:6]}"
    password = await asyncio.to_thread(add_user, platform.env, name)
    user = User(name, platform.env["STOREFLEET_GATEWAY_URL"], Tally(), random.Random())
    await user.sign_in(password)
    async with aiohttp.ClientSession() as http:
        status, store = await user.call(http, "POST", "/stores", json={"name": name})
    assert status == 202, store
    deadline = time.monotonic() + 120
    while await owner.fetchval("SELECT status FROM stores WHERE id = $1", store["id"]) != "ready":
        assert time.monotonic() < deadline, "the store never became ready"
        await asyncio.sleep(0.5)
    return Accepted("create", name, store["id"])


async def test_every_check_passes_on_a_quiet_platform(
    platform: Platform, owner: asyncpg.Pool, kube: ApiClient, ready_store: Accepted
) -> None:
    assert platform.nats is not None
    nc = await nats.connect(platform.nats.url)
    try:
        messages = await stream_messages(nc.jetstream(), STREAM)
    finally:
        await nc.close()
    assert await accepted_requests_ended(owner, [ready_store]) == []
    assert await namespaces_match_stores(owner, kube) == []
    assert await audit_log_matches_stream(owner, messages) == []
    assert await no_duplicate_events(owner, messages) == []
    assert await connections_within_pools(owner) == []


async def test_a_delete_accepted_for_a_store_still_ready_is_reported(
    owner: asyncpg.Pool, ready_store: Accepted
) -> None:
    delete = Accepted("delete", ready_store.user, ready_store.store_id)
    assert await accepted_requests_ended(owner, [delete]) == [
        f"delete of {ready_store.store_id}: store ready"
    ]


async def test_a_store_namespace_without_a_store_is_reported(
    owner: asyncpg.Pool, kube: ApiClient, ready_store: Accepted
) -> None:
    store_id, name = str(uuid.uuid4()), f"store-orphan-{uuid.uuid4().hex[:6]}"
    labels = store_labels(store_id, "woocommerce")
    core = CoreV1Api(kube)
    await core.create_namespace(V1Namespace(metadata=V1ObjectMeta(name=name, labels=labels)))
    try:
        found = await namespaces_match_stores(owner, kube)
    finally:
        await core.delete_namespace(name)
    assert found == [f"namespace {name} (store {store_id}) has no live store"]


async def test_an_audit_row_lost_and_an_event_published_twice_are_reported(
    platform: Platform, owner: asyncpg.Pool, ready_store: Accepted
) -> None:
    assert platform.nats is not None
    nc = await nats.connect(platform.nats.url)
    js = nc.jetstream()
    try:
        first = await js.get_msg(STREAM, 1)
        assert first.data is not None
        # The same event again under another Nats-Msg-Id: the stream cannot de-duplicate it.
        await js.publish(first.subject or "", first.data, headers={"Nats-Msg-Id": "again"})
        lost = await owner.fetchrow(
            "DELETE FROM store_events WHERE stream_seq = 2 RETURNING event_id::text"
        )
        messages = await stream_messages(js, STREAM)
    finally:
        await nc.close()
    event_id = json.loads(first.data)["id"]
    assert f"event {event_id} 2 times in the stream" in await no_duplicate_events(owner, messages)
    audited = await audit_log_matches_stream(owner, messages)
    assert f"not audited: event {lost['event_id']} (seq 2)" in audited


async def test_a_projection_row_that_the_stream_does_not_give_is_reported(
    platform: Platform, owner: asyncpg.Pool, ready_store: Accepted
) -> None:
    assert platform.nats is not None
    await owner.execute(
        "UPDATE store_states SET error = 'planted' WHERE id = $1", ready_store.store_id
    )
    found = await projection_equals_rebuild(
        platform.env["STOREFLEET_DATABASE_URL"], platform.nats.service_env("auditor")
    )
    assert found == [f"store_states {ready_store.store_id}.error: live 'planted', rebuilt None"]


async def test_connections_beyond_a_services_pool_are_reported(
    platform: Platform, owner: asyncpg.Pool
) -> None:
    bound = CONNECTIONS["storefleet_auditor"]
    held = [await asyncpg.connect(platform.database_urls["auditor"]) for _ in range(bound + 1)]
    try:
        found = await connections_within_pools(owner)
    finally:
        await asyncio.gather(*(conn.close() for conn in held))
    assert len(found) == 1 and found[0].startswith("storefleet_auditor: "), found


async def test_an_upgrade_a_rollout_asked_for_that_never_ended_is_reported(
    platform: Platform, owner: asyncpg.Pool, ready_store: Accepted
) -> None:
    # A rollout left paused, and an upgrade of it the provisioner drops without a word:
    # asked from a version the store is not on, as when the store moved since.
    rollout_id, operation_id = str(uuid.uuid4()), str(uuid.uuid4())
    await owner.execute(
        "INSERT INTO rollouts (id, engine, target_version, waves, max_concurrent,"
        " failure_threshold, pause_seconds, state, planned_at, created_by)"
        " VALUES ($1, 'woocommerce', '9.9.9', '{100%}', 1, 0, 0, 'paused', now(), $1)",
        uuid.UUID(rollout_id),
    )
    data = {"operation_id": operation_id, "version": "9.9.9", "previous_version": "0.0.1",
            "requested_by": "reaper", "rollout_id": rollout_id}  # fmt: skip
    event = new_event("upgrade.requested", ready_store.store_id, data, actor="reaper",
                      correlation_id=f"rollout-{rollout_id}")  # fmt: skip
    assert platform.nats is not None
    nc = await nats.connect(platform.nats.url)
    try:
        await publish_event(nc.jetstream(), event, stream=STREAM)
    finally:
        await nc.close()
    deadline = time.monotonic() + 30
    while not await owner.fetchval("SELECT 1 FROM store_events WHERE event_id = $1", event.id):
        assert time.monotonic() < deadline, "the auditor never recorded the request"
        await asyncio.sleep(0.5)

    rollout = Accepted("rollout", "admin", "", rollout_id=rollout_id)
    upgrades = await read_upgrades(owner, [rollout])

    assert upgrade_violations(upgrades) == [
        f"rollout {rollout_id}: paused, not ended",
        f"upgrade {operation_id} of {ready_store.store_id} to 9.9.9: no outcome, store ready",
    ]


def test_an_upgrade_ends_by_its_outcome_or_its_stores_deletion() -> None:
    def asked(n: int, outcome: str = "", reason: str = "", status: str = "ready",
              version: str | None = "1.0") -> UpgradeAsked:  # fmt: skip
        code = "" if outcome in ("", "upgrade.completed") else "gate_failed"
        return UpgradeAsked("r", f"store-{n}", f"op-{n}", "2.0", outcome, code, reason,
                            status, version)  # fmt: skip

    ended = Upgrades({"r": ("completed", True)}, [
        asked(1, "upgrade.completed", version="2.0"),
        asked(2, "upgrade.rolled_back", "upgrade to 2.0 undone: not ready"),
        asked(3, "upgrade.failed", "nothing was changed: no backup"),
        asked(4, status="deleted"),
        asked(5, "upgrade.completed", status="deleted", version=None),
    ])  # fmt: skip
    assert upgrade_violations(ended) == []
    assert upgrade_outcomes(ended) == Counter(
        {"completed": 2, "rolled_back gate_failed": 1, "failed gate_failed": 1,
         "store deleted": 1}
    )  # fmt: skip

    never = Upgrades({"r": ("running", False)}, [
        asked(1), asked(2, "upgrade.completed"), asked(3, "upgrade.failed", " "),
        asked(4, status="deleting"),
    ])  # fmt: skip
    assert upgrade_violations(never) == [
        "rollout r: running, not ended",
        "upgrade op-1 of store-1 to 2.0: no outcome, store ready",
        "upgrade op-2 of store-2 to 2.0: completed, store on 1.0 (ready)",
        "upgrade op-3 of store-3 to 2.0: upgrade.failed without a reason",
        "upgrade op-4 of store-4 to 2.0: no outcome, store deleting",
    ]


def test_a_process_left_in_a_started_group_is_reported(tmp_path: Path) -> None:
    left = procs.start(["sleep", "60"], tmp_path / "sleep.log")
    try:
        found = leftover_processes(tmp_path / "elsewhere", {left.pid})
    finally:
        procs.stop(left)
    assert found == [f"pid {left.pid}: sleep 60"]


def test_a_500_answered_to_a_user_is_reported_and_a_503_is_not() -> None:
    tally = Tally()
    tally.count("create", "accepted")
    tally.count("delete", "error 503")
    tally.count("create", "unavailable")
    assert no_internal_errors(tally.outcomes) == []
    tally.count("create", "error 500")
    tally.count("create", "error 500")
    assert no_internal_errors(tally.outcomes) == ["create error 500: 2"]
