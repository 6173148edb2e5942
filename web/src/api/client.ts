// The one place the dashboard talks HTTP to the gateway (/api/v1, same origin).
//
// The session is the gateway's HttpOnly cookie: nothing secret is stored by this code.
// Browsers send an Origin header with every POST, PUT, PATCH and DELETE, which is what the
// gateway's cross-site check reads (services/gateway/auth.py), so no extra header is needed.
// Every refusal becomes an ApiError carrying the gateway's {code, message, field} and,
// for 429 and 503, how many seconds to wait; a request that never got an answer becomes
// a NetworkError.

import type {
  AuditEntry,
  AuthProviders,
  Backup,
  BackupPage,
  Catalog,
  Credentials,
  DeliveryPage,
  Domain,
  DomainList,
  DomainQueue,
  Me,
  NewWebhook,
  Page,
  PlanChange,
  PrimaryChange,
  RedeliverRequest,
  Restore,
  Rollout,
  RolloutCommand,
  RolloutDetail,
  RolloutRequest,
  Store,
  StoreOperation,
  TestSend,
  UserRow,
  Webhook,
  WebhookRequest,
  WebhookSecret,
} from "./types";

export const API = "/api/v1";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly retryAfter?: number,
    readonly requestId?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export class NetworkError extends Error {
  constructor() {
    super("the gateway could not be reached");
    this.name = "NetworkError";
  }
}

let onSignedOut: () => void = () => {};

/** Called whenever the gateway answers 401 to a signed-in request. */
export function whenSignedOut(handler: () => void): void {
  onSignedOut = handler;
}

/** Seconds until the moment a Retry-After header names (seconds or an HTTP date). */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const when = Date.parse(header);
  return Number.isNaN(when) ? undefined : Math.max(0, Math.ceil((when - now) / 1000));
}

interface Options {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  body?: unknown;
  query?: Record<string, string | undefined>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export async function request<T>(path: string, options: Options = {}): Promise<T> {
  const { method = "GET", body, query, signal } = options;
  const url = new URL(API + path, window.location.origin);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value) url.searchParams.set(key, value);
  }
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new NetworkError();
  }
  if (response.ok) {
    return (response.status === 204 ? undefined : await response.json()) as T;
  }
  throw await refusal(response, path);
}

async function refusal(response: Response, path: string): Promise<ApiError> {
  let code = "error";
  let message = response.statusText || `HTTP ${response.status}`;
  let field: string | undefined;
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string; field?: string } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
    field = body.error?.field;
  } catch {
    // not JSON: a proxy's page; the status says enough
  }
  if (response.status === 401 && path !== "/auth/login") onSignedOut();
  return new ApiError(
    response.status,
    code,
    message,
    field,
    retryAfterSeconds(response.headers.get("Retry-After")),
    response.headers.get("X-Request-ID") ?? undefined,
  );
}

// -- the routes -------------------------------------------------------------------------

export const login = (username: string, password: string) =>
  request<Me>("/auth/login", { method: "POST", body: { username, password } });
export const authProviders = () => request<AuthProviders>("/auth/providers");
/** Where the browser goes to sign in at the single sign-on provider (a plain link). */
export const ssoLoginUrl = (next?: string) =>
  `${API}/auth/oidc/login` + (next ? `?${new URLSearchParams({ next })}` : "");
export const logout = () => request<void>("/auth/logout", { method: "POST" });
export const me = () => request<Me>("/me");

export interface StoreFilter {
  owner?: string;
  status?: string;
  cursor?: string;
}
export const listStores = (filter: StoreFilter = {}) =>
  request<Page<Store>>("/stores", { query: { ...filter } });
export const getStore = (id: string) => request<Store>(`/stores/${encodeURIComponent(id)}`);
/** `key` (Idempotency-Key) makes a resubmission after a lost answer return the same store. */
export const createStore = (body: { name: string; engine: string; plan: string }, key: string) =>
  request<Store>("/stores", { method: "POST", body, headers: { "Idempotency-Key": key } });
