// The gateway's response bodies, as services/gateway/openapi.json describes them, and the
// event envelope the stream (/api/v1/stream) carries (schemas/events/).

import type { Status } from "../live/lifecycle.gen";

export { STATUSES, type Status } from "../live/lifecycle.gen";

export interface Owner {
  id: string;
  username: string;
}

export interface Store {
  id: string;
  name: string;
  slug: string;
  engine: string;
  /** The engine version the store runs; null for a store asked for before versions. */
  engine_version?: string | null;
  plan: string;
  namespace: string;
  status: Status;
  /** Where the store answers, as its engine has it: its primary domain's address once the
   * change is applied (url.changed), else its own host's; null until ready. */
  url: string | null;
  /** The active custom domain chosen as the store's address; null: none. */
  primary_domain?: { id: string; domain: string } | null;
  error: string | null;
  owner: Owner;
  created_at: string;
  updated_at: string;
  ready_at: string | null;
  deleted_at: string | null;
  /** A clone: the backup it started from. */
  from_backup?: { store_id: string; backup_id: string } | null;
  /** Not the gateway's: the restore, suspension or resumption this page last saw start
   * (from the feed or a 202), so a late start never reopens it (web/src/live/status.ts). */
  operation_id?: string | null;
}

export type BackupStatus = "requested" | "running" | "completed" | "verified" | "failed" | "deleted";

/** A row of GET /stores/{id}/backups. */
export interface Backup {
  id: string;
  store_id: string;
  reason: "scheduled" | "on_demand" | "pre_restore" | "pre_upgrade" | null;
  status: BackupStatus;
  requested_by: string | null;
  requested_at: string;
  started_at: string | null;
  completed_at: string | null;
  verified_at: string | null;
  size_bytes: number | null;
  engine: string | null;
  engine_version: string | null;
  orders: number | null;
  error: string | null;
}

/** GET /stores/{id}/backups: a page of backups, and how fresh the store's backups are. */
export interface BackupPage extends Page<Backup> {
  /** When the newest verified backup started, on any page; null when there is none. */
  last_verified_at: string | null;
  /** No verified backup within what the store's plan allows (the StorefleetBackupStale alert). */
  stale: boolean;
  /** The store's plan backs it up every this many hours. */
  interval_hours: number;
}

export type DomainState = "pending_dns" | "verified" | "issuing" | "active" | "failed" | "removed";
export type DomainReason = "dns_missing" | "expired" | "challenge_failed" | "rate_limited" | "owner" | "store_deleted";

/** A DNS record the store's owner creates at their DNS provider. */
export interface DnsRecord {
  type: "TXT" | "CNAME" | "A" | "AAAA";
  /** Absolute, without a final dot. */
  name: string;
  value: string;
  /** Why the record is needed. */
  purpose: string;
}

/** A custom domain of a store (GET /stores/{id}/domains, POST's 201). */
export interface Domain {
  id: string;
  store_id: string;
  /** Normalised: lower case, punycode, no final dot. */
  domain: string;
  state: DomainState;
  /** Why it failed or was removed. */
  reason: DomainReason | null;
  requested_at: string;
  /** The verifier's last look-up. */
  checked_at: string | null;
  verified_at: string | null;
  /** When its certificate was asked for. */
  issuing_at: string | null;
  /** The served certificate's expiry: null until active, and null when served over HTTP. */
  not_after: string | null;
  records: DnsRecord[];
  /** The store's primary domain: its engine's own address. */
  primary?: boolean;
}

/** GET /stores/{id}/domains: oldest first, how many the store's plan allows, which one is
 * the store's primary, where the store answers, and its own host. */
export interface DomainList {
  items: Domain[];
  max_domains: number;
  primary_domain_id?: string | null;
  url?: string | null;
  /** <slug>.<base domain>, which always answers. */
  host?: string;
}

/** The answer (202) of PUT and DELETE /stores/{id}/primary-domain. */
export interface PrimaryChange {
  operation_id: string;
  store_id: string;
  /** The new primary; null: back to the store's own host. */
  domain_id: string | null;
  domain: string | null;
}

/** A domain in the certificate queue (verified, waiting for room under the CA's limits)
 * or issuing. */
export interface QueuedDomain {
  id: string;
  store_id: string;
  /** Null while the store is not known yet. */
  store_name: string | null;
  domain: string;
  state: "verified" | "issuing";
  /** 1-based place in the queue; null while issuing. */
  position: number | null;
  verified_at: string | null;
  issuing_at: string | null;
}

/** GET /admin/domains/queue: the queue in order, then the issuing; the counts are of all. */
export interface DomainQueue {
  items: QueuedDomain[];
  queued: number;
  issuing: number;
}

/** The answer of POST /stores/{id}/restore. */
export interface Restore {
  restore_id: string;
  store_id: string;
  backup_id: string;
  status: "restoring";
}

/** The answer of POST /stores/{id}/suspend and /resume. */
export interface StoreOperation {
  operation_id: string;
  store_id: string;
  kind: "suspend" | "resume";
  /** The store's status to come. */
  status: "suspending" | "resuming";
}

