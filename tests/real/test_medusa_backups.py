"""Backups of a Medusa store on real pods, through the platform's gateway, with the
platform's bundled object store (versitygw in the cluster): a store takes an order; an
on-demand backup completes and is verified by a throwaway restore that counts the order;
the orders are then destroyed in the store's database; a restore in place brings the
order back (and keeps a pre-restore backup); a clone from the same backup is a second
store whose own host serves the same product and order history with different secrets.
A pod in the store's namespace cannot read another store's backup with a URL of its own
or reuse an expired one. The tests run in file order on one store."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from devtools.procs import free_port, wait_for_port
from services.provisioner.engines import BACKUP_PODS
from shared import backup_keys
from shared.objectstore import open_object_store
from shared.settings import ObjectStoreSettings
from tests.medusa.store_api import AdminApi, StoreApi, place_order
from tests.node.conftest import Kubectl, toolbox_pod
from tests.real import platform
from tests.real.conftest import Target
from tests.real.platform import Gateway

pytestmark = pytest.mark.timeout(2400)

READY_WITHIN = 600.0
BACKUP_WITHIN = 600.0
DATABASE_PODS = "app.kubernetes.io/component=database"


@dataclass
class Shop:
    store: dict[str, Any]
    order_id: str = ""
    backup_id: str = ""

    @property
    def id(self) -> str:
        return str(self.store["id"])

    @property
    def slug(self) -> str:
        return str(self.store["slug"])

    @property
    def namespace(self) -> str:
        return str(self.store["namespace"])


@pytest.fixture(scope="module")
async def shop(owner: Gateway, target: Target) -> AsyncIterator[Shop]:
    async with owner.watch() as watch:
        store = await owner.create_store("Backed Up Medusa")
        outcome = await watch.outcome(store["id"], within=READY_WITHIN)
    assert outcome.event == "ready", outcome.data
    await platform.served(target.ingress_url, store["slug"])
    yield Shop(store)


async def backups_of(owner: Gateway, store_id: str) -> list[dict[str, Any]]:
    answer = await owner.call("GET", f"/stores/{store_id}/backups")
    return list(answer["items"] if isinstance(answer, dict) else answer)


async def admin_of(owner: Gateway, http: Any, target: Target, store_id: str) -> AdminApi:
    credentials = await owner.credentials(store_id)
    admin = AdminApi(http, target.ingress_url)
    await admin.login(credentials["username"], credentials["password"])
    return admin


def psql(kubectl: Kubectl, namespace: str, sql: str) -> str:
    pod = kubectl.get("pods", "-n", namespace, "-l", DATABASE_PODS)["items"][0]["metadata"]["name"]
    done = kubectl.exec(namespace, pod, "psql", "-U", "medusa", "-d", "medusa", "-tAc", sql)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def test_an_on_demand_backup_completes_and_its_verification_counts_the_order(
    shop: Shop, owner: Gateway, target: Target
) -> None:
    async with platform.shop(shop.slug) as http:
        placed = await place_order(StoreApi(http, target.ingress_url), "grace@customer.example")
    shop.order_id = placed.order["id"]

    async with owner.watch() as watch:
        started = time.monotonic()
        backup = await owner.call("POST", f"/stores/{shop.id}/backups")
        frame = await watch.outcome(
            shop.id, within=BACKUP_WITHIN, events=("backup.verified", "backup.failed")
        )
        took = time.monotonic() - started
    shop.backup_id = backup["id"]

    assert frame.event == "backup.verified", frame.data
    assert frame.data["data"]["ok"] is True, json.dumps(frame.data["data"])
    assert frame.data["data"]["orders"] == 1
    assert {"backup.started", "backup.completed"} <= set(watch.types(shop.id))
    print(f"backup of a 1-order Medusa store, verified: {took:.1f}s")

    async def listed() -> dict[str, Any]:
        for _ in range(30):
            found = {b["id"]: b for b in await backups_of(owner, shop.id)}
            if found.get(shop.backup_id, {}).get("status") == "verified":
                return found[shop.backup_id]
            await asyncio.sleep(1)
        raise AssertionError(f"backup not listed as verified: {found}")

    row = await listed()
    assert row["orders"] == 1 and row["size_bytes"] > 0 and row["reason"] == "on_demand"
    assert row["engine_version"] == shop.store["engine_version"]


async def test_a_restore_in_place_brings_back_the_destroyed_orders_and_keeps_a_pre_restore_backup(
    shop: Shop, owner: Gateway, kubectl: Kubectl, target: Target
) -> None:
    assert shop.backup_id, "the backup test did not run"
    psql(kubectl, shop.namespace, 'TRUNCATE "order" CASCADE')
    async with platform.shop(shop.slug) as http:
        admin = await admin_of(owner, http, target, shop.id)
        assert await admin.count("orders") == 0

    async with owner.watch() as watch:
        started = time.monotonic()
        answer = await owner.call(
            "POST", f"/stores/{shop.id}/restore", {"backup_id": shop.backup_id}
        )
        frame = await watch.outcome(
            shop.id, within=BACKUP_WITHIN, events=("restore.completed", "restore.failed")
        )
        took = time.monotonic() - started
    assert frame.event == "restore.completed", frame.data
    assert "restore.started" in watch.types(shop.id)
    assert answer["status"] == "restoring"
    print(f"restore in place of a 1-order Medusa store: {took:.1f}s")

    await platform.served(target.ingress_url, shop.slug)
    async with platform.shop(shop.slug) as http:
        admin = await admin_of(owner, http, target, shop.id)
        order = await admin.order(shop.order_id)
    assert order["email"] == "grace@customer.example"
    assert (await owner.store(shop.id))["status"] == "ready"
    reasons = {b["reason"]: b for b in await backups_of(owner, shop.id)}
    assert reasons["pre_restore"]["status"] in ("completed", "verified")


async def test_a_clone_from_the_backup_is_a_second_store_with_the_same_data_and_its_own_secrets(
    shop: Shop, owner: Gateway, kubectl: Kubectl, target: Target
) -> None:
    assert shop.backup_id, "the backup test did not run"
    async with owner.watch() as watch:
        started = time.monotonic()
        clone = await owner.call(
            "POST", "/stores", {"name": "Cloned Medusa", "from_backup": shop.backup_id}
        )
        frame = await watch.outcome(clone["id"], within=READY_WITHIN)
        took = time.monotonic() - started
    assert frame.event == "ready", frame.data
    print(f"clone of a 1-order Medusa store, ready: {took:.1f}s")
    assert clone["engine"] == "medusa" and clone["slug"] != shop.slug

    await platform.served(target.ingress_url, clone["slug"])
    async with platform.shop(clone["slug"]) as http:
        # The clone sells: its own host, its own publishable key, the backup's product.
        placed = await place_order(StoreApi(http, target.ingress_url), "ada@customer.example")
        admin = await admin_of(owner, http, target, clone["id"])
        order = await admin.order(shop.order_id)
        orders = await admin.count("orders")
    assert order["email"] == "grace@customer.example"
    assert placed.order["id"] != shop.order_id and orders == 2
    mine, theirs = await owner.credentials(shop.id), await owner.credentials(clone["id"])
    assert mine["password"] != theirs["password"]
    assert theirs["url"] == f"http://{clone['slug']}.stores.localhost"
    await platform.delete_stores(owner, kubectl, [clone])


def _provisioner_storage(kubectl: Kubectl) -> ObjectStoreSettings:
    """The object store settings the platform's provisioner runs with: its Deployment's
    environment, with the Secret's values read through kubectl."""
    deployments = kubectl.get("deployments", "-n", platform.NAMESPACE)["items"]
    provisioner = next(d for d in deployments if d["metadata"]["name"].endswith("provisioner"))
    values: dict[str, str] = {}
    for variable in provisioner["spec"]["template"]["spec"]["containers"][0].get("env", []):
        if not variable["name"].startswith("STOREFLEET_BACKUP_S3_"):
            continue
        ref = variable.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            secret = kubectl.get("secret", ref["name"], "-n", platform.NAMESPACE)
            value = base64.b64decode(secret["data"][ref["key"]]).decode()
        else:
            value = variable["value"]
        values[variable["name"].removeprefix("STOREFLEET_").lower()] = value
    return ObjectStoreSettings.model_validate(values)


