// How a store event changes what the dashboard shows: the same status machine as the
// auditor's projection (services/auditor/projection.py), so a late or repeated event
// never moves a badge backwards. Pure functions, no I/O.

import type { Envelope, Status, Store } from "../api/types";

// ready and failed share a rank: neither may replace the other.
const RANK: Record<Status, number> = {
  requested: 0,
  provisioning: 1,
  ready: 2,
  failed: 2,
  deleting: 3,
  deleted: 4,
};

// The status an event moves a store to; `progress` moves nothing.
const EVENT_STATUS: Record<string, Status> = {
  requested: "requested",
  provisioning: "provisioning",
  ready: "ready",
  failed: "failed",
  delete: "deleting",
  deleting: "deleting",
  deleted: "deleted",
};

export function mayMove(current: Status, next: Status): boolean {
  if (current === "failed" && next === "requested") return true; // a retry
  return RANK[next] > RANK[current];
}

/** `fresh` (an API answer) unless the copy already `seen` is further along. */
export function newer(seen: Store, fresh: Store): Store {
  return seen.status === fresh.status || mayMove(seen.status, fresh.status) ? fresh : seen;
}

const text = (value: unknown): string | null => (typeof value === "string" && value ? value : null);

/** The store after `event`, or the same object when the event changes nothing. */
export function applyEvent(store: Store, event: Envelope): Store {
  if (event.store_id !== store.id) return store;
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
