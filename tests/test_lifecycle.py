"""`shared.lifecycle` is the one list of statuses and event types: every copy in another
form (the event models, the subjects, the dashboard's generated file, the `stores` view's
SQL) agrees with it, and the view never shows a status older than the projection's or
than the gateway's own commands."""

from __future__ import annotations

import itertools
import uuid
from typing import get_args

import asyncpg
import pytest

from scripts.generate_schemas import LIFECYCLE_TS, lifecycle_ts
from services.auditor.projection import AuditEvent, fold
from shared import lifecycle
from shared.events import EVENT_MODELS, Requested, new_event
from shared.lifecycle import RANK, STATUSES, Status, shown
from shared.subjects import split_subject, subject_for


def test_the_dashboard_file_is_generated_from_the_lifecycle() -> None:
    assert LIFECYCLE_TS.read_text() == lifecycle_ts(), "stale: run `just schemas`"


def test_every_event_type_has_one_model_and_a_subject() -> None:
    tags = [get_args(m.model_fields["type"].annotation)[0] for m in EVENT_MODELS.values()]
    assert tuple(EVENT_MODELS) == lifecycle.EVENT_TYPES
    assert tuple(tags) == lifecycle.EVENT_TYPES
    for event_type in lifecycle.EVENT_TYPES:
        assert subject_for(event_type, "s1") == f"store.{event_type}.s1"
        assert split_subject(f"store.{event_type}.s1") == (event_type, "s1")
    assert split_subject("store.exploded.s1") is None
    assert split_subject("storefleet.rpc.credentials") is None


def test_only_restore_events_move_a_store_into_or_out_of_restoring() -> None:
    into = {
        s for s in Status for t in lifecycle.EVENT_TYPES if lifecycle.moved_by(s, t) == "restoring"
    }
    assert into == {Status.READY, Status.FAILED}
    leaving = {t for t in lifecycle.EVENT_TYPES if lifecycle.moved_by(Status.RESTORING, t)}
    assert leaving == {"restore.completed", "restore.failed", "delete", "deleting", "deleted"}
    assert not any(
        lifecycle.moved_by(s, t)
        for s in Status
        for t in lifecycle.EVENT_TYPES
        if t.startswith("backup.")
    )


def test_every_status_has_a_rank_an_event_and_one_kind() -> None:
    assert set(RANK) == set(STATUSES)
    reached = set(lifecycle.EVENT_STATUS.values())
    for moves in lifecycle.OPERATION_MOVES.values():
        reached |= set(moves.values())
    assert reached == set(Status)
    for status in Status:
        kinds = [status in lifecycle.TRANSITIONAL, status in lifecycle.TERMINAL]
        assert kinds.count(True) == 1, status


def test_only_a_failed_store_moves_back_and_only_to_requested() -> None:
    backward = {
        (a, b)
        for a, b in itertools.product(Status, Status)
        if lifecycle.may_move(a, b) and RANK[b] <= RANK[a]
    }
    assert backward == {(Status.FAILED, Status.REQUESTED)}
    assert [s for s in Status if lifecycle.can_restore(s)] == [Status.READY, Status.FAILED]
    assert [s for s in Status if lifecycle.can_retry(s)] == [Status.FAILED]
    assert [s for s in Status if lifecycle.can_suspend(s)] == [Status.READY]
    assert [s for s in Status if lifecycle.can_resume(s)] == [Status.SUSPENDED]


def test_only_suspend_and_resume_events_move_a_store_through_a_suspension() -> None:
    paused = {Status.SUSPENDING, Status.SUSPENDED, Status.RESUMING}
    into = {
        (s, t)
        for s in Status
        for t in lifecycle.EVENT_TYPES
        if s not in paused and lifecycle.moved_by(s, t) in paused
    }
    assert into == {(Status.READY, "suspend.started")}
    for status in paused:
        leaving = {
            t for t in lifecycle.EVENT_TYPES if lifecycle.moved_by(status, t) not in (None, *paused)
        }
        ends = {"suspending": {"suspend.failed"}, "resuming": {"resume.completed", "resume.failed"}}
        assert leaving == {"delete", "deleting", "deleted", *ends.get(status, set())}, status
    # Nothing a provisioning makes (a late `ready`, `failed`) moves a suspended store.
    assert lifecycle.moved_by(Status.SUSPENDED, "ready") is None
    assert lifecycle.moved_by(Status.SUSPENDED, "failed") is None
    assert lifecycle.moved_by(Status.SUSPENDED, "requested") is None


