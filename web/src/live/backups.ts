// How backup events change a store's list of backups, as the auditor folds them into its
// table (services/auditor/backups.py): a backup's status only moves up
// requested -> running -> completed -> verified | failed -> deleted, so a late or repeated
// event never moves a badge back; a backup first seen in the feed joins the list; a
// deleted one leaves it (the list shows deleted backups only when asked). And the warning
// for a store whose backups are stale, as the gateway decides it. Pure, no I/O.

import type { Backup, BackupPage, BackupStatus, Envelope } from "../api/types";

const RANK: Record<BackupStatus, number> = {
  requested: 0,
  running: 1,
  completed: 2,
  verified: 3,
  failed: 3,
  deleted: 4,
};

const STATUS_OF: Record<string, BackupStatus> = {
  "backup.requested": "requested",
  "backup.started": "running",
  "backup.completed": "completed",
  "backup.failed": "failed",
  "backup.deleted": "deleted",
};

/** Where a backup is on its way, for a progress bar: step of `STEPS`, or null once ended. */
export const STEPS = 3;
export function progressOf(status: BackupStatus): { step: number; text: string } | null {
  if (status === "requested") return { step: 0, text: "waiting for a worker" };
  if (status === "running") return { step: 1, text: "copying the database and files" };
  if (status === "completed") return { step: 2, text: "verifying with a test restore" };
  return null;
}

export function isUnderWay(backup: Backup): boolean {
  return progressOf(backup.status) !== null;
}

const text = (value: unknown): string | null => (typeof value === "string" && value ? value : null);
const count = (value: unknown): number | null => (typeof value === "number" ? value : null);

function statusOf(event: Envelope): BackupStatus | undefined {
  if (event.type === "backup.verified") return event.data.ok ? "verified" : "failed";
  return STATUS_OF[event.type];
}

function blank(event: Envelope, id: string): Backup {
  return {
    id,
    store_id: event.store_id,
    reason: null,
    status: "requested",
    requested_by: null,
    requested_at: event.occurred_at,
    started_at: null,
    completed_at: null,
    verified_at: null,
    size_bytes: null,
    engine: null,
    engine_version: null,
    orders: null,
    error: null,
  };
}

/** One backup after `event` (which must name it). */
export function applyBackupEvent(backup: Backup, event: Envelope): Backup {
  const status = statusOf(event);
  if (status === undefined) return backup;
  const next: Backup = { ...backup };
  if (RANK[status] > RANK[backup.status]) next.status = status;
  const at = event.occurred_at;
  const data = event.data;
  if (event.type === "backup.requested") {
    next.reason = (text(data.reason) as Backup["reason"]) ?? next.reason;
    next.requested_by = text(data.requested_by) ?? next.requested_by;
  } else if (event.type === "backup.started") {
    next.started_at = next.started_at ?? at;
  } else if (event.type === "backup.completed") {
    next.completed_at = at;
    next.size_bytes = count(data.size);
    next.engine = text(data.engine);
    next.engine_version = text(data.engine_version);
  } else if (event.type === "backup.verified") {
    next.verified_at = at;
    next.orders = count(data.orders);
    if (!data.ok) next.error = `verification failed: ${text(data.reason) ?? "the check did not pass"}`;
  } else if (event.type === "backup.failed") {
    next.error = text(data.reason) ?? text(data.code) ?? "the backup failed";
  }
  return next;
}

/** The list after one event of the feed; the same array when it changes nothing. */
export function applyToBackups(list: Backup[], event: Envelope): Backup[] {
  const id = text(event.data.backup_id);
  if (!event.type.startsWith("backup.") || id === null) return list;
  const index = list.findIndex((b) => b.id === id);
  const current = index < 0 ? blank(event, id) : (list[index] as Backup);
  const updated = applyBackupEvent(current, event);
  if (updated.status === "deleted") return index < 0 ? list : list.filter((b) => b.id !== id);
  if (index < 0) return newestFirst([updated, ...list]);
  const copy = list.slice();
  copy[index] = updated;
  return copy;
}

/** A freshly loaded page merged with what the feed already showed: the further along wins. */
export function mergeBackups(seen: Backup[], page: Backup[]): Backup[] {
  const byId = new Map(seen.map((b) => [b.id, b]));
  const merged = page.map((b) => {
    const before = byId.get(b.id);
    return before && RANK[before.status] > RANK[b.status] ? before : b;
  });
  const fresh = new Set(page.map((b) => b.id));
  const onlySeen = seen.filter((b) => !fresh.has(b.id));
  return newestFirst([...merged, ...onlySeen]);
}

function newestFirst(list: Backup[]): Backup[] {
  return list.slice().sort((a, b) => b.requested_at.localeCompare(a.requested_at) || b.id.localeCompare(a.id));
}

/** Bytes in words: 4.0 KiB, 1.2 GiB. */
export function sizeText(bytes: number | null): string {
  if (bytes === null) return "—";
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

export type Freshness = Pick<BackupPage, "last_verified_at" | "stale" | "interval_hours">;

/** The warning for a store whose newest verified backup is older than its plan allows,
 * or null: none when the gateway says it is fresh, or once the feed has shown a backup
 * verified since (`format` writes a moment for the reader). */
export function staleWarning(
  freshness: Freshness,
  backups: Backup[],
  format: (iso: string) => string,
): string | null {
  const since = freshness.last_verified_at;
  const newer = backups.some(
    (b) => b.status === "verified" && (since === null || Date.parse(b.started_at ?? b.requested_at) > Date.parse(since)),
  );
  if (!freshness.stale || newer) return null;
  const every = freshness.interval_hours === 1 ? "every hour" : `every ${freshness.interval_hours} hours`;
  const what = since === null ? "No verified backup yet" : `No verified backup since ${format(since)}`;
  return `${what}; this plan backs up ${every}.`;
}