export const deleteStore = (id: string) =>
  request<Store>(`/stores/${encodeURIComponent(id)}`, { method: "DELETE" });
export const retryStore = (id: string) =>
  request<Store>(`/stores/${encodeURIComponent(id)}/retry`, { method: "POST" });
export const storeEvents = (id: string, cursor?: string) =>
  request<Page<AuditEntry>>(`/stores/${encodeURIComponent(id)}/events`, {
    query: { cursor, limit: "100" },
  });
export const listBackups = (id: string, cursor?: string) =>
  request<BackupPage>(`/stores/${encodeURIComponent(id)}/backups`, { query: { cursor } });
/** `key` (Idempotency-Key) makes a resubmission after a lost answer return the same backup. */
export const backUpStore = (id: string, key: string) =>
  request<Backup>(`/stores/${encodeURIComponent(id)}/backups`, {
    method: "POST",
    headers: { "Idempotency-Key": key },
  });
export const restoreStore = (id: string, backupId: string) =>
  request<Restore>(`/stores/${encodeURIComponent(id)}/restore`, {
    method: "POST",
    body: { backup_id: backupId },
  });
export const listDomains = (id: string) => request<DomainList>(`/stores/${encodeURIComponent(id)}/domains`);
/** 201 with the DNS records to create; 422 (field `domain`, a code saying why) for a name
 * that cannot be a store's domain; 409 when it is taken, already added or over the plan. */
export const addDomain = (id: string, domain: string) =>
  request<Domain>(`/stores/${encodeURIComponent(id)}/domains`, { method: "POST", body: { domain } });
export const removeDomain = (id: string, domain: string) =>
  request<void>(`/stores/${encodeURIComponent(id)}/domains/${encodeURIComponent(domain)}`, { method: "DELETE" });
/** 202: the provisioner moves the store's engine to the active domain's address
 * (url.changed or url.failed follow on the feed); 409 unless the domain is active, the
 * store ready and no other change of it under way. */
export const choosePrimaryDomain = (id: string, domainId: string) =>
  request<PrimaryChange>(`/stores/${encodeURIComponent(id)}/primary-domain`, {
    method: "PUT",
    body: { domain_id: domainId },
  });
/** 202: back to the store's own host as its address. */
export const resetPrimaryDomain = (id: string) =>
  request<PrimaryChange>(`/stores/${encodeURIComponent(id)}/primary-domain`, { method: "DELETE" });
/** The certificate queue (administrators): verified domains in the order their certificates
 * will be asked for, then those issuing; `limit` from 1 to 500 (the gateway's default 100). */
export const domainQueue = (limit?: number) =>
  request<DomainQueue>("/admin/domains/queue", { query: { limit: limit?.toString() } });
/** Stops a ready store's workloads, data kept; `reason` (one line) is an administrator's. */
export const suspendStore = (id: string, reason?: string) =>
  request<StoreOperation>(`/stores/${encodeURIComponent(id)}/suspend`, {
    method: "POST",
    body: reason ? { reason } : undefined,
  });
/** Starts a suspended store again with the same data. */
export const resumeStore = (id: string) =>
  request<StoreOperation>(`/stores/${encodeURIComponent(id)}/resume`, { method: "POST" });
/** Moves a ready store to another plan of the catalog; `plan.changed` or `plan.failed` on
 * the feed says how it ended (the store stays ready either way). */
export const changePlan = (id: string, plan: string) =>
  request<PlanChange>(`/stores/${encodeURIComponent(id)}`, { method: "PATCH", body: { plan } });
/** A new store starting from a verified backup; its engine is the backup's. */
export const cloneStore = (name: string, backupId: string, key: string) =>
  request<Store>("/stores", {
    method: "POST",
    body: { name, from_backup: backupId },
    headers: { "Idempotency-Key": key },
  });