async def test_a_store_pod_cannot_read_another_stores_backup_or_reuse_an_expired_url(
    shop: Shop, kubectl: Kubectl
) -> None:
    """From a pod labelled as a backup Job of this store (so the network lets it reach
    the object store): a URL signed for this store's object, edited to name another
    store's, is refused; so are an expired URL and an unsigned listing of the bucket;
    the genuine URL works, so the refusals are the signatures' doing."""
    settings = _provisioner_storage(kubectl)
    async with open_object_store(settings) as store:
        own = store.backup_key(shop.id, shop.backup_id, "database")
        signed = await store.presign_get(own)
        expired = await store.presign_get(own, expires=timedelta(seconds=1))
    forged = signed.replace(shop.id, str(uuid.uuid4()))
    listing = f"{settings.backup_s3_endpoint}/{settings.backup_s3_bucket}/"
    await asyncio.sleep(2)
    probe = toolbox_pod("probe", shop.namespace, ["sleep", "600"], dict(BACKUP_PODS))
    kubectl.apply(probe)
    try:
        kubectl.wait_ready(shop.namespace, "probe")

        def status(url: str) -> str:
            done = kubectl.exec(shop.namespace, "probe", "curl", "-s", "-o", "/dev/null",
                                "-w", "%{http_code}", url)  # fmt: skip
            return done.stdout.strip()

        assert status(signed) == "200"
        assert status(forged) == "403"
        assert status(expired) == "403"
        assert status(listing) == "403"
    finally:
        kubectl("delete", "pod", "probe", "-n", shop.namespace, "--wait=false")


