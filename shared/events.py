"""The event contract: one envelope, one typed payload per event type
(docs/architecture.md, section 2).

Every message on `store.>` is one JSON `Envelope`. Integrations depend on it, so:
unknown fields are ignored (old consumers keep working when the contract grows), invalid
payloads are refused with an error naming the field, and the JSON Schemas generated from
these models are kept in `schemas/events/` (a test fails when they are stale).

Pure: no I/O imports. Publishers build events with `new_event`; consumers call
`parse_event` on raw bytes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from shared.engine_versions import VERSION_PATTERN
from shared.lifecycle import EVENT_TYPES
from shared.subjects import subject_for

SCHEMA_VERSION = 1


# Backup and restore ids name objects in the bucket: canonical lower-case UUIDs only.
Uuid = Annotated[
    str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class BackupRef(Payload):
    store_id: Uuid = Field(description="the store the backup was taken of")
    backup_id: Uuid = Field(description="the backup's id")


class Requested(Payload):
    name: str = Field(description="the store's display name", min_length=1, max_length=40)
    slug: str = Field(
        description="DNS label derived from the name",
        pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$",
        max_length=30,
    )
    engine: str = Field(description="engine registry key, e.g. woocommerce")
    plan: str = Field(description="plan catalog key, e.g. small")
    owner: str = Field(description="id of the user who owns the store")
    namespace: str = Field(description="the store's Kubernetes namespace")
    attempt: int = Field(1, ge=1, description="which request this is: 1, then one more per retry")
    from_backup: BackupRef | None = Field(
        None, description="a clone: the new store starts with this backup's data"
    )
    engine_version: str | None = Field(
        None,
        pattern=VERSION_PATTERN,
        description="the engine version the store runs (the chart's versions.yaml);"
        " null: a store asked for before versions existed, which runs the default",
    )


class Delete(Payload):
    requested_by: str = Field(description="user id or service that asked for the deletion")
    reason: str = Field("", description="why, when not the owner's request")


class Provisioning(Payload):
    worker: str = Field(description="which worker took the request")
    attempt: int = Field(1, ge=1, description="delivery attempt number")


class Progress(Payload):
    wave: Literal["guardrails", "workloads", "setup", "restore", "ingress"] = Field(
        description="which wave of the store finished"
    )
    applied: list[str] = Field(default_factory=list, description="objects applied, as Kind/name")
    message: str = Field("", description="a line for the timeline")


class Ready(Payload):
    url: str = Field(description="where the store answers")


class Failed(Payload):
    code: str = Field(description="machine-readable failure code, e.g. apply_refused")
    reason: str = Field(description="what went wrong, in words a user can read")


class Deleting(Payload):
    namespace: str = Field(description="the namespace being removed")


class Deleted(Payload):
    namespace: str = Field(description="the namespace that is gone")


BackupReason = Literal["scheduled", "on_demand", "pre_restore", "pre_upgrade"]


class BackupObject(Payload):
    size: int = Field(ge=0, description="bytes")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the object, hex")


class BackupRequested(Payload):
    backup_id: Uuid = Field(description="the backup's id, chosen by whoever asks")
    reason: BackupReason = Field(description="why: the schedule, the owner, or before a change")
    requested_by: str = Field(description="user id, or the service that scheduled it")


class BackupStarted(Payload):
    backup_id: Uuid
    worker: str = Field(description="which worker took it")
    attempt: int = Field(1, ge=1, description="delivery attempt number")


class BackupCompleted(Payload):
    backup_id: Uuid
    engine: str
    engine_version: str = Field(description="the engine chart's appVersion when it was taken")
    plan: str
    size: int = Field(ge=0, description="bytes in all of the backup's objects")
    objects: dict[str, BackupObject] = Field(
        description="each object by name (database, files), as read back from the storage"
    )
    manifest: str = Field(description="object key of the manifest, written last")
    seconds: float = Field(ge=0, description="how long the dump and its upload took")


class BackupVerified(Payload):
    backup_id: Uuid
    ok: bool = Field(description="whether the backup restored and its check passed")
    check: str = Field("order_count", description="the check query that ran")
    orders: int | None = Field(None, ge=0, description="the order count the check found")
    reason: str = Field("", description="why the verification failed, when it did")
    seconds: float = Field(0, ge=0, description="how long the throwaway restore took")


class BackupFailed(Payload):
    backup_id: Uuid
    code: str = Field(description="machine-readable failure code, e.g. storage_unavailable")
    reason: str = Field(description="what went wrong, in words a user can read")


class BackupDeleted(Payload):
    backup_id: Uuid
    reason: Literal["retention", "store_deleted", "unfinished"] = Field(
        description="which rule removed it"
    )


class RestoreRequested(Payload):
    restore_id: Uuid = Field(description="the restore's id, chosen by the gateway")
    backup_id: Uuid = Field(description="the backup to restore")
    requested_by: str = Field(description="user id of whoever asked")


class RestoreStarted(Payload):
    restore_id: Uuid
    backup_id: Uuid
    pre_restore_backup_id: Uuid = Field(description="the backup taken just before, to undo it")


class RestoreCompleted(Payload):
    restore_id: Uuid
    backup_id: Uuid
    seconds: float = Field(ge=0, description="how long the store was down")


class RestoreFailed(Payload):
    restore_id: Uuid
    backup_id: Uuid
    code: str = Field(description="machine-readable failure code")
    reason: str = Field(description="what went wrong, in words a user can read")


class SuspendRequested(Payload):
    operation_id: Uuid = Field(description="the suspension's id, chosen by the gateway")
    requested_by: str = Field(description="user id of whoever asked")
    reason: str = Field("", max_length=200, description="why, when an administrator asked")


class ResumeRequested(Payload):
    operation_id: Uuid = Field(description="the resumption's id, chosen by the gateway")
    requested_by: str = Field(description="user id of whoever asked")


class OperationStarted(Payload):
    operation_id: Uuid


class OperationCompleted(Payload):
    operation_id: Uuid
    seconds: float = Field(ge=0, description="how long it took")


class OperationFailed(Payload):
    operation_id: Uuid
    code: str = Field(description="machine-readable failure code")
    reason: str = Field(description="what went wrong, in words a user can read")


class PlanRequested(Payload):
    operation_id: Uuid = Field(description="the plan change's id, chosen by the gateway")
    plan: str = Field(description="the plan to move to, a catalog key")
    previous_plan: str = Field(description="the plan the store was on when asked")
    requested_by: str = Field(description="user id of whoever asked")


class PlanChanged(Payload):
    operation_id: Uuid
    plan: str = Field(description="the plan the store is on now")
    previous_plan: str
    seconds: float = Field(ge=0, description="how long the change took")


class PlanFailed(Payload):
    operation_id: Uuid
    plan: str = Field(description="the plan that was asked for; the store stays on its own")
    code: str = Field(description="machine-readable failure code, e.g. usage_exceeds_plan")
    reason: str = Field(description="what went wrong, in words a user can read")


class UpgradeRequested(Payload):
    operation_id: Uuid = Field(description="the upgrade's id, chosen by whoever asks")
    version: str = Field(pattern=VERSION_PATTERN, description="the engine version to move to")
    previous_version: str = Field(description="the version the store was on when asked")
    requested_by: str = Field(description="user id of whoever asked, or the rollout's driver")
    rollout_id: Uuid | None = Field(None, description="the rollout this upgrade belongs to")


class UpgradeStarted(Payload):
    operation_id: Uuid
    version: str
    previous_version: str
    pre_upgrade_backup_id: Uuid = Field(description="the backup taken just before, to undo it")


class UpgradeCompleted(Payload):
    operation_id: Uuid
    version: str = Field(description="the version the store is on now")
    previous_version: str
    seconds: float = Field(ge=0, description="how long the upgrade took, backup included")


class UpgradeRolledBack(Payload):
    operation_id: Uuid
    version: str = Field(description="the version that failed its health gate")
    previous_version: str = Field(description="the version the store is back on")
    code: str = Field(description="machine-readable reason the gate failed")
    reason: str = Field(description="what went wrong, in words a user can read")
    seconds: float = Field(ge=0, description="how long the upgrade and rollback took")


class UpgradeFailed(Payload):
    operation_id: Uuid
    version: str = Field(
        "", description="the version that was asked for; empty when the reaper gave up on it"
    )
    code: str = Field(description="machine-readable failure code")
    reason: str = Field(description="what went wrong, in words a user can read")


DomainName = Annotated[str, Field(max_length=253, pattern=r"^[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})+$")]


class DomainAdded(Payload):
    domain_id: Uuid = Field(description="the domain request's id, chosen by the gateway")
    domain: DomainName = Field(description="the domain, normalised (lower case, punycode)")
    challenge: str = Field(description="the TXT record the owner is asked to create")
    requested_by: str = Field(description="user id of whoever asked")


class DomainVerified(Payload):
    domain_id: Uuid
    domain: DomainName


class DomainIssuing(Payload):
    domain_id: Uuid
    domain: DomainName


class DomainActive(Payload):
    domain_id: Uuid
    domain: DomainName
    not_after: datetime | None = Field(
        None, description="when the certificate ends; absent when served without TLS"
    )


class DomainFailed(Payload):
    domain_id: Uuid
    domain: DomainName
    reason: Literal["dns_missing", "expired", "challenge_failed", "rate_limited"] = Field(
        description="why the domain cannot be used"
    )


class DomainRemoved(Payload):
    domain_id: Uuid
    domain: DomainName
    reason: Literal["owner", "dns_missing", "store_deleted"] = Field(
        description="the owner removed it, its TXT record disappeared, or the store is deleted"
    )
    requested_by: str = Field(description="user id of whoever asked, or the verifier")


class DomainPrimary(Payload):
    operation_id: Uuid = Field(description="the change's id, chosen by whoever asks")
    domain_id: Uuid | None = Field(
        None, description="the store's active custom domain it answers at; null: its platform host"
    )
    domain: DomainName | None = Field(None, description="that domain; null: the platform host")
    tls: bool = Field(
        True,
        description="whether the domain is served with a certificate (https), as the reaper"
        " serves it; ignored for the platform host",
    )
    reason: Literal["owner", "domain_ended"] = Field(
        description="owner: the owner (or an administrator) chose it; domain_ended: the"
        " primary domain stopped being served, and the store goes back to its platform host"
    )
    ended_domain: DomainName | None = Field(
        None, description="with domain_ended: the primary domain that stopped being served"
    )
    requested_by: str = Field(description="user id of whoever asked, or the reaper")


class UrlChanged(Payload):
    operation_id: Uuid
    url: str = Field(description="the address the store's engine answers at from now on")
    domain_id: Uuid | None = Field(None, description="its primary domain; null: the platform host")
    domain: DomainName | None = None
    seconds: float = Field(ge=0, description="how long the change took")


class UrlFailed(Payload):
    operation_id: Uuid
    url: str = Field(
        description="the address that was asked for; empty: the store's own host's, when"
        " the store could not be read"
    )
    code: str = Field(description="machine-readable failure code, e.g. store_not_ready")
    reason: str = Field(description="what went wrong, in words a user can read")


class Envelope(BaseModel):
    """Fields every event carries; `type` selects the payload model of `data`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(description="unique event id, also the Nats-Msg-Id", min_length=1)
    store_id: str = Field(description="the store this event is about", min_length=1)
    occurred_at: datetime = Field(description="when it happened (UTC, RFC 3339)")
    actor: str = Field(description="user id or service name that caused it", min_length=1)
    correlation_id: str = Field(description="id of the HTTP request that started the chain")
    schema_version: int = Field(SCHEMA_VERSION, ge=1, description="envelope contract version")

    @property
    def subject(self) -> str:
        return subject_for(self.type, self.store_id)  # type: ignore[attr-defined]

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


