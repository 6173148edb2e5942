import { describe, expect, it } from "vitest";
import { applyEvent, applyToList, commanded, newer } from "../src/live/status";
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

describe("a suspension moves the store through suspending, suspended and resuming", () => {
  const op = (id: string, extra: Record<string, unknown> = {}) => ({ operation_id: id, ...extra });

  it("goes ready -> suspending -> suspended -> resuming -> ready, keeping the URL", () => {
    let store = storeOf({ status: "ready" });
    const url = store.url;
    for (const [type, data, status] of [
      ["suspend.requested", op("s1", { requested_by: "u", reason: "" }), "ready"],
      ["suspend.started", op("s1"), "suspending"],
      ["suspend.completed", op("s1", { seconds: 3 }), "suspended"],
      ["resume.requested", op("r1", { requested_by: "u" }), "suspended"],
      ["resume.started", op("r1"), "resuming"],
      ["resume.completed", op("r1", { seconds: 9 }), "ready"],
    ] as const) {
      store = applyEvent(store, eventOf(type, store.id, data));
      expect([type, store.status]).toEqual([type, status]);
    }
    expect(store.url).toBe(url);
  });

  it("never reopens a suspension that ended when its start arrives late", () => {
    let store = storeOf({ status: "ready" });
    store = applyEvent(store, eventOf("suspend.started", store.id, op("s1")));
    store = applyEvent(store, eventOf("suspend.failed", store.id, op("s1", { code: "scale", reason: "the API refused" })));
    expect(store).toMatchObject({ status: "failed", error: "the API refused" });
    const ready = { ...store, status: "ready" as const };
    expect(applyEvent(ready, eventOf("suspend.started", store.id, op("s1")))).toBe(ready);
    expect(applyEvent(ready, eventOf("suspend.started", store.id, op("s2"))).status).toBe("suspending");
  });

  it("ends only the operation under way, and takes an end it cannot tell apart", () => {
    const mine = commanded(storeOf({ status: "ready" }), "suspend", "s1");
    expect(applyEvent(mine, eventOf("suspend.completed", mine.id, op("s0", { seconds: 1 })))).toBe(mine);
    expect(applyEvent(mine, eventOf("suspend.completed", mine.id, op("s1", { seconds: 1 }))).status).toBe("suspended");
    // Loaded from the gateway while suspending: the page never saw the start.
    const loaded = storeOf({ status: "suspending" });
    expect(applyEvent(loaded, eventOf("suspend.completed", loaded.id, op("s9"))).status).toBe("suspended");
  });

  it("moves a store only from the status an operation starts from", () => {
    for (const status of ["requested", "provisioning", "failed", "restoring", "deleting"] as const) {
      const store = storeOf({ status });
      expect(applyEvent(store, eventOf("suspend.started", store.id, op("s1")))).toBe(store);
      expect(commanded(store, "suspend", "s1")).toBe(store);
    }
    const ready = storeOf({ status: "ready" });
    expect(applyEvent(ready, eventOf("resume.started", ready.id, op("r1")))).toBe(ready);
    expect(applyEvent(ready, eventOf("failed", ready.id, { reason: "x" }))).toBe(ready);
  });

  it("shows the status to come once the gateway accepts a command, and the feed goes on from there", () => {
    const store = commanded(storeOf({ status: "suspended" }), "resume", "r1");
    expect(store).toMatchObject({ status: "resuming", operation_id: "r1" });
    expect(applyEvent(store, eventOf("resume.started", store.id, op("r1")))).toBe(store);
    expect(applyEvent(store, eventOf("resume.completed", store.id, op("r1"))).status).toBe("ready");
  });

  it("keys a restore to its restore_id the same way", () => {
    let store = storeOf({ status: "ready" });
    store = applyEvent(store, eventOf("restore.started", store.id, { restore_id: "x1" }));
    store = applyEvent(store, eventOf("restore.completed", store.id, { restore_id: "x1" }));
    expect(store.status).toBe("ready");
    expect(applyEvent(store, eventOf("restore.started", store.id, { restore_id: "x1" }))).toBe(store);
  });

  it("moves a list's stores the same way", () => {
    const [a, b] = [storeOf({ status: "ready" }), storeOf({ status: "ready" })];
    const list = applyToList([a, b], eventOf("suspend.started", a.id, op("s1")));
    expect(list.map((s) => s.status)).toEqual(["suspending", "ready"]);
  });
});

