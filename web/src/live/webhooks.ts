// Webhook endpoints as the Webhooks pages show them: the event types picked in the form
// and what is sent, the store filter, the "failing" warning, a delivery's outcome,
// answer and attempts in words, a refusal next to the field it names, and the time a
// "redeliver since" form picks as the RFC 3339 instant the gateway wants. Pure, no I/O.

import type { Delivery, DeliveryOutcome, Store, Webhook } from "../api/types";
import { EVENT_TYPES } from "./lifecycle.gen";

export const ALL_EVENTS = "*";

/** Every event type the form offers, as the gateway knows them (shared/lifecycle.py). */
export const KNOWN_EVENT_TYPES: readonly string[] = EVENT_TYPES;

/** The body's `event_types`: ["*"] for all, else the picked ones in the catalogue's order. */
export function eventTypesOf(all: boolean, picked: ReadonlySet<string>): string[] {
  return all ? [ALL_EVENTS] : KNOWN_EVENT_TYPES.filter((t) => picked.has(t));
}

export function eventTypesText(types: readonly string[]): string {
  return types.includes(ALL_EVENTS) ? "all events" : types.join(", ");
}

/** The store filter in words: the store's name when the page knows it. */
export function storeFilterText(storeId: string | null, stores: readonly Store[]): string {
  if (storeId === null) return "all your stores";
  const store = stores.find((s) => s.id === storeId);
  return store ? store.name : storeId;
}

/** Stores an endpoint may be limited to: the caller's, not deleted, by name. */
export function pickableStores(stores: readonly Store[]): Store[] {
  return stores
    .filter((s) => s.status !== "deleted" && s.status !== "deleting")
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The warning an endpoint whose deliveries gave up shows; null while it is healthy. */
export function failingText(endpoint: Webhook, when: (iso: string) => string): string | null {
  if (!endpoint.failing) return null;
  const since = endpoint.failing_since ? ` since ${when(endpoint.failing_since)}` : "";
  const reason = endpoint.failing_reason ? `: ${endpoint.failing_reason}` : "";
  return `Failing${since}${reason}. Each new event gets one attempt until one succeeds.`;
}

export const OUTCOME_TEXT: Record<DeliveryOutcome, string> = {
  pending: "pending",
  delivered: "delivered",
  failed: "gave up",
};

/** An answer in short: "HTTP 204", or what happened instead (a timeout, a refused address). */
export function answerText(statusCode: number | null, error: string): string {
  if (statusCode !== null) return `HTTP ${statusCode}`;
  return error || "no answer yet";
}

/** A delivery's latest answer: its own status code, or its latest attempt's error. */
export function latestAnswerText(delivery: Delivery): string {
  return answerText(delivery.status_code, delivery.attempts.at(-1)?.error ?? "");
}

export function latencyText(ms: number | null): string {
  if (ms === null) return "—";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** The gateway's 422 message without the field's name it starts with ("url: Value error, …"). */
export function fieldMessage(message: string, field: string | undefined): string {
  let text = message;
  if (field && text.startsWith(`${field}: `)) text = text.slice(field.length + 2);
  text = text.replace(/^Value error, /, "");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export type FormField = "url" | "event_types" | "store_id" | "description";

/** Which field of the create form a refusal belongs next to; null: the form as a whole. */
export function fieldOf(status: number, field: string | undefined): FormField | null {
  const top = field?.split(".")[0];
  if (status === 422 && (top === "url" || top === "event_types" || top === "store_id" || top === "description")) {
    return top;
  }
  // A store that is not the caller's (or no longer exists) is answered 404.
  if (status === 404) return "store_id";
  return null;
}

/** A `datetime-local` value (the reader's local time) as an RFC 3339 instant; null when unset or invalid. */
export function sinceInstant(local: string): string | null {
  if (!local) return null;
  const moment = new Date(local);
  return Number.isNaN(moment.getTime()) ? null : moment.toISOString();
}

/** A delivery list with `more` (the next page) after it, each delivery once. */
export function appendDeliveries(list: Delivery[], more: Delivery[]): Delivery[] {
  const seen = new Set(list.map((d) => d.id));
  return [...list, ...more.filter((d) => !seen.has(d.id))];
}