# Written out, unlike the other event models, because the provisioner types its handler
# with it.
class StoreRequested(Envelope):
    type: Literal["requested"] = "requested"
    data: Requested


# The payload of each event type; a type of `shared.lifecycle.EVENT_TYPES` without one
# here carries an empty payload.
PAYLOADS: dict[str, type[Payload]] = {
    "requested": Requested,
    "delete": Delete,
    "provisioning": Provisioning,
    "progress": Progress,
    "ready": Ready,
    "failed": Failed,
    "deleting": Deleting,
    "deleted": Deleted,
    "backup.requested": BackupRequested,
    "backup.started": BackupStarted,
    "backup.completed": BackupCompleted,
    "backup.verified": BackupVerified,
    "backup.failed": BackupFailed,
    "backup.deleted": BackupDeleted,
    "restore.requested": RestoreRequested,
    "restore.started": RestoreStarted,
    "restore.completed": RestoreCompleted,
    "restore.failed": RestoreFailed,
    "suspend.requested": SuspendRequested,
    "suspend.started": OperationStarted,
    "suspend.completed": OperationCompleted,
    "suspend.failed": OperationFailed,
    "resume.requested": ResumeRequested,
    "resume.started": OperationStarted,
    "resume.completed": OperationCompleted,
    "resume.failed": OperationFailed,
    "plan.requested": PlanRequested,
    "plan.changed": PlanChanged,
    "plan.failed": PlanFailed,
    "upgrade.requested": UpgradeRequested,
    "upgrade.started": UpgradeStarted,
    "upgrade.completed": UpgradeCompleted,
    "upgrade.rolled_back": UpgradeRolledBack,
    "upgrade.failed": UpgradeFailed,
    "domain.added": DomainAdded,
    "domain.verified": DomainVerified,
    "domain.issuing": DomainIssuing,
    "domain.active": DomainActive,
    "domain.failed": DomainFailed,
    "domain.removed": DomainRemoved,
    "domain.primary": DomainPrimary,
    "url.changed": UrlChanged,
    "url.failed": UrlFailed,
}
if not set(PAYLOADS) <= set(EVENT_TYPES):
    raise AssertionError(
        f"payload models for unknown event types: {set(PAYLOADS) - set(EVENT_TYPES)}"
    )


