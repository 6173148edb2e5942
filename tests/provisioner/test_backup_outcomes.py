"""How the backups and restores consumers settle a message before any work: one that is
not an event, or not their request, is given up (redelivering it cannot help); a
pre-restore backup request is only a record, acked untouched (the restore takes that
backup itself); and which failures are worth another attempt."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import pytest

from services.provisioner.backup_runs import BackupError
from services.provisioner.backups import BackupHandler, give_up_or_retry, permanent, retryable
from services.provisioner.data_swap import SwapTimeout
from services.provisioner.job_runs import JobFailed
from services.provisioner.restores import RestoreHandler, pre_restore_backup_id
from shared.events import new_event
from shared.objectstore import ObjectStoreError, ObjectStoreUnavailable
from shared.outcome import Outcome, TemporaryError, Verdict
from shared.worker import Delivery

STORE = str(uuid.uuid4())


def delivery(body: bytes) -> Delivery:
    return Delivery(subject="store.backup.requested.x", data=body, num_delivered=1, stream_seq=1)


def backup_request(reason: str) -> bytes:
    data = {"backup_id": str(uuid.uuid4()), "reason": reason, "requested_by": "u"}
    return new_event("backup.requested", STORE, data, actor="u", correlation_id="c").to_bytes()


# Nothing of a handler's collaborators may be touched for these messages.
UNTOUCHED = cast(Any, None)


@pytest.mark.parametrize(
    "body", [b"not json", b'{"type": "ready"}', new_event("ready", STORE, {"url": "http://x"},
                                                         actor="p", correlation_id="c").to_bytes()],
)  # fmt: skip
async def test_a_message_that_is_not_its_request_is_given_up(body: bytes) -> None:
    backups = BackupHandler(UNTOUCHED, UNTOUCHED, UNTOUCHED, "w", 5)
    restores = RestoreHandler(backups, UNTOUCHED, 5)
    for handler in (backups, restores):
        outcome = await handler(delivery(body))
        assert outcome.verdict is Verdict.GIVE_UP


@pytest.mark.parametrize("reason", ["pre_restore", "pre_upgrade"])
async def test_a_backup_its_operation_takes_itself_is_only_recorded(reason: str) -> None:
    handler = BackupHandler(UNTOUCHED, UNTOUCHED, UNTOUCHED, "w", 5)
    outcome = await handler(delivery(backup_request(reason)))
    assert outcome.verdict is Verdict.ACK


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ObjectStoreUnavailable("unreachable"), "storage_unavailable"),
        (TemporaryError("nats"), "nats_unavailable"),
        (JobFailed("the job failed"), "job_failed"),
    ],
)
def test_temporary_failures_are_retried(exc: Exception, code: str) -> None:
    retry = retryable(exc)
    assert retry is not None and retry.code == code


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (BackupError("read_back_mismatch", "differs"), "read_back_mismatch"),
        (ObjectStoreError("AccessDenied"), "storage_refused"),
        (ValueError("bug"), "internal"),
    ],
)
def test_permanent_failures_end_the_backup_with_their_code(exc: Exception, code: str) -> None:
    assert retryable(exc) is None
    assert permanent(exc)[0] == code


def test_an_operation_retries_a_temporary_failure_then_gives_up_saying_how_often() -> None:
    def attempt(n: int) -> Delivery:
        return Delivery(subject="s", data=b"", num_delivered=n, stream_seq=1)

    again = give_up_or_retry(TemporaryError("nats down"), attempt(1), 3, "late")
    assert isinstance(again, Outcome) and again.verdict is Verdict.RETRY
    assert give_up_or_retry(TemporaryError("nats down"), attempt(3), 3, "late") == (
        "nats_unavailable", "gave up after 3 attempts: nats down")  # fmt: skip
    assert give_up_or_retry(SwapTimeout("too slow"), attempt(1), 3, "late") == ("late", "too slow")
    assert give_up_or_retry(ValueError("x"), attempt(1), 3, "late") == ("internal", "ValueError")


class Published(list[tuple[str, dict[str, Any]]]):
    """The events a handler published, in order (the stream's side is tested in
    tests/real, where the backup Jobs run)."""

    async def __call__(self, event_type: str, store_id: str, data: Any, *,
                       correlation_id: str, event_id: str) -> None:  # fmt: skip
        self.append((event_type, dict(data)))


@dataclass
class Records:
    async def spec(self, store_id: str) -> Any:
        return SimpleNamespace(store_id=store_id, engine=SimpleNamespace(name="woocommerce"))


@dataclass
class Runner:
    """A store whose backup exists and whose new backups cannot be written."""

    backup_exists: bool = True

    async def manifest(self, store_id: str, backup_id: str) -> dict[str, Any] | None:
        return {"objects": {}} if self.backup_exists else None

    async def write(self, spec: Any, backup_id: str, attempt: int, reason: str) -> Any:
        raise ObjectStoreError("AccessDenied")


def restore_request(backup_id: str) -> bytes:
    data = {"restore_id": str(uuid.uuid4()), "backup_id": backup_id, "requested_by": "u"}
    return new_event("restore.requested", STORE, data, actor="u", correlation_id="c").to_bytes()


async def test_a_restore_that_cannot_take_its_pre_restore_backup_ends_that_backup_failed() -> None:
    published = Published()
    backups = BackupHandler(cast(Any, Records()), cast(Any, Runner()), cast(Any, published), "w", 5)
    body = restore_request(str(uuid.uuid4()))
    outcome = await RestoreHandler(backups, UNTOUCHED, 5)(delivery(body))

    assert outcome.verdict is Verdict.GIVE_UP
    restore_id = json.loads(body)["data"]["restore_id"]
    pre = pre_restore_backup_id(restore_id)
    assert [(t, d.get("backup_id")) for t, d in published] == [
        ("backup.requested", pre), ("backup.started", pre), ("backup.failed", pre),
        ("restore.failed", json.loads(body)["data"]["backup_id"]),
    ]  # fmt: skip
    failed = published[2][1]
    assert failed["code"] == "storage_refused"
    assert failed["reason"].startswith("the restore gave up")


async def test_a_restore_of_a_missing_backup_fails_no_backup_of_its_own() -> None:
    published = Published()
    runner = Runner(backup_exists=False)
    backups = BackupHandler(cast(Any, Records()), cast(Any, runner), cast(Any, published), "w", 5)
    outcome = await RestoreHandler(backups, UNTOUCHED, 5)(delivery(restore_request(STORE)))

    assert outcome.verdict is Verdict.GIVE_UP
    assert [t for t, _ in published] == ["restore.failed"]
    assert published[0][1]["code"] == "backup_missing"