def _event(event_type: str, seq: int, data: dict[str, object]) -> AuditEvent:
    envelope = new_event(event_type, STORE, data, actor="t", correlation_id="c")
    return AuditEvent.from_envelope(envelope, seq, envelope.model_dump_json())


STORE = str(uuid.uuid4())
REQUEST = Requested(
    name="Shop",
    slug="shop",
    engine="woocommerce",
    plan="small",
    owner=str(uuid.uuid4()),
    namespace="store-shop-1",
)


def test_a_retry_counts_in_the_projection_and_starts_clean() -> None:
    row = fold(
        [
            _event("requested", 1, REQUEST.model_dump()),
            _event("failed", 2, {"code": "x", "reason": "boom"}),
            _event("requested", 3, {**REQUEST.model_dump(), "attempt": 2}),
        ]
    )
    assert row is not None
    assert (row.status, row.attempt, row.error) == ("requested", 2, None)


def test_the_projection_records_the_engine_version_each_request_names() -> None:
    first = fold([_event("requested", 1, {**REQUEST.model_dump(), "engine_version": "6.8"})])
    assert first is not None and first.engine_version == "6.8"

    retried = fold(
        [
            _event("requested", 1, {**REQUEST.model_dump(), "engine_version": "6.8"}),
            _event("failed", 2, {"code": "x", "reason": "boom"}),
            _event("requested", 3, {**REQUEST.model_dump(), "attempt": 2, "engine_version": "6.9"}),
        ]
    )
    assert retried is not None and retried.engine_version == "6.9"
    old = fold([_event("requested", 1, REQUEST.model_dump())])  # from before versions
    assert old is not None and old.engine_version is None


async def test_the_stores_view_shows_the_projected_engine_version_over_the_requested(
    db_pool: asyncpg.Pool,
) -> None:
    sid, owner = uuid.uuid4(), uuid.uuid4()
    columns = "id, owner_id, name, slug, namespace, engine, plan, engine_version"
    values = (sid, owner, "Shop", f"s-{sid.hex[:8]}", "ns", "woocommerce", "small")
    await db_pool.execute(
        f"INSERT INTO store_requests ({columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        *values,
        "1.0",
    )
    read = "SELECT engine_version FROM stores WHERE id = $1"
    assert await db_pool.fetchval(read, sid) == "1.0"
    await db_pool.execute(
        f"INSERT INTO store_states ({columns}, status, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ready', now(), now())",
        *values,
        "1.1",
    )
    assert await db_pool.fetchval(read, sid) == "1.1"


def _restore(event_type: str, seq: int, restore_id: str) -> AuditEvent:
    data: dict[str, object] = {"restore_id": restore_id, "backup_id": BACKUP}
    if event_type == "restore.started":
        data["pre_restore_backup_id"] = BACKUP
    elif event_type == "restore.completed":
        data["seconds"] = 1.0
    elif event_type == "restore.failed":
        data |= {"code": "job_failed", "reason": "the restore Job failed"}
    return _event(event_type, seq, data)


BACKUP = str(uuid.uuid4())
FIRST, SECOND = str(uuid.uuid4()), str(uuid.uuid4())
CREATED = [_event("requested", 1, REQUEST.model_dump()), _event("ready", 2, {"url": "http://x"})]


