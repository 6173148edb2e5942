"""The Jobs that move a store's data: `dump` (a backup), `restore` and `verify` (restore
into a throwaway database and count the orders), each run in the store's own namespace by
the backup image (`images/backup/sfbackup.py`), and the Secret carrying its plan.

The plan holds pre-signed URLs for exactly the objects the Job writes or reads, never a
key pair (`shared.objectstore`); the database password comes from the store's own Secret,
mounted as a file. The Job runs as the engine's file owner, under Pod Security
`restricted`, with a read-only root filesystem and no service account token; its pods
carry `BACKUP_PODS`, which the guardrails let reach the store's database and the object
store, nothing else. The plan Secret is owned by its Job, so the Job's TTL removes both.

Pure: no I/O. Called by `services.provisioner.backups` and `services.provisioner.restores`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from services.provisioner.engines import BACKUP_PODS, BackupSpec
from services.provisioner.spec import STORE_SECRET, Manifest, StoreSpec

Action = Literal["dump", "restore", "verify"]

PLAN_DIR = "/plan"
SECRETS_DIR = "/secrets"
DATA_DIR = "/data"
SCRATCH = "/scratch"
PASSWORD_FILE = "db-password"
# Kept a while after the Job ends, for an operator to read its pod's log.
TTL_SECONDS = 600
OPERATION_LABEL = "storefleet.io/operation"
# The image's own user: a verification touches no store volume, and its throwaway
# database servers need a user the image's passwd knows.
IMAGE_UID = 65532


@dataclass(frozen=True)
class JobSettings:
    image: str
    deadline_seconds: int
    scratch_limit: str = "2Gi"
    memory_limit: str = "1Gi"
    cpu_limit: str = "1"


def job_name(action: Action, operation_id: str, attempt: int = 1) -> str:
    """`dump-2-<backup id>`: one name per operation and attempt (at most 63 characters)."""
    return f"{action}-{attempt}-{operation_id}"


def database_plan(spec: StoreSpec, action: Action) -> dict[str, Any]:
    db = spec.engine.backup.database
    plan: dict[str, Any] = {
        "kind": db.kind,
        "host": db.service,
        "port": db.port,
        "name": db.name,
        "user": db.user,
    }
    if action != "verify":  # a verification's database is its own throwaway server
        plan["password_file"] = f"{SECRETS_DIR}/{PASSWORD_FILE}"
    return plan


def job_plan(spec: StoreSpec, action: Action, objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The plan file of a Job: where the data is and the URLs of its objects."""
    backup = spec.engine.backup
    return {
        "engine": spec.engine.name,
        "database": database_plan(spec, action),
        "volumes": {v.name: f"{DATA_DIR}/{v.name}" for v in backup.volumes},
        "objects": objects,
    }


def backup_job(
    spec: StoreSpec, action: Action, name: str, operation_id: str, settings: JobSettings
) -> Manifest:
    backup = spec.engine.backup
    labels = {**spec.labels(), **BACKUP_PODS, OPERATION_LABEL: operation_id}
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": _pod_security(IMAGE_UID if action == "verify" else backup.run_as),
        "containers": [_container(action, settings, backup)],
        "volumes": _volumes(action, name, backup, settings),
    }
    if action != "verify" and backup.volumes:
        pod["affinity"] = _near_web(spec)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": spec.namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,  # the worker retries, with fresh URLs
            "activeDeadlineSeconds": settings.deadline_seconds,
            "ttlSecondsAfterFinished": TTL_SECONDS,
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def plan_secret(spec: StoreSpec, job: Manifest, plan: dict[str, Any]) -> Manifest:
    """The Job's plan as a Secret owned by the Job (`job` as the API server returned it)."""
    meta = job["metadata"]
    owner = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": meta["name"],
        "uid": meta["uid"],
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": meta["name"],
            "namespace": spec.namespace,
            "labels": {**spec.labels(), **BACKUP_PODS},
            "ownerReferences": [owner],
        },
        "type": "Opaque",
        "stringData": {"plan.json": json.dumps(plan)},
    }


def _pod_security(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container(action: Action, settings: JobSettings, backup: BackupSpec) -> dict[str, Any]:
    mounts = [
        {"name": "plan", "mountPath": PLAN_DIR, "readOnly": True},
        {"name": "scratch", "mountPath": SCRATCH},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if action != "verify":
        mounts.append({"name": "db-secret", "mountPath": SECRETS_DIR, "readOnly": True})
        mounts += [
            {
                "name": f"data-{v.name}",
                "mountPath": f"{DATA_DIR}/{v.name}",
                "readOnly": action == "dump",
            }
            for v in backup.volumes
        ]
    return {
        "name": action,
        "image": settings.image,
        "imagePullPolicy": "IfNotPresent",
        "args": [action, "--plan", f"{PLAN_DIR}/plan.json", "--scratch", SCRATCH],
        "terminationMessagePolicy": "File",
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "256Mi"},
            "limits": {
                "cpu": settings.cpu_limit,
                "memory": settings.memory_limit,
                "ephemeral-storage": settings.scratch_limit,
            },
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }


def _volumes(
    action: Action, name: str, backup: BackupSpec, settings: JobSettings
) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = [
        {"name": "plan", "secret": {"secretName": name, "defaultMode": 0o400}},
        {"name": "scratch", "emptyDir": {"sizeLimit": settings.scratch_limit}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
    ]
    if action == "verify":
        return volumes
    key = backup.database.password_key
    volumes.append(
        {
            "name": "db-secret",
            "secret": {
                "secretName": STORE_SECRET,
                "items": [{"key": key, "path": PASSWORD_FILE}],
                "defaultMode": 0o400,
            },
        }
    )
    volumes += [
        {"name": f"data-{v.name}", "persistentVolumeClaim": {"claimName": v.claim}}
        for v in backup.volumes
    ]
    return volumes


def _near_web(spec: StoreSpec) -> dict[str, Any]:
    """Next to the web pods, which hold the file volumes (ReadWriteOnce attaches a claim to
    one node); preferred, so a store whose web pods are down still backs up."""
    web = spec.engine.web_pods
    term = {
        "labelSelector": {"matchLabels": dict(web)},
        "topologyKey": "kubernetes.io/hostname",
    }
    return {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": term}
    ]}}  # fmt: skip
