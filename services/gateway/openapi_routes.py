"""The table of the API's operations, from which `services.gateway.openapi` builds the
document: method, path, summary, the response type from `views`, the body model from
`validation`, parameters and error statuses. Adding a route adds a row here."""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway import rollout_views, validation, views, webhook_validation, webhook_views

JSON = "application/json"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # relative to the server URL, /api/v1
    operation_id: str
    summary: str
    status: int
    response: type | None  # None: no body
    body: type | None = None
    parameters: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()
    public: bool = False
    media: str = JSON
    body_required: bool = True


_WEBHOOK_ERRORS = (401, 404, 429)
WEBHOOK_OPERATIONS = (
    Operation(
        "post",
        "/webhooks",
        "createWebhook",
        "Register an endpoint for signed event deliveries (Standard Webhooks); the signing"
        " secret is in this answer only",
        201,
        webhook_views.NewEndpoint,
        webhook_validation.CreateWebhookBody,
        errors=(400, 401, 403, 404, 409, 413, 415, 422, 429),
    ),
    Operation(
        "get",
        "/webhooks",
        "listWebhooks",
        "The caller's endpoints, with whether each is failing and why",
        200,
        webhook_views.EndpointList,
        errors=(401, 429),
    ),
    Operation(
        "get",
        "/webhooks/{id}",
        "getWebhook",
        "One endpoint",
        200,
        webhook_views.Endpoint,
        parameters=("WebhookId",),
        errors=_WEBHOOK_ERRORS,
    ),
    Operation(
        "delete",
        "/webhooks/{id}",
        "deleteWebhook",
        "Remove an endpoint and its delivery log",
        204,
        None,
        parameters=("WebhookId",),
        errors=(*_WEBHOOK_ERRORS, 403),
    ),
    Operation(
        "post",
        "/webhooks/{id}/rotate-secret",
        "rotateWebhookSecret",
        "A new signing secret, shown in this answer only; the old one stops at once",
        200,
        webhook_views.Secret,
        parameters=("WebhookId",),
        errors=(*_WEBHOOK_ERRORS, 403),
    ),
    Operation(
        "get",
        "/webhooks/{id}/deliveries",
        "listWebhookDeliveries",
        "The endpoint's deliveries, newest first, each with its latest attempts",
        200,
        webhook_views.DeliveryPage,
        parameters=("WebhookId", "Limit", "Cursor"),
        errors=(400, 401, 404, 422, 429),
    ),
    Operation(
        "post",
        "/webhooks/{id}/redeliver",
        "redeliverWebhook",
        "Send again one event (event_id) or every event since a time (since)",
        202,
        webhook_views.Redelivery,
        webhook_validation.RedeliverBody,
        ("WebhookId",),
        (*_WEBHOOK_ERRORS, 400, 403, 413, 415, 422),
    ),
)

