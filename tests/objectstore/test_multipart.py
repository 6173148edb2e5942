"""Large backups go up in parts (issue 14): the platform creates the upload, hands the
Job one pre-signed URL per part, and completes or aborts the upload itself. Against the
real S3-compatible server, with plain HTTP as the Job would send it."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from shared.objectstore import MIN_PART_SIZE, ObjectStore, ObjectStoreError
from tests.objectstore.pod import Pod, with_query

MiB = 1024 * 1024


def a_backup(store: ObjectStore) -> str:
    return store.backup_key(str(uuid.uuid4()), str(uuid.uuid4()), "files.tar")


async def send_part(store: ObjectStore, pod: Pod, key: str, upload: str, n: int, data: bytes):
    answer = await pod.put(await store.presign_part(key, upload, n), data)
    assert answer.status == 200, answer.body


async def test_a_12_mib_upload_through_presigned_part_urls_reads_back_intact(
    object_store: ObjectStore, pod: Pod
):
    key, body = a_backup(object_store), os.urandom(12 * MiB)
    upload = await object_store.create_upload(key)
    chunks = [body[at : at + 5 * MiB] for at in range(0, len(body), 5 * MiB)]

    for number, chunk in enumerate(chunks, start=1):
        await send_part(object_store, pod, key, upload, number, chunk)
    joined = await object_store.complete_upload(key, upload)

    assert (joined, [len(chunk) // MiB for chunk in chunks]) == (3, [5, 5, 2])
    found = await object_store.digest(key)
    assert (found.size, found.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    assert await object_store.list_uploads(f"{object_store.prefix}/") == []


async def test_a_part_url_writes_only_its_own_part_of_its_own_upload(
    object_store: ObjectStore, pod: Pod
):
    key, other_key = a_backup(object_store), a_backup(object_store)
    upload = await object_store.create_upload(key)
    other_upload = await object_store.create_upload(other_key)
    url = await object_store.presign_part(key, upload, 1)

    as_part_two = await pod.put(with_query(url, partNumber="2"), b"x" * MIN_PART_SIZE)
    into_other = await pod.put(with_query(url, uploadId=other_upload), b"x" * MIN_PART_SIZE)

    assert (as_part_two.status, into_other.status) == (403, 403)
    with pytest.raises(ObjectStoreError, match="holds no parts"):
        await object_store.complete_upload(other_key, other_upload)
    assert (await pod.put(url, b"x" * MIN_PART_SIZE)).status == 200


async def test_an_upload_missing_a_part_is_not_completed(object_store: ObjectStore, pod: Pod):
    key = a_backup(object_store)
    upload = await object_store.create_upload(key)
    await send_part(object_store, pod, key, upload, 1, os.urandom(MIN_PART_SIZE))
    await send_part(object_store, pod, key, upload, 3, b"the last part")

    with pytest.raises(ObjectStoreError, match=r"missing parts: it holds \[1, 3\]"):
        await object_store.complete_upload(key, upload)

    assert await object_store.head(key) is None
    await object_store.abort_upload(key, upload)
    assert await object_store.list_uploads(f"{object_store.prefix}/") == []
