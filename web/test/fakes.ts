// Stand-ins for the browser's network: a fetch that answers like the gateway from a table
// of routes (and records every call), and an EventSource the test drives by hand.

import { act } from "@testing-library/react";
import { vi } from "vitest";
import type { Envelope, Me, Store } from "../src/api/types";

export interface Reply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}
type Answer = Reply | ((url: URL, init: RequestInit) => Reply | Promise<Reply>);

export interface Call {
  method: string;
  url: URL;
  body: unknown;
  headers: Record<string, string>;
}

/** fetch answering "METHOD /path" from `routes` (404 JSON otherwise); `calls` records all. */
export function fakeApi(routes: Record<string, Answer>) {
  const calls: Call[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), window.location.origin);
    const method = init.method ?? "GET";
    calls.push({
      method,
      url,
      body: init.body ? JSON.parse(String(init.body)) : undefined,
      headers: (init.headers ?? {}) as Record<string, string>,
    });
    const answer = routes[`${method} ${url.pathname}`];
    const reply = typeof answer === "function" ? await answer(url, init) : answer;
    if (!reply) return json(404, { error: { code: "not_found", message: "no such route" } });
    return json(reply.status ?? 200, reply.body, reply.headers);
  });
  vi.stubGlobal("fetch", fetch);
  return { calls, fetch, count: (key: string) => calls.filter((c) => `${c.method} ${c.url.pathname}` === key).length };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(status === 204 ? null : JSON.stringify(body ?? null), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export function refusal(status: number, code: string, message: string, field?: string, headers?: Record<string, string>): Reply {
  return { status, body: { error: { code, message, ...(field ? { field } : {}) } }, headers };
}

export class FakeEventSource extends EventTarget {
  static instances: FakeEventSource[] = [];
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readyState = 0;
  onopen: ((e: Event) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;

  constructor(readonly url: string) {
    super();
    FakeEventSource.instances.push(this);
  }

  static get latest(): FakeEventSource {
    const last = FakeEventSource.instances.at(-1);
    if (!last) throw new Error("no EventSource was opened");
    return last;
  }

  static install(): void {
    FakeEventSource.instances = [];
    vi.stubGlobal("EventSource", FakeEventSource);
  }

  open(): void {
    act(() => {
      this.readyState = 1;
      this.onopen?.(new Event("open"));
    });
  }

  emit(event: Envelope, id: number): void {
    act(() => {
      this.dispatchEvent(new MessageEvent(event.type, { data: JSON.stringify(event), lastEventId: String(id) }));
    });
  }

  /** The connection drops; `closed` means the browser gave up rather than retrying. */
  fail(closed = false): void {
    act(() => {
      this.readyState = closed ? 2 : 0;
      this.onerror?.(new Event("error"));
    });
  }

  close(): void {
    this.readyState = 2;
  }
}

// -- sample data --------------------------------------------------------------------------

export const ALICE = "11111111-1111-4111-8111-111111111111";
export const BOB = "22222222-2222-4222-8222-222222222222";

export function meOf(id = ALICE, username = "alice", role: "user" | "admin" = "user", stores = 3, max = 10): Me {
  return {
    user: { id, username, role, created_at: "2026-01-01T00:00:00Z" },
    quota: { max_stores: max, stores },
  };
}

let counter = 0;

export function storeOf(overrides: Partial<Store> = {}): Store {
  counter += 1;
  const id = overrides.id ?? `00000000-0000-4000-8000-${String(counter).padStart(12, "0")}`;
  return {
    id,
    name: `Shop ${counter}`,
    slug: `shop-${counter}`,
    engine: "woocommerce",
    plan: "small",
    namespace: `store-shop-${counter}-abcdef`,
    status: "ready",
    url: `http://shop-${counter}.stores.localhost`,
    error: null,
    owner: { id: ALICE, username: "alice" },
    created_at: `2026-01-0${Math.min(counter, 9)}T10:00:00Z`,
    updated_at: "2026-01-01T10:00:00Z",
    ready_at: null,
    deleted_at: null,
    ...overrides,
  };
}

export function eventOf(type: string, storeId: string, data: Record<string, unknown> = {}, actor = "provisioner"): Envelope {
  counter += 1;
  return {
    id: `evt-${counter}`,
    type,
    store_id: storeId,
    occurred_at: new Date(Date.UTC(2026, 0, 2, 0, 0, counter)).toISOString(),
    actor,
    correlation_id: "corr",
    schema_version: 1,
    data,
  };
}

export const page = <T,>(items: T[], next_cursor: string | null = null) => ({ body: { items, next_cursor } });
