"""The platform's side of the object storage: keys that stay in their store's prefix,
listing and deleting one backup, a server that is down or restarted, and settings that
never show the secret key."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr
from yarl import URL

from devtools.objectstore import LocalObjectStore
from devtools.procs import free_port
from shared.backup_keys import ObjectKeyError, backup_key, backup_prefix
from shared.logs import QUIET_LIBRARIES, configure_logging
from shared.objectstore import (
    ObjectStore,
    ObjectStoreError,
    ObjectStoreUnavailable,
    open_object_store,
)
from shared.settings import ObjectStoreSettings, SettingsError, load_settings
from tests.fixtures.objectstore import S3Server

STORE = "0b8f6c1e-2f6d-4c3a-9a57-5d0f1f6b2a11"
BACKUP = "6a1c0f5e-8d2b-4e7f-b3a4-9c1d2e3f4a5b"


@pytest.mark.parametrize(
    ("store_id", "backup_id", "name"),
    [
        ("../" + STORE, BACKUP, "database.dump"),
        (STORE + "/..", BACKUP, "database.dump"),
        (STORE, "..", "database.dump"),
        (STORE.upper(), BACKUP, "database.dump"),  # the same store, another prefix
        (STORE.replace("-", ""), BACKUP, "database.dump"),
        ("{" + STORE + "}", BACKUP, "database.dump"),
        (STORE[:8], BACKUP, "database.dump"),  # the start of many stores' ids
        (STORE, BACKUP, "../../../other/backups/x/database.dump"),
        (STORE, BACKUP, "files/uploads.tar"),
        (STORE, BACKUP, ".."),
        (STORE, BACKUP, ""),
    ],
)
def test_a_crafted_id_or_name_cannot_leave_its_backup(store_id: str, backup_id: str, name: str):
    with pytest.raises(ObjectKeyError):
        backup_key("storefleet", store_id, backup_id, name)


def test_a_backup_key_is_laid_out_under_its_store():
    assert backup_key("fleet/eu", STORE, BACKUP, "manifest.json") == (
        f"fleet/eu/stores/{STORE}/backups/{BACKUP}/manifest.json"
    )


@pytest.mark.parametrize(
    "key",
    [
        f"elsewhere/stores/{STORE}/backups/{BACKUP}/x",
        f"{{prefix}}/stores/{STORE}/../../../elsewhere/x",
        f"{{prefix}}//stores/{STORE}/x",
        "{prefix}x/stores",  # shares the prefix's letters, not its folder
    ],
)
async def test_the_client_refuses_keys_outside_its_prefix(object_store: ObjectStore, key: str):
    key = key.format(prefix=object_store.prefix)
    with pytest.raises(ObjectKeyError):
        await object_store.presign_get(key)
    with pytest.raises(ObjectKeyError):
        await object_store.head(key)
    with pytest.raises(ObjectKeyError, match="must end in '/'"):
        await object_store.delete_prefix(f"{object_store.prefix}/stores/{STORE[:8]}")


async def test_listing_and_deleting_one_backup_leave_the_others(object_store: ObjectStore):
    store, neighbour = str(uuid.uuid4()), str(uuid.uuid4())
    kept_backup, gone_backup = str(uuid.uuid4()), str(uuid.uuid4())
    gone = [object_store.backup_key(store, gone_backup, n) for n in ("db.dump", "manifest.json")]
    kept = [
        object_store.backup_key(store, kept_backup, "db.dump"),
        object_store.backup_key(neighbour, gone_backup, "db.dump"),  # same backup id
    ]
    for key in gone + kept:
        url = await object_store.presign_put(key)
        await _put(url, key.encode())
    one_backup = backup_prefix(object_store.prefix, store, gone_backup)

    listed = [item.key for item in await object_store.list_objects(one_backup)]
    removed = await object_store.delete_prefix(one_backup)

    assert (listed, removed) == (sorted(gone), 2)
    left = [item.key for item in await object_store.list_objects(f"{object_store.prefix}/")]
    assert left == sorted(kept)


async def test_the_server_unreachable_names_the_endpoint_but_no_secret(
    caplog: pytest.LogCaptureFixture,
):
    secret = "s3cret-" + uuid.uuid4().hex
    settings = ObjectStoreSettings(
        backup_s3_endpoint=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        backup_s3_bucket="storefleet-backups",
        backup_s3_access_key="AKIDEXAMPLE",
        backup_s3_secret_key=SecretStr(secret),
    )
    caplog.set_level(logging.DEBUG)

    async with open_object_store(settings) as store:
        url = await store.presign_get(store.backup_key(STORE, BACKUP, "db.dump"))
        with pytest.raises(ObjectStoreUnavailable) as caught:
            await store.head(store.backup_key(STORE, BACKUP, "db.dump"))

    message = str(caught.value)
    assert settings.backup_s3_endpoint in message and "unreachable" in message
    everything = message + repr(caught.value.__cause__) + caplog.text + repr(settings) + url
    assert secret not in everything
    assert "AKIDEXAMPLE" not in message


def test_settings_name_the_missing_variable_and_mask_the_secret(
    monkeypatch: pytest.MonkeyPatch,
):
    for name, value in {
        "ENDPOINT": "https://s3.example.net",
        "BUCKET": "fleet-backups",
        "ACCESS_KEY": "AKIDEXAMPLE",
        "SECRET_KEY": "wJalrXUtnFEMI-example",
        "PREFIX": "fleet/eu",
    }.items():
        monkeypatch.setenv(f"STOREFLEET_BACKUP_S3_{name}", value)

    settings = load_settings(ObjectStoreSettings)

    assert (settings.backup_s3_region, settings.backup_s3_prefix) == ("us-east-1", "fleet/eu")
    assert "wJalrXUtnFEMI" not in repr(settings) + str(settings)
    monkeypatch.setenv("STOREFLEET_BACKUP_S3_PREFIX", "/fleet/../eu")
    with pytest.raises(SettingsError, match="STOREFLEET_BACKUP_S3_PREFIX"):
        load_settings(ObjectStoreSettings)
    monkeypatch.delenv("STOREFLEET_BACKUP_S3_PREFIX")
    monkeypatch.setenv("STOREFLEET_BACKUP_S3_ENDPOINT", "https://AKID:wJalr@s3.example.net")
    with pytest.raises(SettingsError, match="STOREFLEET_BACKUP_S3_ENDPOINT") as caught:
        load_settings(ObjectStoreSettings)
    assert "wJalr" not in str(caught.value)


async def test_objects_survive_a_server_restart(s3_server: S3Server, object_store: ObjectStore):
    key = object_store.backup_key(str(uuid.uuid4()), str(uuid.uuid4()), "manifest.json")
    await _put(await object_store.presign_put(key), b"{}")

    s3_server.restart()

    assert (await object_store.digest(key)).size == 2


async def _put(url: str, body: bytes) -> None:
    async with aiohttp.ClientSession() as http, http.put(URL(url, encoded=True), data=body) as r:
        assert r.status == 200


async def test_a_service_logging_at_debug_never_writes_the_signed_requests(
    caplog: pytest.LogCaptureFixture, object_store_settings: ObjectStoreSettings
):
    """values-local runs the services at debug, where botocore would log every request
    with its Authorization header (the access key and signature) and kubernetes_asyncio
    every response body (a Secret's data)."""
    saved = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    try:
        configure_logging("provisioner", "debug")
        caplog.set_level(logging.DEBUG)
        async with open_object_store(object_store_settings) as store:
            await store.check_bucket()
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)

    assert object_store_settings.backup_s3_access_key not in caplog.text
    assert "Authorization" not in caplog.text and "Signature" not in caplog.text


