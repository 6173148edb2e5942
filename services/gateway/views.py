"""What the API answers, as typed shapes: each response body is a `TypedDict` here, and a
pure function turns a database row into it. `openapi.py` builds the document's schemas
from these same types, so the code and the document share one description.

Pure: no I/O imports. Called by the route modules, by `errors` (`encode`) and by
`openapi` (the schemas); `API` is the path prefix every API route shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired
from uuid import UUID

import orjson
from pydantic import Field, WithJsonSchema

# pydantic reads these types for the OpenAPI schemas; on 3.11 it needs this TypedDict.
from typing_extensions import TypedDict

from shared.lifecycle import STATUSES

API = "/api/v1"

# Values stay datetimes and UUIDs until `encode` writes them (RFC 3339, canonical UUID).
Timestamp = datetime
Uuid = UUID
UuidText = Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]
# Typed as text; OpenAPI lists the values of `shared.lifecycle.STATUSES`.
Status = Annotated[str, WithJsonSchema({"type": "string", "enum": list(STATUSES)})]
Row = Mapping[str, Any]


class ErrorDetail(TypedDict):
    code: Annotated[str, Field(description="machine-readable reason, e.g. slug_taken")]
    message: Annotated[str, Field(description="what is wrong, in words")]
    field: NotRequired[Annotated[str, Field(description="the field or header at fault")]]


class ErrorBody(TypedDict):
    error: ErrorDetail


class Owner(TypedDict):
    id: Uuid
    username: str


class StoreLinks(TypedDict):
    self: str
    events: str
    credentials: str
    retry: str
    backups: str
    restore: str
    suspend: str
    resume: str


class BackupRef(TypedDict):
    store_id: Uuid
    backup_id: Uuid


class PrimaryDomain(TypedDict):
    id: Uuid
    domain: str


class Store(TypedDict):
    id: Uuid
    name: str
    slug: str
    engine: str
    engine_version: Annotated[
        str | None,
        Field(description="the engine version the store runs; null: asked for before versions"),
    ]
    plan: str
    namespace: str
    status: Status
    url: Annotated[
        str | None,
        Field(
            description="where the store answers, as its engine has it: its primary domain's"
            " address once the change is applied, else its platform host's; null until ready"
        ),
    ]
    primary_domain: Annotated[
        PrimaryDomain | None,
        Field(description="the active custom domain chosen as the store's address; null: none"),
    ]
    error: str | None
    owner: Owner
    created_at: Timestamp
    updated_at: Timestamp
    ready_at: Timestamp | None
    deleted_at: Timestamp | None
    from_backup: Annotated[
        BackupRef | None, Field(description="a clone: the backup the store started from")
    ]
    links: StoreLinks


class StorePage(TypedDict):
    items: list[Store]
    next_cursor: Annotated[str | None, Field(description="pass as `cursor` for the next page")]


BackupStatus = Literal["requested", "running", "completed", "verified", "failed", "deleted"]


class Backup(TypedDict):
    id: Uuid
    store_id: Uuid
    reason: Annotated[
        Literal["scheduled", "on_demand", "pre_restore", "pre_upgrade"] | None,
        Field(description="why it was taken; null until its request is known"),
    ]
    status: Annotated[
        BackupStatus,
        Field(description="only a verified backup may be restored or cloned"),
    ]
    requested_by: Annotated[str | None, Field(description="user id, or the scheduling service")]
    requested_at: Timestamp
    started_at: Timestamp | None
    completed_at: Timestamp | None
    verified_at: Timestamp | None
    size_bytes: Annotated[int | None, Field(description="bytes in all its objects")]
    engine: str | None
    engine_version: str | None
    orders: Annotated[int | None, Field(description="the order count its verification found")]
    error: Annotated[str | None, Field(description="why it failed, when it did")]


class BackupPage(TypedDict):
    items: Annotated[list[Backup], Field(description="newest first")]
    next_cursor: Annotated[str | None, Field(description="pass as `cursor` for the next page")]
    last_verified_at: Annotated[
        Timestamp | None,
        Field(
            description="when the store's newest verified backup started (its data's age),"
            " whatever page this is; null when it has none"
        ),
    ]
    stale: Annotated[
        bool,
        Field(
            description="no verified backup within the plan's interval_hours +"
            " stale_tolerance_hours (counted from ready_at while it has none); never for a"
            " deleted store"
        ),
    ]
    interval_hours: Annotated[
        int, Field(description="the store's plan backs it up every this many hours")
    ]


class Restore(TypedDict):
    restore_id: Uuid
    store_id: Uuid
    backup_id: Uuid
    status: Annotated[Literal["restoring"], Field(description="the store's status to come")]


class StoreOperation(TypedDict):
    operation_id: Uuid
    store_id: Uuid
    kind: Literal["suspend", "resume"]
    status: Annotated[
        Literal["suspending", "resuming"], Field(description="the store's status to come")
    ]


class PlanChange(TypedDict):
    operation_id: Uuid
    store_id: Uuid
    plan: Annotated[str, Field(description="the plan asked for")]
    previous_plan: Annotated[str, Field(description="the plan the store is on until it moves")]


class User(TypedDict):
    id: Uuid
    username: str
    role: Literal["user", "admin"]
    created_at: Timestamp


class Quota(TypedDict):
    max_stores: int
    stores: Annotated[int, Field(description="stores counted against the quota (not deleted)")]


class Me(TypedDict):
    user: User
    quota: Quota


class AuthProviders(TypedDict):
    password: Annotated[bool, Field(description="whether POST /auth/login signs anyone in")]
    sso: Annotated[bool, Field(description="whether GET /auth/oidc/login is on")]
    sso_name: Annotated[str | None, Field(description="the provider's name to show")]


class UserSummary(TypedDict):
    id: Uuid
    username: str
    role: Literal["user", "admin"]
    disabled: bool
    max_stores: Annotated[int | None, Field(description="the user's own quota; null: the default")]
    stores: Annotated[int, Field(description="the user's stores that are not deleted")]
    created_at: Timestamp


class UserList(TypedDict):
    items: Annotated[list[UserSummary], Field(description="every user, by username")]
    default_max_stores: Annotated[
        int, Field(description="the quota of a user whose max_stores is null")
    ]


class CatalogEngine(TypedDict):
    key: Annotated[str, Field(description="the value of a store's `engine`")]
    label: str
    versions: Annotated[list[str], Field(description="the engine versions offered")]
    default_version: Annotated[str, Field(description="the version a new store runs")]


class CatalogPlan(TypedDict):
    key: Annotated[str, Field(description="the value of a store's `plan`")]
    label: Annotated[str, Field(description="the name and description, for a picker")]
    description: str


class Catalog(TypedDict):
    engines: list[CatalogEngine]
    plans: list[CatalogPlan]
    default_engine: str
    default_plan: str


class Token(TypedDict):
    id: Uuid
    name: str
    scope: Annotated[
        Literal["read", "full"],
        Field(description="`read`: GET requests only; `full`: whatever its user may do"),
    ]
    created_at: Timestamp
    expires_at: Annotated[
        Timestamp | None,
        Field(description="when it stops working; null: tokens made before expiry existed"),
    ]
    last_used_at: Timestamp | None


class NewToken(Token):
    token: Annotated[str, Field(description="the secret; shown this once only")]


class TokenList(TypedDict):
    items: list[Token]


class AuditEntry(TypedDict):
    id: Annotated[str, Field(description="event id, or `credentials-<n>` for an access")]
    kind: Literal["event", "credentials_access"]
    type: Annotated[str, Field(description="event type, or `credentials_viewed`")]
    store_id: UuidText
    actor: Annotated[str, Field(description="user id or service name")]
    occurred_at: Timestamp
    stream_seq: int | None
    data: dict[str, Any]


class AuditPage(TypedDict):
    items: list[AuditEntry]
    next_cursor: str | None


class Credentials(TypedDict):
    username: str
    password: str
    url: str


def _other(value: object) -> str:
    # asyncpg returns its own UUID subclass, which orjson leaves to this hook.
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode(body: object) -> bytes:
    """The JSON of a response body; datetimes and UUIDs as their standard strings."""
    return orjson.dumps(body, default=_other)


def store_links(store_id: str) -> StoreLinks:
    base = f"{API}/stores/{store_id}"
    return {
        "self": base,
        "events": f"{base}/events",
        "credentials": f"{base}/credentials",
        "retry": f"{base}/retry",
        "backups": f"{base}/backups",
        "restore": f"{base}/restore",
        "suspend": f"{base}/suspend",
        "resume": f"{base}/resume",
    }


def store_view(row: Row) -> Store:
    """A `stores` row joined with its owner's `username`."""
    return {
        "id": row["id"],
        "name": row["name"],
        "slug": row["slug"],
        "engine": row["engine"],
        "engine_version": row["engine_version"],
        "plan": row["plan"],
        "namespace": row["namespace"],
        "status": row["status"],
        "url": row["url"],
        "primary_domain": _primary(row),
        "error": row["error"],
        "owner": {"id": row["owner_id"], "username": row["username"]},
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "ready_at": row["ready_at"],
        "deleted_at": row["deleted_at"],
        "from_backup": _backup_ref(row),
        "links": store_links(str(row["id"])),
    }