_STORE_ERRORS = (401, 404, 429)
OPERATIONS = (
    Operation(
        "post",
        "/auth/login",
        "login",
        "Sign in; sets the session cookie",
        200,
        views.Me,
        validation.LoginBody,
        errors=(400, 401, 403, 413, 415, 422, 429),
        public=True,
    ),
    Operation(
        "post",
        "/auth/logout",
        "logout",
        "Sign out; ends the session",
        204,
        None,
        errors=(401, 403, 429),
    ),
    Operation(
        "get",
        "/me",
        "getMe",
        "The caller, their role, quota and usage",
        200,
        views.Me,
        errors=(401, 429),
    ),
    Operation(
        "post",
        "/tokens",
        "createToken",
        "Create an API token (scope, expiry); shown once; only with a session, not a token",
        201,
        views.NewToken,
        validation.CreateTokenBody,
        errors=(400, 401, 403, 413, 415, 422, 429),
    ),
    Operation(
        "get",
        "/tokens",
        "listTokens",
        "The caller's active API tokens",
        200,
        views.TokenList,
        errors=(401, 429),
    ),
    Operation(
        "delete",
        "/tokens/{id}",
        "revokeToken",
        "Revoke an API token",
        204,
        None,
        parameters=("TokenId",),
        errors=(401, 403, 404, 429),
    ),
    Operation(
        "get",
        "/users",
        "listUsers",
        "Every user with their quota and stores in use (admins)",
        200,
        views.UserList,
        errors=(401, 403, 429),
    ),
    Operation(
        "post",
        "/admin/rollouts",
        "createRollout",
        "Roll an engine version out to every store of the engine on a version it upgrades"
        " from, in waves (admins); the reaper drives it",
        201,
        rollout_views.Rollout,
        validation.CreateRolloutBody,
        errors=(400, 401, 403, 409, 413, 415, 422, 429),
    ),
    Operation(
        "get",
        "/admin/rollouts",
        "listRollouts",
        "Every rollout, newest first (admins)",
        200,
        rollout_views.RolloutList,
        errors=(401, 403, 429),
    ),
    Operation(
        "get",
        "/admin/rollouts/{id}",
        "getRollout",
        "One rollout with its waves' progress and its stores (admins)",
        200,
        rollout_views.RolloutDetail,
        parameters=("RolloutId",),
        errors=(401, 403, 404, 429),
    ),
    Operation(
        "post",
        "/admin/rollouts/{id}/pause",
        "pauseRollout",
        "Pause a running rollout: nothing new is requested; upgrades in flight finish",
        200,
        rollout_views.Rollout,
        parameters=("RolloutId",),
        errors=(401, 403, 404, 409, 429),
    ),
    Operation(
        "post",
        "/admin/rollouts/{id}/resume",
        "resumeRollout",
        "Resume a paused rollout where it was",
        200,
        rollout_views.Rollout,
        parameters=("RolloutId",),
        errors=(401, 403, 404, 409, 429),
    ),
    Operation(
        "post",
        "/admin/rollouts/{id}/abort",
        "abortRollout",
        "Abort a running or paused rollout: nothing new is requested; it ends once the"
        " upgrades in flight settle, each store on a version that passed its health gate",
        200,
        rollout_views.Rollout,
        parameters=("RolloutId",),
        errors=(401, 403, 404, 409, 429),
    ),
    Operation(
        "get",
        "/catalog",
        "getCatalog",
        "The engines and plans you may pick, and the defaults",
        200,
        views.Catalog,
        errors=(401, 429),
    ),
    Operation(
        "post",
        "/stores",
        "createStore",
        "Ask for a new store",
        202,
        views.Store,
        validation.CreateStoreBody,
        ("IdempotencyKey",),
        (400, 401, 403, 409, 413, 415, 422, 429),
    ),
    Operation(
        "get",
        "/stores",
        "listStores",
        "Your stores (admins: everyone's), newest first",
        200,
        views.StorePage,
        parameters=("Owner", "Status", "Limit", "Cursor"),
        errors=(400, 401, 422, 429),
    ),
    Operation(
        "get",
        "/stores/{id}",
        "getStore",
        "One store",
        200,
        views.Store,
        parameters=("StoreId",),
        errors=_STORE_ERRORS,
    ),
    Operation(
        "delete",
        "/stores/{id}",
        "deleteStore",
        "Delete a store; status becomes deleting",
        202,
        views.Store,
        parameters=("StoreId",),
        errors=(*_STORE_ERRORS, 403),
    ),
    Operation(
        "post",
        "/stores/{id}/retry",
        "retryStore",
        "Request a failed store again",
        202,
        views.Store,
        parameters=("StoreId",),
        errors=(*_STORE_ERRORS, 403, 409),
    ),
    Operation(
        "post",
        "/stores/{id}/backups",
        "backUpStore",
        "Back up a ready store now; one backup of a store at a time",
        202,
        views.Backup,
        parameters=("StoreId", "IdempotencyKey"),
        errors=(*_STORE_ERRORS, 403, 409, 422),
    ),
    Operation(
        "get",
        "/stores/{id}/backups",
        "listStoreBackups",
        "The store's backups, newest first; deleted ones only when asked",
        200,
        views.BackupPage,
        parameters=("StoreId", "IncludeDeleted", "Limit", "Cursor"),
        errors=(400, 401, 404, 422, 429),
    ),
    Operation(
        "post",
        "/stores/{id}/restore",
        "restoreStore",
        "Restore a ready or failed store from one of its verified backups; the store is"
        " backed up first, then restoring",
        202,
        views.Restore,
        validation.RestoreBody,
        ("StoreId",),
        (*_STORE_ERRORS, 400, 403, 409, 413, 415, 422),
    ),
    Operation(
        "patch",
        "/stores/{id}",
        "changeStore",
        "Move a ready store to another plan: its quota, limits and workloads follow; the"
        " provisioner refuses (plan.failed) a plan its current usage does not fit, and"
        " storage never shrinks",
        202,
        views.PlanChange,
        validation.ChangeStoreBody,
        ("StoreId",),
        (*_STORE_ERRORS, 400, 409, 413, 415, 422),
    ),
    Operation(
        "post",
        "/stores/{id}/suspend",
        "suspendStore",
        "Suspend a ready store: its workloads stop (data kept) and its host answers a"
        ' "store paused" page; the owner, or an administrator for anyone\'s store. The body'
        " is optional",
        202,
        views.StoreOperation,
        validation.SuspendBody,
        ("StoreId",),
        (*_STORE_ERRORS, 400, 409, 413, 415, 422),
        body_required=False,
    ),
    Operation(
        "post",
        "/stores/{id}/resume",
        "resumeStore",
        "Resume a suspended store with the same data and secrets; it is ready again once its"
        " workloads are",
        202,
        views.StoreOperation,
        parameters=("StoreId",),
        errors=(*_STORE_ERRORS, 409),
    ),
    Operation(
        "get",
        "/stores/{id}/events",
        "getStoreEvents",
        "The store's audit timeline",
        200,
        views.AuditPage,
        parameters=("StoreId", "Limit", "Cursor"),
        errors=(400, 401, 404, 422, 429),
    ),
    Operation(
        "get",
        "/stores/{id}/credentials",
        "getStoreCredentials",
        "The store's WordPress admin login, from the provisioner",
        200,
        views.Credentials,
        parameters=("StoreId",),
        errors=(*_STORE_ERRORS, 409, 503),
    ),
    Operation(
        "get",
        "/audit",
        "getAudit",
        "The whole audit log, newest first (admins)",
        200,
        views.AuditPage,
        parameters=("AuditStore", "Actor", "Type", "Since", "Until", "Limit", "Cursor"),
        errors=(400, 401, 403, 422, 429),
    ),
    Operation(
        "get",
        "/stream",
        "streamEvents",
        "Server-Sent Events of your stores' events; `id` is the stream sequence",
        200,
        str,
        parameters=("StreamStore", "LastEventIdHeader", "LastEventIdQuery"),
        errors=(400, 401, 404, 422, 429),
        media="text/event-stream",
    ),
    Operation(
        "get", "/openapi.json", "getOpenApi", "This document", 200, dict, public=True, errors=(429,)
    ),
    *WEBHOOK_OPERATIONS,
)