@pytest.mark.parametrize(
    ("events", "status", "error"),
    [
        ([_restore("restore.started", 3, FIRST)], "restoring", None),
        (
            [_restore("restore.started", 3, FIRST), _restore("restore.completed", 4, FIRST)],
            "ready",
            None,
        ),
        (
            [_restore("restore.started", 3, FIRST), _restore("restore.failed", 4, FIRST)],
            "failed",
            "the restore Job failed",
        ),
        # A repeated start after the end never reopens the restore.
        (
            [
                _restore("restore.started", 3, FIRST),
                _restore("restore.completed", 4, FIRST),
                _restore("restore.started", 5, FIRST),
            ],
            "ready",
            None,
        ),
        # The end of another restore does not end this one.
        (
            [_restore("restore.started", 3, SECOND), _restore("restore.completed", 4, FIRST)],
            "restoring",
            None,
        ),
        # A failed restore may be restored again, and a new restore ends it ready.
        (
            [
                _restore("restore.started", 3, FIRST),
                _restore("restore.failed", 4, FIRST),
                _restore("restore.started", 5, SECOND),
                _restore("restore.completed", 6, SECOND),
            ],
            "ready",
            None,
        ),
        # A provisioning `ready` or `failed` never ends a restore.
        (
            [
                _restore("restore.started", 3, FIRST),
                _event("failed", 4, {"code": "x", "reason": "y"}),
            ],
            "restoring",
            None,
        ),
    ],
)
def test_a_restore_moves_the_store_by_its_own_id(
    events: list[AuditEvent], status: str, error: str | None
) -> None:
    row = fold([*CREATED, *events])
    assert row is not None
    assert (row.status, row.error) == (status, error)
    # Folded in any arrival order, the same row: the fold sorts by stream sequence.
    assert fold(list(reversed([*CREATED, *events]))) == row


def _operation(event_type: str, seq: int, operation_id: str) -> AuditEvent:
    data: dict[str, object] = {"operation_id": operation_id}
    if event_type.endswith(".requested"):
        data["requested_by"] = "u"
    elif event_type.endswith(".completed"):
        data["seconds"] = 1.0
    elif event_type.endswith(".failed"):
        data |= {"code": "not_stopped_in_time", "reason": "the workloads did not stop"}
    return _event(event_type, seq, data)


SUSPENDED = [_operation("suspend.started", 3, FIRST), _operation("suspend.completed", 4, FIRST)]


@pytest.mark.parametrize(
    ("events", "status", "error"),
    [
        (SUSPENDED[:1], "suspending", None),
        (SUSPENDED, "suspended", None),
        (
            [SUSPENDED[0], _operation("suspend.failed", 4, FIRST)],
            "failed",
            "the workloads did not stop",
        ),
        # A suspension's late or repeated events never undo a resumption.
        (
            [
                *SUSPENDED,
                _operation("resume.started", 5, SECOND),
                _operation("resume.completed", 6, SECOND),
                _operation("suspend.completed", 7, FIRST),
                _operation("suspend.failed", 8, FIRST),
            ],
            "ready",
            None,
        ),
        # The end of another operation does not end this one.
        ([SUSPENDED[0], _operation("suspend.completed", 4, SECOND)], "suspending", None),
        (
            [
                *SUSPENDED,
                _operation("resume.started", 5, SECOND),
                _operation("resume.failed", 6, SECOND),
            ],
            "failed",
            "the workloads did not stop",
        ),
        # A provisioning `ready` or `failed` never moves a suspended store; a deletion does.
        ([*SUSPENDED, _event("ready", 5, {"url": "http://x"})], "suspended", None),
        ([*SUSPENDED, _event("delete", 5, {"requested_by": "u"})], "deleting", None),
        # Only a ready store is suspended: a failed one stays failed.
        (
            [
                _restore("restore.started", 3, FIRST),
                _restore("restore.failed", 4, FIRST),
                _operation("suspend.started", 5, SECOND),
            ],
            "failed",
            "the restore Job failed",
        ),
    ],
)
def test_a_suspension_moves_the_store_by_its_own_id(
    events: list[AuditEvent], status: str, error: str | None
) -> None:
    row = fold([*CREATED, *events])
    assert row is not None
    assert (row.status, row.error) == (status, error)
    assert fold(list(reversed([*CREATED, *events]))) == row


CASES = list(itertools.product([None, *STATUSES], [1, 2], [1, 2], [False, True]))


async def test_the_views_sql_status_is_the_lifecycle_rule(db_pool: asyncpg.Pool) -> None:
    answers = await db_pool.fetch(
        "SELECT store_status(p, pa, ra, d) AS s FROM unnest($1::text[], $2::int[], $3::int[],"
        " $4::bool[]) WITH ORDINALITY AS c(p, pa, ra, d, n) ORDER BY n",
        *[list(column) for column in zip(*CASES, strict=True)],
    )
    expected = [shown(*case) for case in CASES]
    assert [r["s"] for r in answers] == expected


