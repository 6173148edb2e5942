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
