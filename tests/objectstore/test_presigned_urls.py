"""A store's pod holds pre-signed URLs and no key pair (issue 14). Against the real
S3-compatible server, with plain HTTP as the pod would send it: each URL does one method
on exactly its own key until it expires, and nothing else. Every test first shows the
URL (or the request) works as handed out, so a refusal is the server's defence and not
a broken probe.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from datetime import timedelta

import pytest

from devtools.objectstore import LocalObjectStore
from shared.objectstore import ObjectStore
from tests.fixtures.objectstore import S3Server
from tests.objectstore.pod import Pod, flip_signature, swap_path, with_query

FORBIDDEN = 403


def a_backup(store: ObjectStore, name: str = "database.dump") -> str:
    return store.backup_key(str(uuid.uuid4()), str(uuid.uuid4()), name)


async def put(store: ObjectStore, pod: Pod, key: str, body: bytes) -> None:
    answer = await pod.put(await store.presign_put(key), body)
    assert answer.status == 200, answer.body


async def sha256(store: ObjectStore, key: str) -> str:
    return (await store.digest(key)).sha256


async def test_a_presigned_put_writes_exactly_its_own_key(object_store: ObjectStore, pod: Pod):
    store_id = str(uuid.uuid4())
    key = object_store.backup_key(store_id, str(uuid.uuid4()), "database.dump")
    body = os.urandom(4096)

    await put(object_store, pod, key, body)

    found = await object_store.list_objects(f"{object_store.prefix}/")
    assert [(item.key, item.size) for item in found] == [(key, len(body))]
    assert await sha256(object_store, key) == hashlib.sha256(body).hexdigest()
    answer = await pod.get(await object_store.presign_get(key))
    assert (answer.status, answer.body) == (200, body)


async def test_one_stores_url_cannot_read_another_stores_backup(
    object_store: ObjectStore, pod: Pod
):
    mine, theirs = a_backup(object_store), a_backup(object_store)
    await put(object_store, pod, mine, b"my orders")
    await put(object_store, pod, theirs, b"their orders")
    url = await object_store.presign_get(mine)
    assert (await pod.get(swap_path(url, f"/{object_store.bucket}/{mine}"))).status == 200

    answer = await pod.get(swap_path(url, f"/{object_store.bucket}/{theirs}"))

    assert answer.status == FORBIDDEN
    assert b"their orders" not in answer.body


async def test_one_stores_url_cannot_overwrite_another_stores_backup(
    object_store: ObjectStore, pod: Pod
):
    mine, theirs = a_backup(object_store), a_backup(object_store)
    await put(object_store, pod, theirs, b"their orders")
    url = await object_store.presign_put(mine)

    answer = await pod.put(swap_path(url, f"/{object_store.bucket}/{theirs}"), b"overwritten")

    assert answer.status == FORBIDDEN
    assert await sha256(object_store, theirs) == hashlib.sha256(b"their orders").hexdigest()
    assert (await pod.put(url, b"mine")).status == 200  # the URL itself was good


async def test_a_store_url_cannot_list_the_bucket_or_its_own_prefix(
    object_store: ObjectStore, pod: Pod
):
    mine, theirs = a_backup(object_store), a_backup(object_store)
    await put(object_store, pod, theirs, b"their orders")
    url = await object_store.presign_get(mine)
    store_prefix = mine.rsplit("/backups/", 1)[0] + "/"
    bucket = f"/{object_store.bucket}"

    attempts = [
        with_query(swap_path(url, bucket), **{"list-type": "2"}),
        with_query(swap_path(url, bucket), **{"list-type": "2", "prefix": store_prefix}),
        swap_path(url, bucket),
        with_query(url, **{"list-type": "2"}),  # a list query on its own object URL
    ]
    answers = [await pod.get(attempt) for attempt in attempts]

    assert [answer.status for answer in answers] == [FORBIDDEN] * len(attempts)
    assert not any(theirs.encode() in answer.body for answer in answers)


async def test_an_expired_url_is_refused(object_store: ObjectStore, pod: Pod):
    key = a_backup(object_store)
    await put(object_store, pod, key, b"orders")
    get_url = await object_store.presign_get(key, expires=timedelta(seconds=3))
    put_url = await object_store.presign_put(key, expires=timedelta(seconds=3))
    assert (await pod.get(get_url)).status == 200

    await asyncio.sleep(4.5)

    assert (await pod.get(get_url)).status == FORBIDDEN
    assert (await pod.put(put_url, b"late overwrite")).status == FORBIDDEN
    assert await sha256(object_store, key) == hashlib.sha256(b"orders").hexdigest()


async def test_a_tampered_url_is_refused(object_store: ObjectStore, pod: Pod):
    key = a_backup(object_store)
    await put(object_store, pod, key, b"orders")
    url = await object_store.presign_get(key, expires=timedelta(seconds=60))
    assert (await pod.get(with_query(url))).status == 200  # re-encoded, unchanged: fine

    flipped = await pod.get(flip_signature(url))
    longer = await pod.get(with_query(url, **{"X-Amz-Expires": "604800"}))

    assert (flipped.status, longer.status) == (FORBIDDEN, FORBIDDEN)
    assert b"orders" not in flipped.body + longer.body


async def test_unsigned_requests_are_refused(object_store: ObjectStore, pod: Pod):
    key = a_backup(object_store)
    await put(object_store, pod, key, b"orders")
    base = object_store.endpoint
    bucket = f"{base}/{object_store.bucket}"
    stray = a_backup(object_store)

    answers = {
        "list the bucket": await pod.get(f"{bucket}?list-type=2"),
        "list the prefix": await pod.get(f"{bucket}?list-type=2&prefix={object_store.prefix}/"),
        "list buckets": await pod.get(f"{base}/"),
        "read an object": await pod.get(f"{bucket}/{key}"),
        "write an object": await pod.put(f"{bucket}/{stray}", b"planted"),
    }

    assert {what: a.status for what, a in answers.items()} == dict.fromkeys(answers, FORBIDDEN)
    assert await object_store.head(stray) is None


async def test_the_unsigned_probe_would_see_a_public_bucket(s3_server: S3Server, pod: Pod):
    """The refusals above are the bucket's defence: the same unsigned requests against a
    bucket made public (a policy granting everyone) succeed."""
    if not isinstance(s3_server, LocalObjectStore):
        pytest.skip("makes a public bucket: only on the local server")
    admin, bucket = s3_server.admin_client(), f"public-{uuid.uuid4().hex[:12]}"
    admin.create_bucket(Bucket=bucket)
    admin.put_bucket_policy(Bucket=bucket, Policy=json.dumps(_everyone_may(bucket)))
    try:
        admin.put_object(Bucket=bucket, Key="stores/a/backup", Body=b"orders")
        base = f"{s3_server.endpoint}/{bucket}"

        listed = await pod.get(f"{base}?list-type=2")
        read = await pod.get(f"{base}/stores/a/backup")
        written = await pod.put(f"{base}/stores/b/planted", b"planted")

        assert (listed.status, read.status, written.status) == (200, 200, 200)
        assert b"stores/a/backup" in listed.body and read.body == b"orders"
    finally:
        for item in admin.list_objects_v2(Bucket=bucket).get("Contents", []):
            admin.delete_object(Bucket=bucket, Key=item["Key"])
        admin.delete_bucket(Bucket=bucket)


def _everyone_may(bucket: str) -> dict[str, object]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            }
        ],
    }
