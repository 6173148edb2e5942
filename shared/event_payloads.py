"""The payload of each event type (`PAYLOADS`): the typed `data` of the envelope
`shared.events` defines. Split from it for size; import from `shared.events`, which
re-exports what callers use.

Pure: no I/O imports.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.engine_versions import VERSION_PATTERN
from shared.lifecycle import EVENT_TYPES

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
