"""What the rollout routes answer: a rollout, its waves' progress and its stores, as
typed shapes (`openapi` builds their schemas from these types) and pure functions from
rows to them.

Pure: no I/O imports. Called by `services.gateway.routes_rollouts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypedDict

from services.gateway.views import Row, Timestamp, Uuid

RolloutState = Literal["running", "paused", "completed", "stopped", "aborted"]
StoreState = Literal["pending", "requested", "completed", "rolled_back", "failed", "skipped"]
STORE_STATES: tuple[StoreState, ...] = (
    "pending",
    "requested",
    "completed",
    "rolled_back",
    "failed",
    "skipped",
)


class Rollout(TypedDict):
    id: Uuid
    engine: str
    target_version: str
    waves: Annotated[list[str], Field(description='normalised cumulative sizes: "1", "5%"')]
    max_concurrent: int
    failure_threshold: Annotated[
        float, Field(description="share of a wave's upgrades that may fail (0 to 1)")
    ]
    pause_seconds: int
    state: RolloutState
    current_wave: Annotated[int, Field(description="0-based")]
    next_wave_at: Annotated[Timestamp | None, Field(description="end of the pause, if pausing")]
    planned_at: Annotated[Timestamp | None, Field(description="when its stores were picked")]
    ended_at: Annotated[Timestamp | None, Field(description="when nothing more can happen")]
    created_by: Uuid
    created_at: Timestamp
    updated_at: Timestamp
    reason: Annotated[str, Field(description="why it stopped")]


class RolloutList(TypedDict):
    items: Annotated[list[Rollout], Field(description="newest first")]


class WaveProgress(TypedDict):
    wave: Annotated[int, Field(description="0-based")]
    size: str
    stores: int
    counts: Annotated[dict[str, int], Field(description="stores by state")]


class RolloutStore(TypedDict):
    store_id: Uuid
    wave: Annotated[int | None, Field(description="null: skipped when picked")]
    state: StoreState
    operation_id: Uuid
    from_version: str | None
    updated_at: Timestamp


class RolloutDetail(Rollout):
    progress: list[WaveProgress]
    skipped: Annotated[int, Field(description="stores of the engine not picked")]
    stores: list[RolloutStore]


def rollout_view(row: Row) -> Rollout:
    view = {key: row[key] for key in Rollout.__annotations__}
    view["waves"] = list(row["waves"])
    return view  # type: ignore[return-value]


def detail_view(row: Row, members: Sequence[Row]) -> RolloutDetail:
    picked = [m for m in members if m["wave"] is not None]
    progress: list[WaveProgress] = []
    for wave, size in enumerate(row["waves"]):
        in_wave = [m for m in picked if m["wave"] == wave]
        counts: dict[str, int] = {
            s: sum(1 for m in in_wave if m["state"] == s) for s in STORE_STATES
        }
        progress.append({"wave": wave, "size": size, "stores": len(in_wave), "counts": counts})
    stores = [_store(m) for m in members]
    return {
        **rollout_view(row),
        "progress": progress,
        "skipped": len(members) - len(picked),
        "stores": stores,
    }


def _store(row: Row) -> RolloutStore:
    return {key: row[key] for key in RolloutStore.__annotations__}  # type: ignore[return-value]