export const storeCredentials = (id: string) =>
  request<Credentials>(`/stores/${encodeURIComponent(id)}/credentials`);

export interface AuditFilter {
  store_id?: string;
  actor?: string;
  type?: string;
  since?: string;
  until?: string;
  cursor?: string;
}
export const auditLog = (filter: AuditFilter) => request<Page<AuditEntry>>("/audit", { query: { ...filter } });
export const listUsers = () => request<{ items: UserRow[] }>("/users");

// Fleet rollouts of an engine upgrade (administrators); the reaper drives them.
export const listRollouts = () => request<{ items: Rollout[] }>("/admin/rollouts");
export const getRollout = (id: string) => request<RolloutDetail>(`/admin/rollouts/${encodeURIComponent(id)}`);
export const startRollout = (body: RolloutRequest) => request<Rollout>("/admin/rollouts", { method: "POST", body });
export const moveRollout = (id: string, command: RolloutCommand) =>
  request<Rollout>(`/admin/rollouts/${encodeURIComponent(id)}/${command}`, { method: "POST" });

// Webhooks: endpoints receiving the caller's stores' events; the webhooks service sends.
const hook = (id: string) => `/webhooks/${encodeURIComponent(id)}`;
export const listWebhooks = () => request<{ items: Webhook[] }>("/webhooks");
export const getWebhook = (id: string) => request<Webhook>(hook(id));
/** 201 with the signing secret, which no other answer shows; 422 names the field. */
export const createWebhook = (body: WebhookRequest) => request<NewWebhook>("/webhooks", { method: "POST", body });
export const deleteWebhook = (id: string) => request<void>(hook(id), { method: "DELETE" });
/** A new secret, shown in this answer only; the old one stops at once. */
export const rotateWebhookSecret = (id: string) =>
  request<WebhookSecret>(`${hook(id)}/rotate-secret`, { method: "POST" });
export const listDeliveries = (id: string, cursor?: string) =>
  request<DeliveryPage>(`${hook(id)}/deliveries`, { query: { cursor } });
/** 202 with how many deliveries were queued again (those still pending are left). */
export const redeliver = (id: string, body: RedeliverRequest) =>
  request<{ redelivered: number }>(`${hook(id)}/redeliver`, { method: "POST", body });

export const sendTestWebhook = (id: string) => request<TestSend>(`${hook(id)}/test`, { method: "POST" });

// -- what a user may pick ---------------------------------------------------------------

/** The gateway's defaults (services/gateway/settings.py), used until it publishes its own. */
export const FALLBACK_CATALOG: Catalog = {
  engines: [{ key: "woocommerce", label: "WooCommerce" }],
  plans: [
    { key: "small", label: "small: 2 CPU / 4Gi, 20Gi storage" },
    { key: "medium", label: "medium: 4 CPU / 8Gi, 50Gi storage" },
  ],
  defaultEngine: "woocommerce",
  defaultPlan: "small",
};

interface CatalogBody {
  engines: { key: string; label?: string; versions?: string[]; default_version?: string }[];
  plans: { key: string; label?: string; description?: string }[];
  default_engine: string;
  default_plan: string;
}

/** GET /api/v1/catalog when the gateway has it (see web/README.md), else the fallback. */
export async function loadCatalog(): Promise<Catalog> {
  try {
    const body = await request<CatalogBody>("/catalog");
    return {
      engines: body.engines.map((e) => ({
        key: e.key,
        label: e.label ?? e.key,
        versions: e.versions,
        defaultVersion: e.default_version,
      })),
      plans: body.plans.map((p) => ({
        key: p.key,
        label: p.label ?? (p.description ? `${p.key}: ${p.description}` : p.key),
      })),
      defaultEngine: body.default_engine,
      defaultPlan: body.default_plan,
    };
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return FALLBACK_CATALOG;
    throw error;
  }
}
