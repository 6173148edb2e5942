"""Writes what other languages read of the Python contracts (run by `just schemas`):
the JSON Schemas of the event contract into schemas/events/, the store lifecycle
(`shared.lifecycle`) into the dashboard's web/src/live/lifecycle.gen.ts, and each service's
NATS permissions (`shared.nats_access`) into the platform chart's files/.
tests/test_events.py, tests/test_lifecycle.py and tests/chart/test_nats_auth.py fail when
the files are stale."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared import lifecycle, nats_access  # noqa: E402
from shared.events import json_schemas  # noqa: E402

SCHEMA_DIR = ROOT / "schemas" / "events"
LIFECYCLE_TS = ROOT / "web" / "src" / "live" / "lifecycle.gen.ts"
NATS_PERMISSIONS = ROOT / "charts" / "storefleet" / "files" / "nats-permissions.json"


def rendered() -> dict[str, str]:
    return {
        f"{name}.json": json.dumps(s, indent=2, sort_keys=True) + "\n"
        for name, s in json_schemas().items()
    }


def lifecycle_ts() -> str:
    """The statuses, ranks and event moves of `shared.lifecycle` as TypeScript."""
    statuses = ", ".join(json.dumps(s) for s in lifecycle.STATUSES)
    event_types = "".join(f"  {json.dumps(t)},\n" for t in lifecycle.EVENT_TYPES)
    rank = "".join(f"  {s}: {lifecycle.RANK[s]},\n" for s in lifecycle.STATUSES)
    moves = "".join(f"  {t}: {json.dumps(s.value)},\n" for t, s in lifecycle.EVENT_STATUS.items())
    backward = ", ".join(
        f"[{json.dumps(a.value)}, {json.dumps(b.value)}]"
        for a, b in sorted(lifecycle.BACKWARD_MOVES)
    )
    operations = "".join(
        f"  {op}: {_moves_name(moves)},\n" for op, moves in lifecycle.OPERATION_MOVES.items()
    )
    return (
        "// Generated from shared/lifecycle.py by `just schemas`; do not edit.\n\n"
        f"export const STATUSES = [{statuses}] as const;\n"
        "export type Status = (typeof STATUSES)[number];\n"
        "export type Moves = ReadonlyArray<readonly [string, Status, Status]>;\n\n"
        "// How far along each status is; a store only moves to a higher rank (or retries).\n"
        f"export const RANK: Record<Status, number> = {{\n{rank}}};\n\n"
        "// Every event type; the stream's SSE `event:` names.\n"
        f"export const EVENT_TYPES = [\n{event_types}] as const;\n\n"
        "// Moves allowed against the rank.\n"
        f"export const BACKWARD_MOVES: ReadonlyArray<readonly [Status, Status]> = [{backward}];\n\n"
        "// The status an event moves a store to; other events move nothing.\n"
        f"export const EVENT_STATUS: Record<string, Status> = {{\n{moves}}};\n\n"
        "// Moves only a restore makes, whatever the rank: [event type, from, to].\n"
        f"export const RESTORE_MOVES: Moves = {_moves_ts(lifecycle.RESTORE_MOVES)};\n\n"
        "// Moves only a suspension or a resumption makes, in the same way.\n"
        f"export const SUSPEND_MOVES: Moves = {_moves_ts(lifecycle.SUSPEND_MOVES)};\n\n"
        "// Moves only an engine upgrade makes.\n"
        f"export const UPGRADE_MOVES: Moves = {_moves_ts(lifecycle.UPGRADE_MOVES)};\n\n"
        "// The operations whose moves are keyed to the operation's id (`restore_id`, or\n"
        "// `operation_id` for a suspension, a resumption or an upgrade), by an event type's\n"
        "// first token.\n"
        f"export const OPERATION_MOVES: Record<string, Moves> = {{\n{operations}}};\n"
    )


def _moves_ts(moves: dict[tuple[str, lifecycle.Status], lifecycle.Status]) -> str:
    rows = "".join(
        f"  [{json.dumps(t)}, {json.dumps(a.value)}, {json.dumps(b.value)}],\n"
        for (t, a), b in moves.items()
    )
    return f"[\n{rows}]"


def _moves_name(moves: dict[tuple[str, lifecycle.Status], lifecycle.Status]) -> str:
    """The exported constant an entry of `OPERATION_MOVES` is, so TS shares it too."""
    for name in ("RESTORE_MOVES", "SUSPEND_MOVES", "UPGRADE_MOVES"):
        if getattr(lifecycle, name) is moves:
            return name
    raise ValueError("OPERATION_MOVES names moves that lifecycle_ts does not export")


def nats_permissions() -> str:
    return json.dumps(nats_access.all_permissions(), indent=2) + "\n"


def main() -> None:
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in rendered().items():
        (SCHEMA_DIR / name).write_text(text)
    LIFECYCLE_TS.write_text(lifecycle_ts())
    NATS_PERMISSIONS.parent.mkdir(exist_ok=True)
    NATS_PERMISSIONS.write_text(nats_permissions())
    print(f"wrote {len(rendered())} schemas to {SCHEMA_DIR.relative_to(ROOT)}")
    print(f"wrote {LIFECYCLE_TS.relative_to(ROOT)}")
    print(f"wrote {NATS_PERMISSIONS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
