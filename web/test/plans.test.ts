import { describe, expect, it } from "vitest";
import type { AuditEntry } from "../src/api/types";
import { latestPlanChange, UNDER_WAY_MS, type Asked } from "../src/live/plans";
import { describe as describeEntry, entryOf } from "../src/timeline";
import { eventOf } from "./fakes";

const STORE = "00000000-0000-4000-8000-000000000abc";
const entry = (type: string, data: Record<string, unknown>): AuditEntry => entryOf(eventOf(type, STORE, data));
const asked = (id: string, plan = "medium", at = Date.now()): Asked => ({
  change: { operation_id: id, store_id: STORE, plan, previous_plan: "small" },
  at,
});
const requested = (id: string, plan = "medium") => entry("plan.requested", { operation_id: id, plan, previous_plan: "small", requested_by: "u" });
const at = (e: AuditEntry) => Date.parse(e.occurred_at);

describe("where a plan change stands", () => {
  it("is under way from the gateway's 202 until plan.changed names it", () => {
    const now = Date.now();
    expect(latestPlanChange([], asked("p1"), now)).toMatchObject({ outcome: "under_way", plan: "medium", previousPlan: "small" });
    const changed = entry("plan.changed", { operation_id: "p1", plan: "medium", previous_plan: "small", seconds: 3 });
    expect(latestPlanChange([requested("p1"), changed], asked("p1"), at(changed))?.outcome).toBe("changed");
  });

  it("is under way after a reload, from the timeline alone", () => {
    const asking = requested("p1");
    expect(latestPlanChange([asking], null, at(asking) + 1000)).toMatchObject({ operationId: "p1", outcome: "under_way" });
  });

  it("ends only with the change it names", () => {
    const timeline = [requested("p1"), requested("p2", "large")];
    const late = entry("plan.changed", { operation_id: "p1", plan: "medium", previous_plan: "small", seconds: 3 });
    expect(latestPlanChange([...timeline, late], asked("p2", "large"), at(late))).toMatchObject({
      operationId: "p2",
      plan: "large",
      outcome: "under_way",
    });
  });

  it("says why a change failed, in words, with the reason", () => {
    const asking = requested("p1", "tiny");
    const failed = entry("plan.failed", { operation_id: "p1", plan: "tiny", code: "usage_exceeds_plan", reason: "storage used 30Gi, tiny allows 5Gi." });
    expect(latestPlanChange([asking, failed], null, at(failed))).toMatchObject({
      outcome: "failed",
      plan: "tiny",
      reason: "the new plan is too small for what the store uses now: storage used 30Gi, tiny allows 5Gi",
    });
  });

  it("keeps an end when the request arrives after it", () => {
    const changed = entry("plan.changed", { operation_id: "p1", plan: "medium", previous_plan: "small", seconds: 3 });
    expect(latestPlanChange([changed, requested("p1")], null, at(changed))?.outcome).toBe("changed");
  });

  it("no longer counts a change asked for long ago that never ended, as the gateway does", () => {
    const asking = requested("p1");
    expect(latestPlanChange([asking], null, at(asking) + UNDER_WAY_MS + 1000)).toBeNull();
    const now = Date.now();
    expect(latestPlanChange([], asked("p1", "medium", now - UNDER_WAY_MS - 1000), now)).toBeNull();
    expect(latestPlanChange([asking], asked("p1", "medium", now - 1000), now)?.outcome).toBe("under_way");
    expect(latestPlanChange([], null, Date.now())).toBeNull();
  });
});

describe("plan events in the timeline", () => {
  it("says what was asked, what changed and why a change failed", () => {
    expect(describeEntry(requested("p1"))).toEqual({ title: "Plan change requested", detail: "from small to medium" });
    const changed = entry("plan.changed", { operation_id: "p1", plan: "medium", previous_plan: "small", seconds: 12 });
    expect(describeEntry(changed)).toEqual({ title: "Plan changed", detail: "now medium (was small) in 12.0 s" });
    const failed = entry("plan.failed", { operation_id: "p1", plan: "tiny", code: "usage_exceeds_plan", reason: "30Gi used" });
    expect(describeEntry(failed)).toEqual({
      title: "Plan change failed",
      detail: "not moved to tiny: the new plan is too small for what the store uses now: 30Gi used (usage_exceeds_plan)",
    });
  });
});