async def _backed_up(owner: Gateway, store_id: str) -> Any:
    """Ask for a backup; its last frame (verified or failed) on the live stream."""
    async with owner.watch() as watch:
        await owner.call("POST", f"/stores/{store_id}/backups")
        return await watch.outcome(
            store_id, within=BACKUP_WITHIN, events=("backup.verified", "backup.failed")
        )


async def test_with_the_object_store_down_a_backup_fails_with_the_reason_and_the_next_succeeds(
    shop: Shop, owner: Gateway, kubectl: Kubectl
) -> None:
    settings = _provisioner_storage(kubectl)
    service = (urlsplit(settings.backup_s3_endpoint).hostname or "").split(".")[0]
    scale = ("scale", "statefulset", service, "-n", platform.NAMESPACE)
    kubectl(*scale, "--replicas=0")
    try:
        await platform.until(
            lambda: not kubectl.get("pods", "-n", platform.NAMESPACE, "-l",
                                    "app.kubernetes.io/component=objectstore")["items"],
            "the object store to stop", within=120,
        )  # fmt: skip
        failed = await _backed_up(owner, shop.id)
    finally:
        kubectl(*scale, "--replicas=1")
        kubectl("rollout", "status", f"statefulset/{service}", "-n", platform.NAMESPACE,
                "--timeout=180s")  # fmt: skip

    assert failed.event == "backup.failed", failed.data
    data = failed.data["data"]
    assert data["code"] == "storage_unavailable", json.dumps(data)
    assert "unreachable" in data["reason"] and "X-Amz" not in data["reason"]
    after = await _backed_up(owner, shop.id)
    assert after.event == "backup.verified", json.dumps(after.data["data"])


KILLED_BACKUPS = 10


@contextlib.contextmanager
def port_forward(kubectl: Kubectl, service: str, port: int) -> Iterator[int]:
    """`kubectl port-forward` to a platform Service; the local port."""
    local = free_port()
    process = subprocess.Popen(
        [*kubectl.argv, "port-forward", "-n", platform.NAMESPACE, f"svc/{service}",
         f"{local}:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(local, timeout=30)
        yield local
    finally:
        process.terminate()
        process.wait(timeout=10)


def kill_provisioner(kubectl: Kubectl) -> None:
    """SIGKILL, as a node failure would: the pod goes without a grace period."""
    kubectl("delete", "pod", "-n", platform.NAMESPACE, "-l",
            "app.kubernetes.io/component=provisioner", "--grace-period=0", "--force",
            "--wait=false")  # fmt: skip


async def test_backups_killed_at_random_moments_end_complete_with_a_manifest_or_failed(
    shop: Shop, owner: Gateway, kubectl: Kubectl
) -> None:
    """Ten backups, the provisioner killed at a random moment of each: every one ends
    verified (its objects behind a manifest whose digests match them) or failed with a
    reason; no upload is left unfinished; nothing without a manifest is listed as done."""
    rng = random.Random(14)
    ids = []
    for n in range(KILLED_BACKUPS):
        async with owner.watch() as watch:
            backup = await owner.call("POST", f"/stores/{shop.id}/backups")
            await asyncio.sleep(rng.uniform(0, 25))
            await asyncio.to_thread(kill_provisioner, kubectl)
            frame = await watch.outcome(shop.id, within=BACKUP_WITHIN,
                                        events=("backup.verified", "backup.failed"))  # fmt: skip
        print(f"killed backup {n}: {frame.event}")
        ids.append(backup["id"])

    listed = {b["id"]: b for b in await backups_of(owner, shop.id)}
    settings = _provisioner_storage(kubectl)
    service = urlsplit(settings.backup_s3_endpoint).hostname.split(".")[0]  # type: ignore[union-attr]
    with port_forward(kubectl, service, 7070) as local:
        here = settings.model_copy(update={"backup_s3_endpoint": f"http://127.0.0.1:{local}"})
        async with open_object_store(here) as store:
            for backup_id in ids:
                row = listed[backup_id]
                raw = await store.read(store.backup_key(shop.id, backup_id, "manifest.json"))
                if row["status"] == "failed":
                    assert row["error"], row
                    assert raw is None, f"a failed backup has a manifest: {row}"
                    continue
                assert row["status"] == "verified", row
                assert raw is not None, f"verified without a manifest: {row}"
                manifest = json.loads(raw)
                for name, obj in manifest["objects"].items():
                    found = await store.digest(obj["key"])
                    assert (found.size, found.sha256) == (obj["size"], obj["sha256"]), name
                prefix = backup_keys.backup_prefix(store.prefix, shop.id, backup_id)
                names = {o.key.rsplit("/", 1)[1] for o in await store.list_objects(prefix)}
                assert names == {*manifest["objects"], "manifest.json"}
            store_prefix = backup_keys.store_prefix(store.prefix, shop.id)
            assert await store.list_uploads(store_prefix) == []
    assert sum(listed[i]["status"] == "verified" for i in ids) >= KILLED_BACKUPS // 2
