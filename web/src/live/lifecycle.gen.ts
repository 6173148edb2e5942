// Generated from shared/lifecycle.py by `just schemas`; do not edit.

export const STATUSES = ["requested", "provisioning", "ready", "failed", "restoring", "suspending", "suspended", "resuming", "upgrading", "deleting", "deleted"] as const;
export type Status = (typeof STATUSES)[number];
export type Moves = ReadonlyArray<readonly [string, Status, Status]>;

// How far along each status is; a store only moves to a higher rank (or retries).
export const RANK: Record<Status, number> = {
  requested: 0,
  provisioning: 1,
  ready: 2,
  failed: 2,
  restoring: 2,
  suspending: 2,
  suspended: 2,
  resuming: 2,
  upgrading: 2,
  deleting: 3,
  deleted: 4,
};

// Every event type; the stream's SSE `event:` names.
export const EVENT_TYPES = [
  "requested",
  "delete",
  "provisioning",
  "progress",
  "ready",
  "failed",
  "deleting",
  "deleted",
  "backup.requested",
  "backup.started",
  "backup.completed",
  "backup.verified",
  "backup.failed",
  "backup.deleted",
  "restore.requested",
  "restore.started",
  "restore.completed",
  "restore.failed",
  "suspend.requested",
  "suspend.started",
  "suspend.completed",
  "suspend.failed",
  "resume.requested",
  "resume.started",
  "resume.completed",
  "resume.failed",
  "plan.requested",
  "plan.changed",
  "plan.failed",
  "upgrade.requested",
  "upgrade.started",
  "upgrade.completed",
  "upgrade.rolled_back",
  "upgrade.failed",
  "domain.added",
  "domain.verified",
  "domain.issuing",
  "domain.active",
  "domain.failed",
  "domain.removed",
  "domain.primary",
  "url.changed",
  "url.failed",
] as const;

// Moves allowed against the rank.
export const BACKWARD_MOVES: ReadonlyArray<readonly [Status, Status]> = [["failed", "requested"]];

// The status an event moves a store to; other events move nothing.
export const EVENT_STATUS: Record<string, Status> = {
  requested: "requested",
  provisioning: "provisioning",
  ready: "ready",
  failed: "failed",
  delete: "deleting",
  deleting: "deleting",
  deleted: "deleted",
};

// Moves only a restore makes, whatever the rank: [event type, from, to].
export const RESTORE_MOVES: Moves = [
  ["restore.started", "ready", "restoring"],
  ["restore.started", "failed", "restoring"],
  ["restore.completed", "restoring", "ready"],
  ["restore.failed", "restoring", "failed"],
];

// Moves only a suspension or a resumption makes, in the same way.
export const SUSPEND_MOVES: Moves = [
  ["suspend.started", "ready", "suspending"],
  ["suspend.completed", "suspending", "suspended"],
  ["suspend.failed", "suspending", "failed"],
  ["resume.started", "suspended", "resuming"],
  ["resume.completed", "resuming", "ready"],
  ["resume.failed", "resuming", "failed"],
];

// Moves only an engine upgrade makes.
export const UPGRADE_MOVES: Moves = [
  ["upgrade.started", "ready", "upgrading"],
  ["upgrade.completed", "upgrading", "ready"],
  ["upgrade.rolled_back", "upgrading", "ready"],
  ["upgrade.failed", "upgrading", "failed"],
];

// The operations whose moves are keyed to the operation's id (`restore_id`, or
// `operation_id` for a suspension, a resumption or an upgrade), by an event type's
// first token.
export const OPERATION_MOVES: Record<string, Moves> = {
  restore: RESTORE_MOVES,
  suspend: SUSPEND_MOVES,
  resume: SUSPEND_MOVES,
  upgrade: UPGRADE_MOVES,
};
