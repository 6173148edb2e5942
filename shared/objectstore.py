"""The platform's client of the backups' object storage: any S3-compatible bucket.

Only the platform holds the bucket's key pair (`ObjectStoreSettings`). A store's backup
or restore Job gets none: it gets pre-signed URLs, each good for one method on exactly
one object key (or one part of one multipart upload) for a short while, and it uses them
with plain HTTP. Keys come from `shared.backup_keys`; this client refuses any key
outside the configured prefix.

    async with open_object_store(settings) as store:
        key = store.backup_key(store_id, backup_id, "database.dump")
        put_url = await store.presign_put(key)                # the Job PUTs the body
        upload_id = await store.create_upload(key)            # or, when it is large:
        urls = [await store.presign_part(key, upload_id, n) for n in (1, 2, 3)]
        await store.complete_upload(key, upload_id)           # after the Job's PUTs
        found = await store.digest(key)                       # size and SHA-256, read back
        get_url = await store.presign_get(key)                # a restore Job GETs it

API (all async except `backup_key`):

- `presign_get(key, expires)`, `presign_put(key, expires)`: one URL for one key.
  `expires` defaults to 15 minutes and may not exceed `MAX_URL_EXPIRY`. Presigning is
  local computation: it succeeds even while the server is down.
- `create_upload(key)` -> upload id; `presign_part(key, upload_id, part_number)`;
  `complete_upload(key, upload_id)` lists the parts the server holds and completes with
  them, refusing a gap (a part that never arrived); `abort_upload(key, upload_id)`;
  `list_uploads(prefix)` finds unfinished uploads for a sweep. Parts are 5 MiB at least
  (`MIN_PART_SIZE`) except the last, 10,000 at most.
- `head(key)` -> `ObjectInfo | None`; `list_objects(prefix)`; `delete(key)`;
  `delete_prefix(prefix)` -> how many objects went. A prefix must end in `/`.
- `digest(key)` -> `ObjectDigest(size, sha256)`, streaming the object back.
- `put(key, body)` and `read(key)` (None when absent): small objects, such as manifests.
- `check_bucket()`: the bucket exists and the key pair may use it; `wait_for_bucket(timeout)`
  checks again while the server is unreachable (start-up, where it may come up later).

Errors: `ObjectStoreUnavailable` (temporary: unreachable, timed out, 5xx, throttled;
retry later) and `ObjectStoreError` (anything else: denied, no such bucket or key). The
message names the endpoint and the bucket, never a key pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as EndpointError

from shared import backup_keys
from shared.backoff import Backoff
from shared.settings import ObjectStoreSettings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

URL_EXPIRY = timedelta(minutes=15)
MAX_URL_EXPIRY = timedelta(hours=12)
STARTUP_BACKOFF = Backoff(base=0.5, cap=5.0, jitter=0.2)

log = structlog.get_logger(__name__)
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10_000
_READ_CHUNK = 1024 * 1024
_DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys
_MISSING = {"404", "NoSuchKey", "NotFound"}
_TEMPORARY = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout"}


class ObjectStoreError(Exception):
    """A request the object storage refused or could not serve; names no secret."""


class ObjectStoreUnavailable(ObjectStoreError):
    """The object storage could not be reached or did not answer in time: retry later."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: datetime


@dataclass(frozen=True)
class ObjectDigest:
    """What an object holds, as read back from the bucket."""

    size: int
    sha256: str  # hex


@dataclass(frozen=True)
class PendingUpload:
    """A multipart upload created and neither completed nor aborted."""

    key: str
    upload_id: str
    initiated: datetime


@contextlib.asynccontextmanager
async def open_object_store(settings: ObjectStoreSettings) -> AsyncIterator[ObjectStore]:
    """An `ObjectStore` whose connections close when the block ends."""
    config = AioConfig(
        signature_version="s3v4",
        s3={"addressing_style": settings.backup_s3_addressing_style},
        connect_timeout=10,
        read_timeout=60,
        retries={"max_attempts": 3, "mode": "standard"},
        # Many S3-compatible servers reject the newer default checksum headers.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    client = get_session().create_client(
        "s3",
        endpoint_url=settings.backup_s3_endpoint,
        region_name=settings.backup_s3_region,
        aws_access_key_id=settings.backup_s3_access_key,
        aws_secret_access_key=settings.backup_s3_secret_key.get_secret_value(),
        config=config,
    )
    async with client as s3:
        yield ObjectStore(s3, settings)