def _primary(row: Row) -> PrimaryDomain | None:
    if row["primary_domain_id"] is None:
        return None
    return {"id": row["primary_domain_id"], "domain": row["primary_domain"]}


def _backup_ref(row: Row) -> BackupRef | None:
    if row["from_backup_id"] is None:
        return None
    return {"store_id": row["from_store_id"], "backup_id": row["from_backup_id"]}


def backup_view(row: Row) -> Backup:
    """A `store_backups` row."""
    result: Backup = _columns(row, Backup)
    return result


def restore_view(restore_id: str, store_id: str, backup_id: str) -> Restore:
    return {
        "restore_id": UUID(restore_id),
        "store_id": UUID(store_id),
        "backup_id": UUID(backup_id),
        "status": "restoring",
    }


def operation_view(operation_id: str, store_id: str, kind: str) -> StoreOperation:
    return {
        "operation_id": UUID(operation_id),
        "store_id": UUID(store_id),
        "kind": "suspend" if kind == "suspend" else "resume",
        "status": "suspending" if kind == "suspend" else "resuming",
    }


def plan_change_view(operation_id: str, store_id: str, plan: str, previous: str) -> PlanChange:
    return {
        "operation_id": UUID(operation_id),
        "store_id": UUID(store_id),
        "plan": plan,
        "previous_plan": previous,
    }


def _columns(row: Row, shape: Any) -> Any:
    """The row's columns named like the keys of the TypedDict `shape`."""
    return {key: row[key] for key in shape.__annotations__}


def user_view(row: Row) -> User:
    result: User = _columns(row, User)
    return result


def user_summary_view(row: Row) -> UserSummary:
    """A `users` row with `stores`, its count of stores not deleted."""
    result: UserSummary = _columns(row, UserSummary)
    return result


def token_view(row: Row) -> Token:
    result: Token = _columns(row, Token)
    return result


def audit_view(row: Row) -> AuditEntry:
    """A row of the audit union (store events and credential accesses)."""
    return {
        "id": row["entry_id"],
        "kind": row["kind"],
        "type": row["type"],
        "store_id": row["store_id"],
        "actor": row["actor"],
        "occurred_at": row["occurred_at"],
        "stream_seq": row["stream_seq"],
        "data": row["data"] or {},
    }
