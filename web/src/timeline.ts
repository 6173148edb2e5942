// A store's timeline: the audit entries the gateway keeps (GET /stores/{id}/events) merged
// with events from the live feed that the auditor has not stored yet, each said in words.
// Pure.

import type { AuditEntry, Envelope } from "./api/types";
import { urlFailureText } from "./live/domains";
import { planFailureText } from "./messages";

export function entryOf(event: Envelope): AuditEntry {
  return {
    id: event.id,
    kind: "event",
    type: event.type,
    store_id: event.store_id,
    actor: event.actor,
    occurred_at: event.occurred_at,
    stream_seq: null,
    data: event.data,
  };
}

/** Entries by id (the event id is the same in both sources), oldest first. */
export function mergeEntries(entries: AuditEntry[], more: AuditEntry[]): AuditEntry[] {
  const byId = new Map(entries.map((e) => [e.id, e]));
  for (const entry of more) if (!byId.has(entry.id)) byId.set(entry.id, entry);
  return [...byId.values()].sort(
    (a, b) => a.occurred_at.localeCompare(b.occurred_at) || (a.stream_seq ?? Infinity) - (b.stream_seq ?? Infinity),
  );
}

const str = (value: unknown): string => (typeof value === "string" ? value : "");

const seconds = (value: unknown): string => (typeof value === "number" ? `in ${value.toFixed(1)} s` : "");

const WAVES: Record<string, string> = {
  guardrails: "Namespace, quotas, network policies and secrets are in place",
  workloads: "Database and web server are running",
  setup: "The shop is installed and configured",
  ingress: "The web address is routed",
};

/** A heading and a detail line for one timeline entry. */
export function describe(entry: AuditEntry): { title: string; detail: string } {
  const d = entry.data;
  switch (entry.type) {
    case "requested":
      return { title: "Requested", detail: [str(d.engine), str(d.plan) && `plan ${str(d.plan)}`].filter(Boolean).join(", ") };
    case "provisioning": {
      const attempt = typeof d.attempt === "number" && d.attempt > 1 ? ` (attempt ${d.attempt})` : "";
      return { title: "Provisioning started", detail: `taken by ${str(d.worker) || "a worker"}${attempt}` };
    }
    case "progress": {
      const wave = str(d.wave);
      const applied = Array.isArray(d.applied) ? d.applied.length : 0;
      const detail = str(d.message) || WAVES[wave] || "";
      return {
        title: `Step done: ${wave || "progress"}`,
        detail: applied ? `${detail}${detail ? "; " : ""}${applied} ${applied === 1 ? "object" : "objects"} applied` : detail,
      };
    }
    case "ready":
      return { title: "Ready", detail: str(d.url) };
    case "failed":
      return { title: "Failed", detail: [str(d.reason), str(d.code) && `(${str(d.code)})`].filter(Boolean).join(" ") };
    case "delete":
      return { title: "Deletion requested", detail: str(d.reason) };
    case "deleting":
      return { title: "Deleting", detail: `removing namespace ${str(d.namespace)}` };
    case "deleted":
      return { title: "Deleted", detail: `namespace ${str(d.namespace)} is gone` };
    case "suspend.requested":
      return { title: "Suspension requested", detail: str(d.reason) };
    case "suspend.started":
      return { title: "Suspending", detail: "stopping the store's workloads; its data is kept" };
    case "suspend.completed":
      return { title: "Suspended", detail: seconds(d.seconds) };
    case "resume.requested":
      return { title: "Resume requested", detail: "" };
    case "resume.started":
      return { title: "Resuming", detail: "starting the store's workloads again" };
    case "resume.completed":
      return { title: "Resumed", detail: seconds(d.seconds) };
    case "suspend.failed":
    case "resume.failed":
      return {
        title: entry.type === "suspend.failed" ? "Suspension failed" : "Resume failed",
        detail: [str(d.reason), str(d.code) && `(${str(d.code)})`].filter(Boolean).join(" "),
      };
    case "plan.requested":
      return { title: "Plan change requested", detail: `from ${str(d.previous_plan) || "its plan"} to ${str(d.plan)}` };
    case "plan.changed":
      return {
        title: "Plan changed",
        detail: [`now ${str(d.plan)}`, str(d.previous_plan) && `(was ${str(d.previous_plan)})`, seconds(d.seconds)]
          .filter(Boolean)
          .join(" "),
      };
    case "plan.failed":
      return {
        title: "Plan change failed",
        detail: `not moved to ${str(d.plan)}: ${planFailureText(str(d.code), str(d.reason))}${str(d.code) ? ` (${str(d.code)})` : ""}`,
      };
    case "upgrade.requested":
      return {
        title: "Upgrade requested",
        detail: `from ${str(d.previous_version) || "its version"} to ${str(d.version)}${str(d.rollout_id) ? " (a rollout)" : ""}`,
      };
    case "upgrade.started":
      return { title: "Upgrading", detail: `to ${str(d.version)}; a backup was taken first to come back to` };
    case "upgrade.completed":
      return {
        title: "Upgraded",
        detail: [`now on ${str(d.version)}`, str(d.previous_version) && `(was ${str(d.previous_version)})`, seconds(d.seconds)]
          .filter(Boolean)
          .join(" "),
      };
    case "upgrade.rolled_back":
      return {
        title: "Upgrade rolled back",
        detail: `back on ${str(d.previous_version)} with its data from before: ${str(d.reason)}${str(d.code) ? ` (${str(d.code)})` : ""}`,
      };
    case "upgrade.failed":
      return {
        title: "Upgrade failed",
        detail: [str(d.reason), str(d.code) && `(${str(d.code)})`].filter(Boolean).join(" "),
      };
    case "domain.primary":
      if (d.reason === "domain_ended") {
        return {
          title: "Back to the store's own host",
          detail: `${str(d.ended_domain) || "its primary domain"} stopped being served`,
        };
      }
      return str(d.domain)
        ? { title: "Primary domain chosen", detail: `the store's address becomes ${str(d.domain)}` }
        : { title: "Primary domain dropped", detail: "the store's own host becomes its address again" };
    case "url.changed":
      return { title: "Address changed", detail: [`now ${str(d.url)}`, seconds(d.seconds)].filter(Boolean).join(" ") };
    case "url.failed":
      return { title: "Address not changed", detail: urlFailureText(str(d.code), str(d.reason)) };
    case "credentials_viewed":
      return { title: "Admin credentials viewed", detail: str(d.outcome) };
    default:
      return { title: entry.type, detail: "" };
  }
}
