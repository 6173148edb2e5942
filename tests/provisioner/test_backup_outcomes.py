"""How the backups and restores consumers settle a message before any work: one that is
not an event, or not their request, is given up (redelivering it cannot help); a
pre-restore backup request is only a record, acked untouched (the restore takes that
backup itself); and which failures are worth another attempt."""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest

from services.provisioner.backup_runs import BackupError
from services.provisioner.backups import BackupHandler, give_up_or_retry, permanent, retryable
from services.provisioner.data_swap import SwapTimeout
from services.provisioner.job_runs import JobFailed
from services.provisioner.restores import RestoreHandler
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