async def test_a_service_waits_at_start_up_for_an_object_store_that_comes_up_later(
    tmp_path: Path,
):
    later = LocalObjectStore(tmp_path)
    # Its bucket exists before it goes down, as with any real object store: started bare,
    # the harness's own create_bucket would race the waiter's first HEAD (a 404 is final).
    await asyncio.to_thread(later.start)
    later.stop()
    try:
        async with open_object_store(later.settings()) as store:
            waiting = asyncio.create_task(store.wait_for_bucket(timeout=60))
            await asyncio.sleep(1.5)
            assert not waiting.done()  # still retrying, not failed
            await asyncio.to_thread(later.start)
            await asyncio.wait_for(waiting, 30)
    finally:
        later.stop()


async def test_start_up_gives_up_on_an_unreachable_object_store_after_its_wait(
    object_store_settings: ObjectStoreSettings,
):
    nowhere = object_store_settings.model_copy(
        update={"backup_s3_endpoint": f"http://127.0.0.1:{free_port()}"}
    )
    async with open_object_store(nowhere) as store:
        with pytest.raises(ObjectStoreUnavailable, match="unreachable"):
            await store.wait_for_bucket(timeout=1)


async def test_start_up_does_not_wait_out_a_bucket_that_does_not_exist(
    object_store_settings: ObjectStoreSettings,
):
    missing = object_store_settings.model_copy(update={"backup_s3_bucket": "no-such-bucket"})
    async with open_object_store(missing) as store:
        with pytest.raises(ObjectStoreError) as caught:
            await store.wait_for_bucket(timeout=600)
    assert not isinstance(caught.value, ObjectStoreUnavailable)