class ObjectStore:
    """One bucket under one prefix; see the module docstring."""

    def __init__(self, client: S3Client, settings: ObjectStoreSettings) -> None:
        self._s3 = client
        self.bucket = settings.backup_s3_bucket
        self.prefix = settings.backup_s3_prefix
        self.endpoint = settings.backup_s3_endpoint

    def backup_key(self, store_id: str, backup_id: str, name: str) -> str:
        """`<prefix>/stores/<store_id>/backups/<backup_id>/<name>`, ids checked."""
        return backup_keys.backup_key(self.prefix, store_id, backup_id, name)

    async def presign_get(self, key: str, expires: timedelta = URL_EXPIRY) -> str:
        """A URL that GETs `key`, and nothing else, until it expires."""
        return await self._presign("get_object", {"Key": self._key(key)}, expires)

    async def presign_put(self, key: str, expires: timedelta = URL_EXPIRY) -> str:
        """A URL that PUTs one body at `key`, and nothing else, until it expires."""
        return await self._presign("put_object", {"Key": self._key(key)}, expires)

    async def create_upload(self, key: str) -> str:
        """Start a multipart upload of `key`; returns its upload id."""
        with self._errors(f"creating an upload of {key}"):
            answer = await self._s3.create_multipart_upload(Bucket=self.bucket, Key=self._key(key))
        return answer["UploadId"]

    async def presign_part(
        self, key: str, upload_id: str, part_number: int, expires: timedelta = URL_EXPIRY
    ) -> str:
        """A URL that PUTs part `part_number` (1 to 10,000) of this one upload."""
        if not 1 <= part_number <= MAX_PARTS:
            raise ValueError(f"part numbers run from 1 to {MAX_PARTS}, got {part_number}")
        params = {"Key": self._key(key), "UploadId": upload_id, "PartNumber": part_number}
        return await self._presign("upload_part", params, expires)

    async def complete_upload(self, key: str, upload_id: str) -> int:
        """Join the parts the server holds, in order; returns how many. A missing part
        (numbers not 1..n) is refused rather than joined into a short object."""
        parts = await self._uploaded_parts(key, upload_id)
        numbers = [part["PartNumber"] for part in parts]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ObjectStoreError(f"upload of {key} is missing parts: it holds {numbers}")
        with self._errors(f"completing the upload of {key}"):
            await self._s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self._key(key),
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            )
        return len(parts)

    async def _uploaded_parts(self, key: str, upload_id: str) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        pages = self._s3.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=self._key(key), UploadId=upload_id
        )
        with self._errors(f"listing the parts of the upload of {key}"):
            async for page in pages:
                parts += [
                    {"PartNumber": part["PartNumber"], "ETag": part["ETag"]}
                    for part in page.get("Parts", [])
                ]
        if not parts:
            raise ObjectStoreError(f"upload of {key} holds no parts")
        return sorted(parts, key=lambda part: int(part["PartNumber"]))

    async def abort_upload(self, key: str, upload_id: str) -> None:
        """Drop an upload and the parts it holds."""
        with self._errors(f"aborting the upload of {key}"):
            await self._s3.abort_multipart_upload(
                Bucket=self.bucket, Key=self._key(key), UploadId=upload_id
            )

    async def list_uploads(self, prefix: str) -> list[PendingUpload]:
        """Unfinished multipart uploads of keys under `prefix` (ending in `/`)."""
        pages = self._s3.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix, is_prefix=True)
        )
        found: list[PendingUpload] = []
        with self._errors(f"listing the uploads under {prefix}"):
            async for page in pages:
                found += [
                    PendingUpload(item["Key"], item["UploadId"], item["Initiated"])
                    for item in page.get("Uploads", [])
                ]
        return found

    async def head(self, key: str) -> ObjectInfo | None:
        """The object at `key`, or None when there is none."""
        try:
            with self._errors(f"reading the head of {key}"):
                answer = await self._s3.head_object(Bucket=self.bucket, Key=self._key(key))
        except ObjectStoreError as exc:
            if _code(exc.__cause__) in _MISSING:
                return None
            raise
        return ObjectInfo(key, answer["ContentLength"], answer["ETag"], answer["LastModified"])

    async def list_objects(self, prefix: str) -> list[ObjectInfo]:
        """Every object under `prefix` (ending in `/`), in key order."""
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix, is_prefix=True)
        )
        found: list[ObjectInfo] = []
        with self._errors(f"listing {prefix}"):
            async for page in pages:
                found += [
                    ObjectInfo(item["Key"], item["Size"], item["ETag"], item["LastModified"])
                    for item in page.get("Contents", [])
                ]
        return found

    async def delete(self, key: str) -> None:
        """Remove `key`; removing a key that is not there is not an error."""
        with self._errors(f"deleting {key}"):
            await self._s3.delete_object(Bucket=self.bucket, Key=self._key(key))

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under `prefix` (ending in `/`); returns how many."""
        keys = [item.key for item in await self.list_objects(prefix)]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + _DELETE_BATCH]]
            with self._errors(f"deleting under {prefix}"):
                answer = await self._s3.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": batch, "Quiet": True},  # type: ignore[typeddict-item]
                )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise ObjectStoreError(
                    f"deleting under {prefix}: {len(answer['Errors'])} refused, "
                    f"first {first.get('Key')}: {first.get('Code')}"
                )
        return len(keys)

    async def put(self, key: str, body: bytes, content_type: str = "application/json") -> None:
        """Write a small object (a manifest) in one request."""
        with self._errors(f"writing {key}"):
            await self._s3.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=body, ContentType=content_type
            )

    async def read(self, key: str, limit: int = 1024 * 1024) -> bytes | None:
        """A small object's bytes (a manifest), or None when it is not there."""
        try:
            with self._errors(f"reading {key}"):
                answer = await self._s3.get_object(Bucket=self.bucket, Key=self._key(key))
                async with answer["Body"] as body:
                    data = await body.read(limit + 1)
        except ObjectStoreError as exc:
            if _code(exc.__cause__) in {"NoSuchKey", "404"}:
                return None
            raise
        if len(data) > limit:
            raise ObjectStoreError(f"reading {key}: larger than {limit} bytes")
        return bytes(data)

    async def digest(self, key: str) -> ObjectDigest:
        """Read `key` back, computing its size and SHA-256 as the bytes arrive."""
        sha, size = hashlib.sha256(), 0
        with self._errors(f"reading {key}"):
            answer = await self._s3.get_object(Bucket=self.bucket, Key=self._key(key))
            async with answer["Body"] as body:
                while chunk := await body.read(_READ_CHUNK):
                    sha.update(chunk)
                    size += len(chunk)
        return ObjectDigest(size, sha.hexdigest())

    async def check_bucket(self) -> None:
        """Raise unless the bucket exists and this key pair may use it."""
        with self._errors("checking the bucket"):
            await self._s3.head_bucket(Bucket=self.bucket)

    async def wait_for_bucket(self, timeout: float, backoff: Backoff = STARTUP_BACKOFF) -> None:
        """`check_bucket`, again while the server cannot be reached, for up to `timeout`
        seconds: the platform's object store may start after the services that use it.
        A refusal (no such bucket, a wrong key) raises at once."""
        deadline = asyncio.get_running_loop().time() + timeout
        attempt = 0
        while True:
            try:
                return await self.check_bucket()
            except ObjectStoreUnavailable as exc:
                attempt += 1
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise
                log.warning("waiting for object storage", reason=str(exc), attempt=attempt)
                await asyncio.sleep(min(backoff.delay(attempt), left))

    async def _presign(self, method: str, params: dict[str, Any], expires: timedelta) -> str:
        if not timedelta(seconds=1) <= expires <= MAX_URL_EXPIRY:
            raise ValueError(f"a URL expires after 1 s to {MAX_URL_EXPIRY}, not {expires}")
        return await self._s3.generate_presigned_url(
            method,
            Params={"Bucket": self.bucket, **params},
            ExpiresIn=int(expires.total_seconds()),
        )

    def _key(self, key: str, *, is_prefix: bool = False) -> str:
        return backup_keys.check_key(key, self.prefix, is_prefix=is_prefix)

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn botocore's errors into ours, naming the endpoint and bucket only."""
        where = f"{self.endpoint} bucket {self.bucket}"
        try:
            yield
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            code = _code(exc) or str(status)
            temporary = status >= 500 or code in _TEMPORARY
            kind = ObjectStoreUnavailable if temporary else ObjectStoreError
            raise kind(f"{action}: object storage at {where} answered {code}") from exc
        except (EndpointError, HTTPClientError, OSError) as exc:  # refused, reset, timed out
            raise ObjectStoreUnavailable(
                f"{action}: object storage at {where} unreachable ({type(exc).__name__})"
            ) from exc
        except BotoCoreError as exc:
            raise ObjectStoreError(f"{action} at {where}: {type(exc).__name__}") from exc


def _code(exc: BaseException | None) -> str:
    if not isinstance(exc, ClientError):
        return ""
    return str(exc.response.get("Error", {}).get("Code", ""))
