import { describe, expect, it } from "vitest";
import { applyEvent, applyToList, newer } from "../src/live/status";
import { eventOf, storeOf } from "./fakes";

describe("a store event moves the badge only forwards", () => {
  it("sets ready with the URL from the event", () => {
    const store = storeOf({ status: "provisioning", url: null });
    const after = applyEvent(store, eventOf("ready", store.id, { url: "http://x.stores.localhost" }));
    expect(after.status).toBe("ready");
    expect(after.url).toBe("http://x.stores.localhost");
  });

  it("ignores a late provisioning event once the store is ready", () => {
    const store = storeOf({ status: "ready" });
    expect(applyEvent(store, eventOf("provisioning", store.id))).toBe(store);
  });

  it("lets a failed store be requested again (a retry) and clears its error", () => {
    const store = storeOf({ status: "failed", error: "boom" });
    const after = applyEvent(store, eventOf("requested", store.id));
    expect(after.status).toBe("requested");
    expect(after.error).toBeNull();
  });

  it("never lets ready and failed replace each other", () => {
    const store = storeOf({ status: "ready" });
    expect(applyEvent(store, eventOf("failed", store.id, { reason: "x" })).status).toBe("ready");
  });

  it("drops a store from a list once it is deleted, and leaves other stores alone", () => {
    const [a, b] = [storeOf(), storeOf()];
    const list = applyToList([a, b], eventOf("deleted", a.id, { namespace: a.namespace }));
    expect(list.map((s) => s.id)).toEqual([b.id]);
  });

  it("keeps the copy that is further along when an older answer arrives", () => {
    const seen = storeOf({ status: "ready" });
    expect(newer(seen, { ...seen, status: "provisioning" })).toBe(seen);
    const fresh = { ...seen, status: "deleting" as const };
    expect(newer(seen, fresh)).toBe(fresh);
  });
});
