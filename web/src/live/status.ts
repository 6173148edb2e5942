// How a store event changes what the dashboard shows: the status machine of
// shared/lifecycle.py (through the generated lifecycle.gen.ts), so a late or repeated event
// never moves a badge backwards. Pure functions, no I/O.

import type { Envelope, Store } from "../api/types";
import { BACKWARD_MOVES, EVENT_STATUS, RANK, RESTORE_MOVES, type Status } from "./lifecycle.gen";

export function mayMove(current: Status, next: Status): boolean {
  if (BACKWARD_MOVES.some(([from, to]) => from === current && to === next)) return true;
  return RANK[next] > RANK[current];
}

/** `fresh` (an API answer) unless the copy already `seen` is further along. */
export function newer(seen: Store, fresh: Store): Store {
  return seen.status === fresh.status || mayMove(seen.status, fresh.status) ? fresh : seen;
}

const text = (value: unknown): string | null => (typeof value === "string" && value ? value : null);

/** The status a restore event moves a store in `current` to, if any (the rank aside). */
function restoreMove(current: Status, type: string): Status | undefined {
  return RESTORE_MOVES.find(([t, from]) => t === type && from === current)?.[2];
}

/** The store after `event`, or the same object when the event changes nothing. */
export function applyEvent(store: Store, event: Envelope): Store {
  if (event.store_id !== store.id) return store;
  if (event.type.startsWith("restore.")) {
    const moved = restoreMove(store.status, event.type);
    if (moved === undefined) return store;
    const error = event.type === "restore.failed" ? (text(event.data.reason) ?? "the restore failed") : null;
    return { ...store, status: moved, error, updated_at: event.occurred_at };
  }
  const next = EVENT_STATUS[event.type];
  if (next === undefined || !mayMove(store.status, next)) return store;
  const changed: Store = { ...store, status: next, updated_at: event.occurred_at };
  if (event.type === "requested") {
    changed.url = null;
    changed.error = null;
    changed.ready_at = null;
  } else if (event.type === "ready") {
    changed.url = text(event.data.url) ?? store.url;
    changed.error = null;
    changed.ready_at = event.occurred_at;
  } else if (event.type === "failed") {
    changed.error = text(event.data.reason) ?? "provisioning failed";
  } else if (event.type === "deleted") {
    changed.deleted_at = event.occurred_at;
  }
  return changed;
}

/** Stores after one event: updated in place, dropped once deleted. */
export function applyToList(stores: Store[], event: Envelope): Store[] {
  const index = stores.findIndex((s) => s.id === event.store_id);
  if (index < 0) return stores;
  const current = stores[index] as Store;
  const updated = applyEvent(current, event);
  if (updated.status === "deleted") return stores.filter((s) => s.id !== event.store_id);
  if (updated === current) return stores;
  const copy = stores.slice();
  copy[index] = updated;
  return copy;
}
