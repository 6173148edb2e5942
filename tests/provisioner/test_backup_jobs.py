"""The Jobs that back up, restore and verify a store, as the API server judges them: each
passes server-side dry run against the store's real quota and limits and Pod Security
`restricted`; its plan (the pre-signed URLs) travels only in a Secret owned by the Job,
never in the pod spec; a dump mounts the store's volumes read-only; the guardrails let
backup pods reach the object store and nothing else of the platform."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api

from services.provisioner.app import backup_storage
from services.provisioner.backup_jobs import (
    IMAGE_UID,
    JobSettings,
    backup_job,
    job_name,
    job_plan,
    plan_secret,
)
from services.provisioner.engines import BACKUP_PODS, ENGINES
from services.provisioner.guardrails import OBJECT_STORE_PODS, guardrails
from services.provisioner.kubeapi import StoreKube
from services.provisioner.settings import ProvisionerSettings
from services.provisioner.spec import BackupStorage, StoreSpec
from shared.settings import ObjectStoreSettings
from tests.provisioner.test_manifests import _quota_counted, a_store, cluster_shape
from tests.provisioner.test_manifests import store_namespace as store_namespace

pytestmark = pytest.mark.cluster
SETTINGS = JobSettings("storefleet/backup:dev", 3600)
BACKUP_ID = "0b9a3f4e-2c1d-4e5f-8a7b-6c5d4e3f2a1b"
SIGNED = "http://storefleet-objectstore.storefleet.svc:7070/b/k?X-Amz-Signature=abc"


def plan_of(spec: StoreSpec) -> dict[str, Any]:
    objects = {"database": {"part_size": 5 << 20, "part_urls": [SIGNED]}}
    return job_plan(spec, "dump", objects)


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("action", ["dump", "restore", "verify"])
async def test_each_backup_job_is_admitted_under_restricted_and_within_the_quota(
    engine: str, action: str, store_namespace: tuple[StoreSpec, StoreKube], kube_api: ApiClient
) -> None:
    namespaced, kube = store_namespace
    spec = replace(a_store(engine), namespace=namespaced.namespace)
    for manifest in guardrails(spec, cluster_shape("none")).policies:
        if manifest["kind"] in ("ResourceQuota", "LimitRange"):
            await kube.apply(manifest)
    await _quota_counted(kube, spec)
    job = backup_job(spec, action, job_name(action, BACKUP_ID), BACKUP_ID, SETTINGS)  # type: ignore[arg-type]

    accepted = await kube.apply(job, dry_run=True)
    pod = {"metadata": {"name": "backup"}, "spec": job["spec"]["template"]["spec"]}
    await CoreV1Api(kube_api).create_namespaced_pod(spec.namespace, pod, dry_run="All")  # type: ignore[arg-type]

    assert "X-Amz" not in str(accepted) and SIGNED not in str(accepted)
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert BACKUP_PODS.items() <= labels.items()
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    data_mounts = [m for m in container["volumeMounts"] if m["mountPath"].startswith("/data/")]
    if action == "verify":  # a throwaway database only: no store volume, no password
        assert data_mounts == []
        assert not any(m["name"] == "db-secret" for m in container["volumeMounts"])
    else:
        assert data_mounts and all(m["readOnly"] is (action == "dump") for m in data_mounts)
    uid = job["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    # The store's files are its engine's user's; a verification touches none.
    assert uid == (IMAGE_UID if action == "verify" else spec.engine.backup.run_as)


def test_only_a_job_that_reaches_the_stores_database_is_told_of_its_password() -> None:
    spec = a_store("medusa")
    mounted = backup_job(spec, "dump", "dump-1-x", BACKUP_ID, SETTINGS)
    volumes = {v["name"] for v in mounted["spec"]["template"]["spec"]["volumes"]}

    assert job_plan(spec, "dump", {})["database"]["password_file"] == "/secrets/db-password"
    assert "db-secret" in volumes
    assert "password_file" not in job_plan(spec, "verify", {})["database"]


def test_the_plan_secret_is_owned_by_its_job_and_holds_the_urls() -> None:
    spec = a_store("medusa")
    job = backup_job(spec, "dump", "dump-1-x", BACKUP_ID, SETTINGS)
    made = {**job, "metadata": {**job["metadata"], "uid": "u-1"}}

    secret = plan_secret(spec, made, plan_of(spec))

    assert secret["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "dump-1-x", "uid": "u-1"}
    ]
    assert SIGNED in secret["stringData"]["plan.json"]
    volumes = job["spec"]["template"]["spec"]["volumes"]
    assert {"name": "plan", "secret": {"secretName": "dump-1-x", "defaultMode": 0o400}} in volumes


def _storage(endpoint: str, cidrs: list[str] | None = None) -> BackupStorage | None:
    settings = ProvisionerSettings(platform_namespace="storefleet", backup_egress_cidrs=cidrs or [])
    storage = ObjectStoreSettings(
        backup_s3_endpoint=endpoint,
        backup_s3_bucket="backups",
        backup_s3_access_key="k",
        backup_s3_secret_key="s",
    )
    return backup_storage(settings, storage)


@pytest.mark.parametrize(
    ("endpoint", "cidrs", "expected"),
    [
        ("http://storefleet-objectstore.storefleet.svc:7070", None, BackupStorage(7070, True)),
        ("https://s3.eu-west-1.amazonaws.com", None, BackupStorage(443, False)),
        ("http://10.1.2.3:9000", ["10.1.2.3/32"], BackupStorage(9000, False, ("10.1.2.3/32",))),
        # Another namespace's Service is not the bundled one.
        ("http://minio.other.svc:9000", None, BackupStorage(9000, False)),
    ],
)
def test_backup_jobs_reach_the_object_store_their_urls_name(
    endpoint: str, cidrs: list[str] | None, expected: BackupStorage
) -> None:
    assert _storage(endpoint, cidrs) == expected


async def test_the_storage_policy_admits_backup_pods_to_the_bundled_store_only(
    store_namespace: tuple[StoreSpec, StoreKube],
) -> None:
    spec, kube = store_namespace
    shape = cluster_shape("none")
    bundled = replace(shape, backup_storage=BackupStorage(7070, True))
    policies = {p["metadata"]["name"]: p for p in guardrails(spec, bundled).policies}
    none = {p["metadata"]["name"] for p in guardrails(spec, shape).policies}

    policy = policies["allow-backup-storage"]
    await kube.apply(policy, dry_run=True)
    assert "allow-backup-storage" not in none
    assert policy["spec"]["podSelector"] == {"matchLabels": BACKUP_PODS}
    [rule] = policy["spec"]["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 7070}]
    assert rule["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "storefleet"}},
            "podSelector": {"matchLabels": OBJECT_STORE_PODS},
        }
    ]
