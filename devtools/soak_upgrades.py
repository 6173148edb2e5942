"""The soak's upgrades: the rollouts its administrator started (devtools/soak_load.py),
the upgrade each asked for and what became of it, read from the real Postgres; the
invariant over them (`upgrade_violations`) and the counts the summary prints.

Called by `devtools/soak.py` while the services settle and once they have, and by
tests/e2e/test_soak.py, which plants an upgrade that never ended and sees it found. An
upgrade's outcome is the event that ended it (`upgrade.completed|rolled_back|failed`,
keyed to its operation id, as the rollout driver reads it) and the store as `stores`
shows it now.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from devtools.soak_load import Accepted

# The events that end an upgrade, keyed to its operation id.
UPGRADE_ENDS = ("upgrade.completed", "upgrade.rolled_back", "upgrade.failed")


@dataclass(frozen=True)
class UpgradeAsked:
    """One upgrade a rollout asked for (its `upgrade.requested` event) and what became of
    it: the first event that ended it (empty: none) with its code and reason, and the
    store now."""

    rollout_id: str
    store_id: str
    operation_id: str
    version: str
    outcome: str
    code: str
    reason: str
    store_status: str  # "missing" when the store is not in `stores`
    store_version: str | None


@dataclass(frozen=True)
class Upgrades:
    """Accepted rollouts (id -> state, or "missing", and whether it ended) and the
    upgrades they asked for."""

    rollouts: dict[str, tuple[str, bool]]
    asked: list[UpgradeAsked]


async def read_upgrades(pool: asyncpg.Pool, accepted: list[Accepted]) -> Upgrades:
    """The accepted rollouts and every upgrade they asked for, from the rollouts' rows,
    the audit log's `upgrade.*` events and the `stores` view."""
    ids = [a.rollout_id for a in accepted if a.kind == "rollout"]
    rows = await pool.fetch(
        "SELECT id::text, state, ended_at IS NOT NULL AS ended FROM rollouts"
        " WHERE id = ANY($1::uuid[])",
        ids,
    )
    found = {r["id"]: (r["state"], r["ended"]) for r in rows}
    rows = await pool.fetch(
        "SELECT store_id, envelope->'data' AS data FROM store_events"
        " WHERE type = 'upgrade.requested' AND envelope->'data'->>'rollout_id' = ANY($1::text[])"
        " ORDER BY stream_seq",
        ids,
    )
    asked = [(r["store_id"], json.loads(r["data"])) for r in rows]
    ended = await _ends(pool, [data["operation_id"] for _, data in asked])
    rows = await pool.fetch(
        "SELECT id::text, status, engine_version FROM stores WHERE id = ANY($1::uuid[])",
        sorted({store_id for store_id, _ in asked}),
    )
    stores = {r["id"]: (r["status"], r["engine_version"]) for r in rows}
    return Upgrades(
        {rid: found.get(rid, ("missing", False)) for rid in ids},
        [_asked(store_id, data, ended, stores) for store_id, data in asked],
    )


async def _ends(pool: asyncpg.Pool, operation_ids: list[str]) -> dict[str, tuple[str, Any]]:
    """The first event that ended each of the upgrades (its type and data), by operation id."""
    rows = await pool.fetch(
        "SELECT type, envelope->'data' AS data FROM store_events"
        " WHERE type = ANY($1::text[]) AND envelope->'data'->>'operation_id' = ANY($2::text[])"
        " ORDER BY stream_seq",
        list(UPGRADE_ENDS),
        operation_ids,
    )
    ended: dict[str, tuple[str, Any]] = {}
    for r in rows:
        data = json.loads(r["data"])
        ended.setdefault(data["operation_id"], (r["type"], data))
    return ended


def _asked(
    store_id: str,
    data: dict[str, Any],
    ended: Mapping[str, tuple[str, Any]],
    stores: Mapping[str, tuple[str, str | None]],
) -> UpgradeAsked:
    outcome, end = ended.get(data["operation_id"], ("", {}))
    status, version = stores.get(store_id, ("missing", None))
    return UpgradeAsked(
        data["rollout_id"], store_id, data["operation_id"], data["version"], outcome,
        end.get("code", ""), end.get("reason", ""), status, version,
    )  # fmt: skip


def upgrade_violations(upgrades: Upgrades) -> list[str]:
    """Every accepted rollout ended, and every upgrade it asked for reached a terminal
    state: completed with the store on the new version, rolled back or failed with a
    reason, or, with no outcome, the store deleted."""
    found = [
        f"rollout {rid}: {state}, not ended"
        for rid, (state, ended) in upgrades.rollouts.items()
        if not ended
    ]
    for u in upgrades.asked:
        what = f"upgrade {u.operation_id} of {u.store_id} to {u.version}"
        if u.outcome == "upgrade.completed":
            if u.store_status != "deleted" and u.store_version != u.version:
                found.append(f"{what}: completed, store on {u.store_version} ({u.store_status})")
        elif u.outcome:
            if not u.reason.strip():
                found.append(f"{what}: {u.outcome} without a reason")
        elif u.store_status != "deleted":
            found.append(f"{what}: no outcome, store {u.store_status}")
    return found


def upgrade_outcomes(upgrades: Upgrades) -> Counter[str]:
    """What became of the upgrades, for the summary: `completed`, `rolled_back <code>`,
    `failed <code>`, `store deleted` (no outcome) or `none`."""
    return Counter(
        f"{u.outcome.removeprefix('upgrade.')} {u.code}".strip()
        if u.outcome
        else ("store deleted" if u.store_status == "deleted" else "none")
        for u in upgrades.asked
    )