/** The answer of PATCH /stores/{id} `{"plan": ...}`: a plan change under way. */
export interface PlanChange {
  operation_id: string;
  store_id: string;
  /** The plan asked for. */
  plan: string;
  /** The plan the store is on until `plan.changed`. */
  previous_plan: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface User {
  id: string;
  username: string;
  role: "user" | "admin";
  created_at: string;
}

/** The ways to sign in here (GET /auth/providers). */
export interface AuthProviders {
  password: boolean;
  sso: boolean;
  sso_name: string | null;
}

export interface Me {
  user: User;
  quota: { max_stores: number; stores: number };
}

export interface AuditEntry {
  id: string;
  kind: "event" | "credentials_access";
  type: string;
  store_id: string;
  actor: string;
  occurred_at: string;
  stream_seq: number | null;
  data: Record<string, unknown>;
}

export interface Credentials {
  username: string;
  password: string;
  url: string;
}

/** One event from the stream; `data` depends on `type` (see shared/events.py). */
export interface Envelope {
  id: string;
  type: string;
  store_id: string;
  occurred_at: string;
  actor: string;
  correlation_id: string;
  schema_version: number;
  data: Record<string, unknown>;
}

/** What a user may pick when creating a store. */
export interface Catalog {
  /** `versions` and `defaultVersion`: what the gateway's catalog offers (absent in the fallback). */
  engines: { key: string; label: string; versions?: string[]; defaultVersion?: string }[];
  plans: { key: string; label: string }[];
  defaultEngine: string;
  defaultPlan: string;
}

/** A row of the admin users view (needs GET /api/v1/users; see web/README.md). */
export interface UserRow {
  id?: string;
  username: string;
  role: "user" | "admin";
  disabled?: boolean;
  max_stores: number | null;
  stores: number;
  created_at: string;
}

export type RolloutState = "running" | "paused" | "completed" | "stopped" | "aborted";
export type RolloutCommand = "pause" | "resume" | "abort";
export type RolloutStoreState = "pending" | "requested" | "completed" | "rolled_back" | "failed" | "skipped";

/** A fleet rollout of an engine upgrade (GET /admin/rollouts, administrators). */
export interface Rollout {
  id: string;
  engine: string;
  target_version: string;
  /** Normalised cumulative sizes: "1", "5%". */
  waves: string[];
  max_concurrent: number;
  /** The share of a wave's upgrades that may fail, 0 to 1. */
  failure_threshold: number;
  pause_seconds: number;
  state: RolloutState;
  /** 0-based. */
  current_wave: number;
  next_wave_at: string | null;
  planned_at: string | null;
  ended_at: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
  /** Why it stopped; empty otherwise. */
  reason: string;
}

export interface WaveProgress {
  wave: number;
  size: string;
  stores: number;
  /** Stores by state. */
  counts: Partial<Record<RolloutStoreState, number>>;
}

export interface RolloutStore {
  store_id: string;
  /** null: skipped when picked. */
  wave: number | null;
  state: RolloutStoreState;
  operation_id: string;
  from_version: string | null;
  updated_at: string;
}

/** GET /admin/rollouts/{id}: a rollout with its waves' progress and its stores. */
export interface RolloutDetail extends Rollout {
  progress: WaveProgress[];
  /** Stores of the engine not picked. */
  skipped: number;
  stores: RolloutStore[];
}

/** POST /admin/rollouts; all but engine and version optional. */
export interface RolloutRequest {
  engine: string;
  version: string;
  waves?: (string | number)[];
  max_concurrent?: number;
  failure_threshold?: number;
  pause_seconds?: number;
}

/** An endpoint that receives the caller's stores' events (GET /webhooks). */
export interface Webhook {
  id: string;
  url: string;
  /** Event types sent, or ["*"] for all. */
  event_types: string[];
  /** Only this store's events; null: all the owner's stores. */
  store_id: string | null;
  description: string;
  created_at: string;
  /** A delivery used up its retries; cleared by the next success. */
  failing: boolean;
  failing_reason: string;
  failing_since: string | null;
}

/** The answer of POST /webhooks: the endpoint and its signing secret, shown this once. */
export interface NewWebhook extends Webhook {
  secret: string;
}

/** The answer of POST /webhooks/{id}/rotate-secret: the new secret, shown this once. */
export interface WebhookSecret {
  id: string;
  secret: string;
}

/** POST /webhooks. */
export interface WebhookRequest {
  url: string;
  event_types: string[];
  store_id?: string;
  description?: string;
}

export type DeliveryOutcome = "pending" | "delivered" | "failed";

export interface DeliveryAttempt {
  attempt: number;
  /** null when there was no answer. */
  status_code: number | null;
  latency_ms: number;
  /** The answer's first KiB at most. */
  response: string;
  /** What happened instead of an answer. */
  error: string;
  attempted_at: string;
}

export interface Delivery {
  id: number;
  event_id: string;
  event_type: string;
  /** Null for a test delivery (no store). */
  store_id: string | null;
  occurred_at: string;
  outcome: DeliveryOutcome;
  /** Attempts made since it was (re)queued. */
  attempt: number;
  next_attempt_at: string | null;
  status_code: number | null;
  latency_ms: number | null;
  response: string;
  delivered_at: string | null;
  /** The latest attempts, oldest first. */
  attempts: DeliveryAttempt[];
}

export interface DeliveryPage {
  /** Newest event first. */
  items: Delivery[];
  next_cursor: string | null;
}

/** POST /webhooks/{id}/test: the queued test delivery and its synthetic event. */
export interface TestSend {
  id: number;
  event_id: string;
}

/** POST /webhooks/{id}/redeliver: one event, or every event since a time. */
export type RedeliverRequest = { event_id: string } | { since: string };
