// A store's status as a badge: words first (colour only repeats them), announced politely
// when it changes so people using a screen reader hear a store become ready.

import type { Status } from "../api/types";

export function StatusBadge({ status }: { status: Status }) {
  return (
    <span className={`badge badge-${status}`} data-status={status} aria-live="polite">
      {status}
    </span>
  );
}
