"""The auditor's writes to `backups`: read the rows a batch's backup events touch (locked),
fold the events onto them (`services.auditor.backups`), write what changed.

Called by `services.auditor.store.store_batch` inside the batch's transaction, after the
store advisory locks are taken (a backup's events carry its store's id), so two auditor
replicas never fold one backup at once. Emits SQL only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from services.auditor.backups import COLUMNS, BackupRow, fold_backups, is_backup_event
from services.auditor.projection import AuditEvent

SELECT_COLUMNS = ", ".join(f"{c}::text AS {c}" if c in ("id", "store_id") else c for c in COLUMNS)
READ = f"SELECT {SELECT_COLUMNS} FROM backups WHERE id = ANY($1::uuid[]) FOR UPDATE"

_PLACEHOLDERS = ", ".join(
    f"${n}::jsonb" if c == "objects" else f"${n}" for n, c in enumerate(COLUMNS, start=1)
)
WRITE = f"""
INSERT INTO backups ({", ".join(COLUMNS)}) VALUES ({_PLACEHOLDERS})
ON CONFLICT (id) DO UPDATE SET {", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[1:])}
"""


async def advance(conn: asyncpg.Connection, events: Sequence[AuditEvent]) -> int:
    """Fold the backup events among `events` into `backups`; returns the rows written."""
    backup_events = [e for e in events if is_backup_event(e)]
    if not backup_events:
        return 0
    ids = sorted({e.field("backup_id") for e in backup_events})
    current = {r["id"]: _row(r) for r in await conn.fetch(READ, ids)}
    rows = fold_backups(current, backup_events)
    if rows:
        await conn.executemany(WRITE, [_values(r) for r in rows])
    return len(rows)


def _row(record: asyncpg.Record) -> BackupRow:
    values = dict(record)
    if values["objects"] is not None:
        values["objects"] = json.loads(values["objects"])
    return BackupRow(**values)


def _values(row: BackupRow) -> list[object]:
    values = [getattr(row, c) for c in COLUMNS]
    objects_at = COLUMNS.index("objects")
    if row.objects is not None:
        values[objects_at] = json.dumps(row.objects, sort_keys=True)
    return values