@pytest.mark.parametrize(
    ("projected", "attempt", "delete", "status", "error"),
    [
        (None, 1, False, "requested", None),  # the auditor has not folded `requested` yet
        ("failed", 2, False, "requested", None),  # a retry not folded yet starts clean
        ("failed", 1, False, "failed", "boom"),
        ("ready", 1, True, "deleting", None),  # a delete not folded yet
        ("deleted", 1, True, "deleted", None),
    ],
)
async def test_the_stores_view_shows_a_command_before_the_projection_folds_it(
    db_pool: asyncpg.Pool,
    projected: str | None,
    attempt: int,
    delete: bool,
    status: str,
    error: str | None,
) -> None:
    sid, owner = uuid.uuid4(), uuid.uuid4()
    columns = "id, owner_id, name, slug, namespace, engine, plan"
    values = (sid, owner, "Shop", f"s-{sid.hex[:8]}", "ns", "woocommerce", "small")
    await db_pool.execute(
        f"INSERT INTO store_requests ({columns}, attempt, delete_requested_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $9 THEN now() END)",
        *values,
        attempt,
        delete,
    )
    if projected is not None:
        await db_pool.execute(
            f"INSERT INTO store_states ({columns}, status, error, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), now())",
            *values,
            projected,
            "boom" if projected == "failed" else None,
        )
    row = await db_pool.fetchrow("SELECT status, error FROM stores WHERE id = $1", sid)
    assert (row["status"], row["error"]) == (status, error)


def test_a_resumed_store_is_ready_from_its_resume() -> None:
    resume = [_operation("resume.started", 5, SECOND), _operation("resume.completed", 6, SECOND)]
    row = fold([*CREATED, *SUSPENDED, *resume])
    assert row is not None
    assert row.ready_at == resume[1].occurred_at != CREATED[1].occurred_at


def _upgrade(event_type: str, seq: int, operation_id: str) -> AuditEvent:
    data: dict[str, object] = {"operation_id": operation_id, "version": "2.1"}
    data["previous_version"] = "2.0"
    if event_type == "upgrade.started":
        data["pre_upgrade_backup_id"] = SECOND
    elif event_type == "upgrade.completed":
        data["seconds"] = 1.0
    elif event_type in ("upgrade.rolled_back", "upgrade.failed"):
        data |= {"code": "gate_failed", "reason": "the storefront answered 500", "seconds": 1.0}
    return _event(event_type, seq, data)


UPGRADING = _upgrade("upgrade.started", 3, FIRST)


@pytest.mark.parametrize(
    ("events", "status", "version", "error"),
    [
        ([UPGRADING], "upgrading", None, None),
        ([UPGRADING, _upgrade("upgrade.completed", 4, FIRST)], "ready", "2.1", None),
        # Rolled back: ready again, on the version it had.
        ([UPGRADING, _upgrade("upgrade.rolled_back", 4, FIRST)], "ready", None, None),
        (
            [UPGRADING, _upgrade("upgrade.failed", 4, FIRST)],
            "failed",
            None,
            "the storefront answered 500",
        ),
        # The end of another upgrade does not end this one, nor move its version.
        ([UPGRADING, _upgrade("upgrade.completed", 4, SECOND)], "upgrading", None, None),
        # A late start of an upgrade that ended never reopens it.
        (
            [
                UPGRADING,
                _upgrade("upgrade.rolled_back", 4, FIRST),
                _upgrade("upgrade.started", 5, FIRST),
            ],
            "ready",
            None,
            None,
        ),
        # A provisioning `ready` does not end an upgrade; only a ready store is upgraded.
        ([UPGRADING, _event("ready", 4, {"url": "http://x"})], "upgrading", None, None),
        ([*SUSPENDED, _upgrade("upgrade.started", 5, SECOND)], "suspended", None, None),
    ],
)
def test_an_upgrade_moves_the_store_by_its_own_id_and_records_its_version(
    events: list[AuditEvent], status: str, version: str | None, error: str | None
) -> None:
    row = fold([*CREATED, *events])
    assert row is not None
    assert (row.status, row.engine_version, row.error) == (status, version, error)
    assert fold(list(reversed([*CREATED, *events]))) == row
