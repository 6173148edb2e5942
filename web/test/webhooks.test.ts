import { describe, expect, it } from "vitest";
import type { Delivery, Webhook } from "../src/api/types";
import {
  answerText,
  appendDeliveries,
  eventTypesOf,
  eventTypesText,
  failingText,
  fieldMessage,
  fieldOf,
  KNOWN_EVENT_TYPES,
  latencyText,
  latestAnswerText,
  pickableStores,
  sinceInstant,
  storeFilterText,
} from "../src/live/webhooks";
import { storeOf } from "./fakes";

function endpointOf(overrides: Partial<Webhook> = {}): Webhook {
  return {
    id: "7d0c6a7e-9f7d-4d3e-8a51-2c1f0e9d8b7a",
    url: "https://hooks.example.org/in",
    event_types: ["*"],
    store_id: null,
    description: "",
    created_at: "2026-01-02T00:00:00Z",
    failing: false,
    failing_reason: "",
    failing_since: null,
    ...overrides,
  };
}

function deliveryOf(id: number, overrides: Partial<Delivery> = {}): Delivery {
  return {
    id,
    event_id: `evt-${id}`,
    event_type: "ready",
    store_id: "s",
    occurred_at: "2026-01-02T00:00:00Z",
    outcome: "delivered",
    attempt: 1,
    next_attempt_at: null,
    status_code: 204,
    latency_ms: 12,
    response: "",
    delivered_at: "2026-01-02T00:00:01Z",
    attempts: [],
    ...overrides,
  };
}

describe("webhook endpoints in words", () => {
  it("sends all events as the wildcard, and picked ones in the catalogue's order", () => {
    expect(eventTypesOf(true, new Set(["ready"]))).toEqual(["*"]);
    expect(eventTypesOf(false, new Set(["failed", "ready", "nonsense"]))).toEqual(["ready", "failed"]);
    expect(eventTypesOf(false, new Set())).toEqual([]);
    expect(KNOWN_EVENT_TYPES).toContain("backup.verified");
    expect(eventTypesText(["*"])).toBe("all events");
    expect(eventTypesText(["ready", "failed"])).toBe("ready, failed");
  });

  it("names the filter's store when the page knows it, its id otherwise", () => {
    const store = storeOf({ name: "Corner Shop" });
    expect(storeFilterText(null, [store])).toBe("all your stores");
    expect(storeFilterText(store.id, [store])).toBe("Corner Shop");
    expect(storeFilterText("other-id", [store])).toBe("other-id");
  });

  it("offers only stores that are not going away, by name", () => {
    const b = storeOf({ name: "B" });
    const a = storeOf({ name: "A" });
    const gone = storeOf({ name: "C", status: "deleted" });
    expect(pickableStores([b, gone, a]).map((s) => s.name)).toEqual(["A", "B"]);
  });

  it("warns of a failing endpoint with since when and why, and says nothing of a healthy one", () => {
    expect(failingText(endpointOf(), (iso) => iso)).toBeNull();
    const failing = endpointOf({ failing: true, failing_reason: "HTTP 500", failing_since: "2026-01-03T00:00:00Z" });
    expect(failingText(failing, (iso) => `[${iso}]`)).toBe(
      "Failing since [2026-01-03T00:00:00Z]: HTTP 500. Each new event gets one attempt until one succeeds.",
    );
  });

  it("says what an attempt got: a status code, or what happened instead", () => {
    expect(answerText(204, "")).toBe("HTTP 204");
    expect(answerText(null, "timed out after 10 s")).toBe("timed out after 10 s");
    expect(answerText(null, "")).toBe("no answer yet");
    const refused = deliveryOf(1, {
      status_code: null,
      outcome: "failed",
      attempts: [{ attempt: 1, status_code: null, latency_ms: 3, response: "", error: "address refused", attempted_at: "x" }],
    });
    expect(latestAnswerText(refused)).toBe("address refused");
    expect(latencyText(null)).toBe("—");
    expect(latencyText(12)).toBe("12 ms");
    expect(latencyText(2500)).toBe("2.5 s");
  });

  it("puts a 422 next to the field it names, without the field's name in front", () => {
    expect(fieldOf(422, "url")).toBe("url");
    expect(fieldOf(422, "event_types.0")).toBe("event_types");
    expect(fieldOf(404, undefined)).toBe("store_id");
    expect(fieldOf(409, undefined)).toBeNull();
    expect(fieldOf(422, "body")).toBeNull();
    expect(fieldMessage("url: Value error, must be an http:// or https:// URL", "url")).toBe(
      "Must be an http:// or https:// URL",
    );
  });

  it("turns the picked local time into an instant with its offset, and refuses none", () => {
    expect(sinceInstant("")).toBeNull();
    expect(sinceInstant("not a time")).toBeNull();
    const instant = sinceInstant("2026-01-02T03:04:05");
    expect(instant).toBe(new Date(2026, 0, 2, 3, 4, 5).toISOString());
    expect(instant?.endsWith("Z")).toBe(true);
  });

  it("appends an older page once, even when it overlaps", () => {
    const merged = appendDeliveries([deliveryOf(3), deliveryOf(2)], [deliveryOf(2), deliveryOf(1)]);
    expect(merged.map((d) => d.id)).toEqual([3, 2, 1]);
  });
});

describe("the webhook pages' paths", () => {
  it("are the list and one endpoint by id", async () => {
    const { routeOf } = await import("../src/router");
    expect(routeOf("/webhooks/")).toEqual({ page: "webhooks" });
    expect(routeOf("/webhooks/7D0C6A7E-9F7D-4D3E-8A51-2C1F0E9D8B7A")).toEqual({
      page: "webhook",
      id: "7d0c6a7e-9f7d-4d3e-8a51-2c1f0e9d8b7a",
    });
    expect(routeOf("/webhooks/not-an-id")).toEqual({ page: "not-found" });
  });
});
