// How a store event changes what the dashboard shows: the status machine of
// shared/lifecycle.py (through the generated lifecycle.gen.ts), so a late or repeated event
// never moves a badge backwards. A plan change moves no status: `plan.changed` only sets
// the store's plan, as the auditor's projection does; `url.changed` only its address, and
// `domain.primary` which domain is its primary. Pure functions, no I/O.

import type { Envelope, Store } from "../api/types";
import { BACKWARD_MOVES, EVENT_STATUS, OPERATION_MOVES, RANK, type Status } from "./lifecycle.gen";

export function mayMove(current: Status, next: Status): boolean {
  if (BACKWARD_MOVES.some(([from, to]) => from === current && to === next)) return true;
  return RANK[next] > RANK[current];
}

/** `fresh` (an API answer) unless the copy already `seen` is further along. */
export function newer(seen: Store, fresh: Store): Store {
  return seen.status === fresh.status || mayMove(seen.status, fresh.status) ? fresh : seen;
}

const text = (value: unknown): string | null => (typeof value === "string" && value ? value : null);

/** `restore`, `suspend`, `resume`... for a two-token event type; "" for the others. */
const operationOf = (type: string): string => (type.includes(".") ? (type.split(".")[0] ?? "") : "");

const isOperationEvent = (type: string): boolean => Object.hasOwn(OPERATION_MOVES, operationOf(type));

/** The status an operation's event moves a store in `current` to, if any (the rank aside). */
function operationMove(current: Status, type: string): Status | undefined {
  if (!isOperationEvent(type)) return undefined;
  return OPERATION_MOVES[operationOf(type)]?.find(([t, from]) => t === type && from === current)?.[2];
}

/** The id an operation's event names: a restore's `restore_id`, else `operation_id`. */
const keyOf = (event: Envelope): string | null =>
  text(event.type.startsWith("restore.") ? event.data.restore_id : event.data.operation_id);

/** Whether an operation's event belongs to the one the store is in, as the auditor decides
 * (services/auditor/projection.py): a start must be of a new operation (a late or repeated
 * start never reopens one that ended), an end of the one under way. The gateway's answers
 * carry no operation id, so an id the page does not know never blocks a move. */
function isThisOperation(store: Store, event: Envelope): boolean {
  const key = keyOf(event);
  const current = store.operation_id ?? null;
  if (key === null || current === null) return true;
  return event.type.endsWith(".started") ? key !== current : key === current;
}

function applyOperationEvent(store: Store, event: Envelope): Store {
  const moved = operationMove(store.status, event.type);
  if (moved === undefined || !isThisOperation(store, event)) return store;
  const changed: Store = { ...store, status: moved, updated_at: event.occurred_at };
  if (event.type.endsWith(".started")) changed.operation_id = keyOf(event) ?? store.operation_id ?? null;
  if (event.type.endsWith(".failed")) {
    changed.error = text(event.data.reason) ?? text(event.data.code) ?? `the ${operationOf(event.type)} failed`;
  } else if (event.type === "restore.completed" || event.type === "resume.completed") {
    changed.error = null;
  } else if (event.type === "upgrade.completed") {
    changed.error = null;
    changed.engine_version = text(event.data.version) ?? store.engine_version;
  } else if (event.type === "upgrade.rolled_back") {
    changed.error = null;
  }
  return changed;
}

/** The store once the gateway accepted a command to start an operation (its 202): moved
 * as that operation's start will move it, unless the feed already did. */
export function commanded(store: Store, kind: string, operationId: string): Store {
  const moved = operationMove(store.status, `${kind}.started`);
  if (moved === undefined) return store;
  return { ...store, status: moved, operation_id: operationId };
}

/** The store on the plan `plan.changed` names; a store being deleted keeps its own. */
function applyPlanChanged(store: Store, event: Envelope): Store {
  const plan = text(event.data.plan);
  if (plan === null || plan === store.plan || store.status === "deleting" || store.status === "deleted") {
    return store;
  }
  return { ...store, plan, updated_at: event.occurred_at };
}

/** The store's address after `url.changed`, as the auditor's projection sets it: a store
 * being provisioned again or deleted keeps what its own events say. */
function applyUrlChanged(store: Store, event: Envelope): Store {
  const url = text(event.data.url);
  const kept: Status[] = ["requested", "provisioning", "deleting", "deleted"];
  if (url === null || url === store.url || kept.includes(store.status)) return store;
  return { ...store, url, updated_at: event.occurred_at };
}

/** The store's primary domain after a domain event: the one `domain.primary` names (none
 * when it names none); none once the primary domain fails or is removed, as the gateway
 * shows it. Its address moves only with `url.changed`. */
function applyPrimary(store: Store, event: Envelope): Store {
  const id = text(event.data.domain_id);
  if (event.type === "domain.primary") {
    const domain = text(event.data.domain);
    const primary = id && domain ? { id, domain } : null;
    return primary?.id === store.primary_domain?.id ? store : { ...store, primary_domain: primary };
  }
  const ended = event.type === "domain.failed" || event.type === "domain.removed";
  return ended && id !== null && id === store.primary_domain?.id ? { ...store, primary_domain: null } : store;
}

/** The store after `event`, or the same object when the event changes nothing. */
export function applyEvent(store: Store, event: Envelope): Store {
  if (event.store_id !== store.id) return store;
  if (event.type === "plan.changed") return applyPlanChanged(store, event);
  if (event.type === "url.changed") return applyUrlChanged(store, event);
  if (event.type.startsWith("domain.")) return applyPrimary(store, event);
  if (isOperationEvent(event.type)) return applyOperationEvent(store, event);
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
