// What to tell a person when something did not work: what happened, and what to do next.
// Pure: turns an error (and, for a full quota, the person's stores) into words.

import { ApiError, NetworkError } from "./api/client";
import type { Store } from "./api/types";

export interface Advice {
  text: string;
  /** For a full quota: stores worth deleting, the most likely first. */
  candidates?: Store[];
}

export function clockTime(date: Date): string {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function waitText(seconds: number | undefined, now = new Date()): string {
  if (seconds === undefined) return "Try again in a minute.";
  const at = new Date(now.getTime() + seconds * 1000);
  const span = seconds < 90 ? `${seconds} seconds` : `${Math.ceil(seconds / 60)} minutes`;
  return `Try again in ${span} (after ${clockTime(at)}).`;
}

/** Failed stores first, then the oldest: the ones a person most likely wants gone. */
export function deleteCandidates(stores: Store[]): Store[] {
  const live = stores.filter((s) => s.status !== "deleting" && s.status !== "deleted");
  const failed = live.filter((s) => s.status === "failed");
  const rest = live
    .filter((s) => s.status !== "failed")
    .sort((a, b) => a.created_at.localeCompare(b.created_at));
  return [...failed, ...rest].slice(0, 3);
}

export function explain(error: unknown, stores: Store[] = [], now = new Date()): Advice {
  if (error instanceof NetworkError) {
    return {
      text: "storefleet cannot be reached. Check your connection; the page keeps trying and catches up by itself.",
    };
  }
  if (!(error instanceof ApiError)) {
    return { text: "Something unexpected went wrong in this page. Reload it and try again." };
  }
  if (error.status === 429) {
    return { text: `Too many requests in a short time. ${waitText(error.retryAfter, now)}` };
  }
  if (error.code === "quota_exceeded") {
    const candidates = deleteCandidates(stores);
    const hint = candidates.length
      ? ` Delete one of your stores to make room, for example ${candidates.map((s) => `“${s.name}”`).join(", ")}.`
      : " Delete one of your stores to make room, or ask an administrator for a larger quota.";
    return { text: `You have reached your store quota.${hint}`, candidates };
  }
  if (error.status === 401) return { text: "Your session has ended. Sign in again." };
  if (error.code === "cross_site_request") {
    return { text: "The gateway refused this request as coming from another site. Reload the page and try again." };
  }
  if (error.status === 404) return { text: "This store no longer exists, or it is not yours to see." };
  if (error.status === 503) return { text: `${sentence(error.message)} ${waitText(error.retryAfter, now)}` };
  if (error.status >= 500) {
    const ref = error.requestId ? ` (reference ${error.requestId})` : "";
    return { text: `Something went wrong on our side${ref}. Try again in a moment.` };
  }
  return { text: sentence(error.message) };
}

function sentence(message: string): string {
  const trimmed = message.trim();
  if (!trimmed) return "The request was refused.";
  const first = trimmed[0]?.toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** Why a plan change did not happen (`plan.failed`), in words; the store keeps its plan. */
export function planFailureText(code: string, reason: string): string {
  const said = reason.trim().replace(/\.+$/, "");
  if (code === "usage_exceeds_plan") {
    return `the new plan is too small for what the store uses now${said ? `: ${said}` : ""}`;
  }
  return said || (code ? `the plan change failed (${code})` : "the plan change failed");
}