describe("a plan change moves no status", () => {
  const op = { operation_id: "p1" };

  it("sets the plan on plan.changed and leaves the status, URL and operation alone", () => {
    const store = commanded(storeOf({ status: "ready", plan: "small" }), "suspend", "s1");
    const after = applyEvent(store, eventOf("plan.changed", store.id, { ...op, plan: "medium", previous_plan: "small", seconds: 4 }));
    expect(after).toMatchObject({ plan: "medium", status: store.status, url: store.url, operation_id: "s1" });
  });

  it("changes nothing on plan.requested or plan.failed", () => {
    const store = storeOf({ status: "ready", plan: "small" });
    expect(applyEvent(store, eventOf("plan.requested", store.id, { ...op, plan: "medium", previous_plan: "small" }))).toBe(store);
    const failed = eventOf("plan.failed", store.id, { ...op, plan: "tiny", code: "usage_exceeds_plan", reason: "x" });
    expect(applyEvent(store, failed)).toBe(store);
  });

  it("leaves a store being deleted on its plan, as the projection does", () => {
    const store = storeOf({ status: "deleting", plan: "small" });
    expect(applyEvent(store, eventOf("plan.changed", store.id, { ...op, plan: "medium" }))).toBe(store);
  });

  it("moves a list's store to its new plan", () => {
    const [a, b] = [storeOf({ plan: "small" }), storeOf({ plan: "small" })];
    const list = applyToList([a, b], eventOf("plan.changed", b.id, { ...op, plan: "large" }));
    expect(list.map((s) => s.plan)).toEqual(["small", "large"]);
  });
});

describe("an engine upgrade moves the store through upgrading and records its version", () => {
  const op = (id: string, extra: Record<string, unknown> = {}) => ({
    operation_id: id,
    version: "2.1",
    previous_version: "2.0",
    ...extra,
  });

  it("goes ready -> upgrading -> ready on the new version", () => {
    let store = storeOf({ status: "ready", engine_version: "2.0" });
    store = applyEvent(store, eventOf("upgrade.requested", store.id, op("u1", { requested_by: "r" })));
    expect(store.status).toBe("ready");
    store = applyEvent(store, eventOf("upgrade.started", store.id, op("u1", { pre_upgrade_backup_id: "b" })));
    expect(store.status).toBe("upgrading");
    store = applyEvent(store, eventOf("upgrade.completed", store.id, op("u1", { seconds: 30 })));
    expect([store.status, store.engine_version]).toEqual(["ready", "2.1"]);
  });

  it("comes back ready on its old version when rolled back, and failed when even that failed", () => {
    const upgrading = applyEvent(storeOf({ status: "ready", engine_version: "2.0" }), eventOf("upgrade.started", "x", op("u1")));
    const started = applyEvent(storeOf({ id: "x", status: "ready", engine_version: "2.0" }), eventOf("upgrade.started", "x", op("u1")));
    expect(upgrading.status).toBe("ready"); // another store's event moves nothing
    const back = applyEvent(started, eventOf("upgrade.rolled_back", "x", op("u1", { code: "gate_failed", reason: "r" })));
    expect([back.status, back.engine_version, back.error]).toEqual(["ready", "2.0", null]);
    const failed = applyEvent(started, eventOf("upgrade.failed", "x", op("u1", { code: "rollback_failed", reason: "no data" })));
    expect([failed.status, failed.error]).toEqual(["failed", "no data"]);
    // The end of another upgrade does not end this one.
    expect(applyEvent(started, eventOf("upgrade.completed", "x", op("u0", { seconds: 1 })))).toBe(started);
  });
});

describe("a store's address follows its primary domain", () => {
  const primary = { operation_id: "p1", domain_id: "d-1", domain: "shop.example.org", tls: true, reason: "owner" };

  it("takes the primary domain from domain.primary and its address only from url.changed", () => {
    const store = storeOf({ status: "ready", url: "http://corner.stores.localhost" });
    const chosen = applyEvent(store, eventOf("domain.primary", store.id, primary));
    expect(chosen.primary_domain).toEqual({ id: "d-1", domain: "shop.example.org" });
    expect(chosen.url).toBe("http://corner.stores.localhost");

    const moved = applyEvent(chosen, eventOf("url.changed", store.id, { operation_id: "p1", url: "https://shop.example.org" }));
    expect(moved).toMatchObject({ url: "https://shop.example.org", status: "ready" });
    const failed = eventOf("url.failed", store.id, { operation_id: "p2", url: "", code: "setup_failed", reason: "x" });
    expect(applyEvent(moved, failed)).toBe(moved);
  });

  it("drops the primary once its domain ends or the store goes back to its host", () => {
    const store = storeOf({ primary_domain: { id: "d-1", domain: "shop.example.org" } });
    const removed = { domain_id: "d-1", domain: "shop.example.org", reason: "dns_missing", requested_by: "reaper" };
    expect(applyEvent(store, eventOf("domain.removed", store.id, removed)).primary_domain).toBeNull();
    const other = { ...removed, domain_id: "d-2", domain: "other.example.org" };
    expect(applyEvent(store, eventOf("domain.removed", store.id, other))).toBe(store);
    const back = { operation_id: "p3", domain_id: null, domain: null, reason: "domain_ended" };
    expect(applyEvent(store, eventOf("domain.primary", store.id, back)).primary_domain).toBeNull();
  });

  it("leaves the address of a store being provisioned again or deleted, as the projection does", () => {
    for (const status of ["provisioning", "deleting"] as const) {
      const store = storeOf({ status, url: null });
      expect(applyEvent(store, eventOf("url.changed", store.id, { operation_id: "p1", url: "https://shop.example.org" }))).toBe(
        store,
      );
    }
  });
});