def _model(event_type: str) -> type[Envelope]:
    """`Store<Type>`: the envelope whose `type` is `event_type`, carrying its payload."""
    if event_type == "requested":
        return StoreRequested
    name = "Store" + "".join(token.capitalize() for token in event_type.split("."))
    fields: dict[str, Any] = {
        "type": (Literal[event_type], event_type),
        "data": (PAYLOADS.get(event_type, Payload), ...),
    }
    return create_model(name, __base__=Envelope, __module__=__name__, **fields)


EVENT_MODELS: dict[str, type[Envelope]] = {t: _model(t) for t in EVENT_TYPES}

# The discriminated union of every event model, built from EVENT_MODELS.
Event = Annotated[Union[tuple(EVENT_MODELS.values())], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
_EVENT: TypeAdapter[Envelope] = TypeAdapter(Event)  # type: ignore[arg-type]


class InvalidEvent(ValueError):
    """A message body that is not a valid event; `field` names the first bad field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def parse_event(raw: bytes | str) -> Envelope:
    """Validate a message body into its typed event, or raise `InvalidEvent`."""
    try:
        return _EVENT.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] in {"union_tag_invalid", "union_tag_not_found"}:
            raise InvalidEvent("type", first["msg"]) from None
        loc = [str(p) for p in first["loc"]]
        # Drop the discriminator tag pydantic puts first (e.g. "ready") from the path.
        if loc and loc[0] in EVENT_MODELS:
            loc = loc[1:]
        raise InvalidEvent(".".join(loc) or "body", first["msg"]) from None


def new_event(
    event_type: str,
    store_id: str,
    data: Payload | dict[str, Any],
    *,
    actor: str,
    correlation_id: str,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Build a typed event with a fresh id and the current time."""
    model = EVENT_MODELS[event_type]
    return model.model_validate(
        {
            "id": event_id or str(uuid.uuid4()),
            "store_id": store_id,
            "occurred_at": occurred_at or datetime.now(UTC),
            "actor": actor,
            "correlation_id": correlation_id,
            "data": data,
        }
    )


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema per event type, plus `event` for the discriminated union."""
    schemas = {name: model.model_json_schema() for name, model in EVENT_MODELS.items()}
    schemas["event"] = _EVENT.json_schema()
    return schemas
