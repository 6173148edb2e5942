"""The event contract: round trips, tolerance of unknown fields, errors that name the
field, and the published JSON Schemas kept in step with the models."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from shared.events import EVENT_MODELS, InvalidEvent, new_event, parse_event
from shared.subjects import subject_for

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from generate_schemas import SCHEMA_DIR, rendered

B = "0b9a3f4e-2c1d-4e5f-8a7b-6c5d4e3f2a1b"
R = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
SAMPLE_DATA = {
    "requested": {
        "name": "My Shop",
        "slug": "my-shop",
        "engine": "woocommerce",
        "plan": "small",
        "owner": "u1",
        "namespace": "store-my-shop-ab12cd",
    },
    "delete": {"requested_by": "u1"},
    "provisioning": {"worker": "provisioner-0/3", "attempt": 2},
    "progress": {"wave": "guardrails", "applied": ["Namespace/store-my-shop-ab12cd"]},
    "ready": {"url": "http://my-shop.stores.localhost"},
    "failed": {"code": "apply_refused", "reason": "the API server refused the quota"},
    "deleting": {"namespace": "store-my-shop-ab12cd"},
    "deleted": {"namespace": "store-my-shop-ab12cd"},
    "backup.requested": {"backup_id": B, "reason": "on_demand", "requested_by": "u1"},
    "backup.started": {"backup_id": B, "worker": "provisioner-0", "attempt": 1},
    "backup.completed": {
        "backup_id": B,
        "engine": "medusa",
        "engine_version": "2.8.8",
        "plan": "small",
        "size": 3,
        "objects": {"database": {"size": 3, "sha256": "ab" * 32}},
        "manifest": f"storefleet/stores/{B}/backups/{B}/manifest.json",
        "seconds": 1.5,
    },
    "backup.verified": {"backup_id": B, "ok": True, "orders": 12, "seconds": 4.0},
    "backup.failed": {"backup_id": B, "code": "storage_unavailable", "reason": "unreachable"},
    "backup.deleted": {"backup_id": B, "reason": "retention"},
    "restore.requested": {"restore_id": R, "backup_id": B, "requested_by": "u1"},
    "restore.started": {"restore_id": R, "backup_id": B, "pre_restore_backup_id": B},
    "restore.completed": {"restore_id": R, "backup_id": B, "seconds": 30.0},
    "restore.failed": {"restore_id": R, "backup_id": B, "code": "job_failed", "reason": "x"},
    "suspend.requested": {"operation_id": R, "requested_by": "u1", "reason": "unpaid"},
    "suspend.started": {"operation_id": R},
    "suspend.completed": {"operation_id": R, "seconds": 4.0},
    "suspend.failed": {"operation_id": R, "code": "not_stopped_in_time", "reason": "x"},
    "resume.requested": {"operation_id": R, "requested_by": "u1"},
    "resume.started": {"operation_id": R},
    "resume.completed": {"operation_id": R, "seconds": 9.0},
    "resume.failed": {"operation_id": R, "code": "not_ready_in_time", "reason": "x"},
    "plan.requested": {
        "operation_id": R,
        "plan": "medium",
        "previous_plan": "small",
        "requested_by": "u1",
    },
    "plan.changed": {"operation_id": R, "plan": "medium", "previous_plan": "small", "seconds": 2.0},
    "plan.failed": {"operation_id": R, "plan": "tiny", "code": "usage_exceeds_plan", "reason": "x"},
    "upgrade.requested": {
        "operation_id": R,
        "version": "2.1",
        "previous_version": "2.0",
        "requested_by": "rollout",
        "rollout_id": R,
    },
    "upgrade.started": {
        "operation_id": R,
        "version": "2.1",
        "previous_version": "2.0",
        "pre_upgrade_backup_id": R,
    },
    "upgrade.completed": {
        "operation_id": R,
        "version": "2.1",
        "previous_version": "2.0",
        "seconds": 30.0,
    },
    "upgrade.rolled_back": {
        "operation_id": R,
        "version": "2.1",
        "previous_version": "2.0",
        "code": "gate_failed",
        "reason": "x",
        "seconds": 60.0,
    },
    "upgrade.failed": {
        "operation_id": R,
        "version": "2.1",
        "code": "rollback_failed",
        "reason": "x",
    },
    "domain.added": {
        "domain_id": R,
        "domain": "xn--bcher-kva.example.org",
        "challenge": "_storefleet-challenge.xn--bcher-kva.example.org",
        "requested_by": "u1",
    },
    "domain.verified": {"domain_id": R, "domain": "shop.example.org"},
    "domain.issuing": {"domain_id": R, "domain": "shop.example.org"},
    "domain.active": {
        "domain_id": R,
        "domain": "shop.example.org",
        "not_after": "2027-03-01T12:00:00+00:00",
    },
    "domain.failed": {"domain_id": R, "domain": "shop.example.org", "reason": "expired"},
    "domain.removed": {
        "domain_id": R,
        "domain": "shop.example.org",
        "reason": "dns_missing",
        "requested_by": "reaper",
    },
    "domain.primary": {
        "operation_id": R,
        "domain_id": R,
        "domain": "shop.example.org",
        "tls": True,
        "reason": "owner",
        "requested_by": "u1",
    },
    "url.changed": {
        "operation_id": R,
        "url": "https://shop.example.org",
        "domain_id": R,
        "domain": "shop.example.org",
        "seconds": 41.5,
    },
    "url.failed": {
        "operation_id": R,
        "url": "https://shop.example.org",
        "code": "store_not_ready",
        "reason": "the store is suspended",
    },
}


@pytest.mark.parametrize("event_type", sorted(EVENT_MODELS))
def test_every_event_type_round_trips_through_json(event_type: str) -> None:
    data = SAMPLE_DATA.get(event_type, {})  # a type without a payload model carries {}
    event = new_event(event_type, "s-1", data, actor="u1", correlation_id="c-1")

    parsed = parse_event(event.to_bytes())

    assert parsed == event
    assert type(parsed) is EVENT_MODELS[event_type]
    assert parsed.subject == subject_for(event_type, "s-1") == f"store.{event_type}.s-1"


def test_unknown_fields_are_ignored_so_old_consumers_keep_working() -> None:
    body = json.loads(
        new_event("ready", "s-1", SAMPLE_DATA["ready"], actor="p", correlation_id="c").to_bytes()
    )
    body["added_in_v2"] = {"anything": 1}
    body["data"]["cdn_url"] = "http://cdn"

    parsed = parse_event(json.dumps(body))

    assert parsed.data.url == "http://my-shop.stores.localhost"  # type: ignore[attr-defined]
    assert "cdn_url" not in parsed.model_dump()["data"]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["data"].pop("url"), "data.url"),
        (lambda b: b.pop("store_id"), "store_id"),
        (lambda b: b.update(occurred_at="yesterday"), "occurred_at"),
        (lambda b: b.update(type="exploded"), "type"),
    ],
)
def test_invalid_payloads_are_rejected_with_an_error_naming_the_field(mutate, field) -> None:  # type: ignore[no-untyped-def]
    body = json.loads(
        new_event("ready", "s-1", SAMPLE_DATA["ready"], actor="p", correlation_id="c").to_bytes()
    )
    mutate(body)

    with pytest.raises(InvalidEvent) as caught:
        parse_event(json.dumps(body))

    assert caught.value.field == field


def test_a_progress_event_refuses_an_unknown_wave() -> None:
    with pytest.raises(ValueError, match="wave"):
        new_event("progress", "s-1", {"wave": "teatime"}, actor="p", correlation_id="c")


def test_published_json_schemas_match_the_models() -> None:
    expected = rendered()
    on_disk = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json")}

    assert on_disk == expected, "schemas/events is stale: run `just schemas`"
