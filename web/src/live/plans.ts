// Where a store's plan change stands, from its timeline (the audit log merged with the
// live feed) and the gateway's 202, if this page asked: under way from `plan.requested`
// (or the 202) until `plan.changed` or `plan.failed` names its operation_id. The store's
// status never moves for it (web/src/live/status.ts sets the plan on `plan.changed`), so
// the timeline is what says a change is under way, also after a reload. Pure, no I/O.

import type { AuditEntry, PlanChange } from "../api/types";
import { planFailureText } from "../messages";

/** A change asked for longer ago than this and never ended no longer blocks another,
 * as the gateway decides (services/gateway/rules.py UNFOLDED_WINDOW). */
export const UNDER_WAY_MS = 15 * 60 * 1000;

export interface PlanChangeState {
  operationId: string;
  /** The plan asked for. */
  plan: string;
  /** The plan the store was on when asked, if known. */
  previousPlan: string | null;
  outcome: "under_way" | "changed" | "failed";
  /** When it was asked for (or first seen), ISO. */
  since: string;
  /** Why it failed, in words. */
  reason: string | null;
}

/** A plan change this page asked for: the gateway's 202 and when it came (ms). */
export interface Asked {
  change: PlanChange;
  at: number;
}

const text = (value: unknown): string => (typeof value === "string" ? value : "");

const OUTCOMES: Record<string, PlanChangeState["outcome"]> = {
  "plan.requested": "under_way",
  "plan.changed": "changed",
  "plan.failed": "failed",
};

function fold(known: PlanChangeState | undefined, entry: AuditEntry, id: string): PlanChangeState {
  const d = entry.data;
  const outcome = OUTCOMES[entry.type] ?? "under_way";
  const base: PlanChangeState = known ?? {
    operationId: id,
    plan: text(d.plan),
    previousPlan: text(d.previous_plan) || null,
    outcome,
    since: entry.occurred_at,
    reason: null,
  };
  // An end stays an end, whatever order the feed and the audit log deliver events in.
  if (outcome === "under_way") return base;
  const reason = outcome === "failed" ? planFailureText(text(d.code), text(d.reason)) : null;
  return { ...base, outcome, reason, previousPlan: base.previousPlan ?? (text(d.previous_plan) || null) };
}

function askedChange(asked: PlanChange, since: string): PlanChangeState {
  return {
    operationId: asked.operation_id,
    plan: asked.plan,
    previousPlan: asked.previous_plan,
    outcome: "under_way",
    since,
    reason: null,
  };
}

/** The store's newest plan change, or null when there is none or one was asked for so long
 * ago without an end that the gateway no longer counts it. `asked` is the 202 this page got. */
export function latestPlanChange(entries: AuditEntry[], asked: Asked | null, now: number): PlanChangeState | null {
  const changes = new Map<string, PlanChangeState>();
  for (const entry of entries) {
    const id = text(entry.data.operation_id);
    if (!id || !Object.hasOwn(OUTCOMES, entry.type)) continue;
    changes.set(id, fold(changes.get(id), entry, id));
  }
  if (asked) {
    // The page's own clock dates its 202, whatever the events' clock says.
    const seen = changes.get(asked.change.operation_id);
    const since = new Date(asked.at).toISOString();
    changes.set(asked.change.operation_id, seen ? { ...seen, since } : askedChange(asked.change, since));
  }
  const newest = [...changes.values()].at(-1) ?? null;
  if (newest?.outcome === "under_way" && now - Date.parse(newest.since) > UNDER_WAY_MS) return null;
  return newest;
}
