"""What the webhook routes answer: an endpoint (its secret only in the answer that made
or rotated it), and its deliveries with their attempts, as typed shapes (`openapi` builds
their schemas from these types) and pure functions from rows to them.

Pure: no I/O imports. Called by `services.gateway.routes_webhooks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypedDict

from services.gateway.views import Row, Timestamp, Uuid

DeliveryOutcome = Literal["pending", "delivered", "failed"]


class Endpoint(TypedDict):
    id: Uuid
    url: str
    event_types: Annotated[list[str], Field(description='event types sent, or ["*"] for all')]
    store_id: Annotated[Uuid | None, Field(description="only this store's events; null: all")]
    description: str
    created_at: Timestamp
    failing: Annotated[
        bool, Field(description="a delivery used up its retries; cleared by the next success")
    ]
    failing_reason: str
    failing_since: Timestamp | None


class NewEndpoint(Endpoint):
    secret: Annotated[
        str, Field(description="signing secret, whsec_<base64>; shown in this answer only")
    ]


class EndpointList(TypedDict):
    items: list[Endpoint]


class Secret(TypedDict):
    id: Uuid
    secret: Annotated[str, Field(description="the new signing secret; the old one stops now")]


class Attempt(TypedDict):
    attempt: int
    status_code: Annotated[int | None, Field(description="null when there was no answer")]
    latency_ms: int
    response: Annotated[str, Field(description="the answer's first KiB at most")]
    error: Annotated[str, Field(description="what happened instead of an answer")]
    attempted_at: Timestamp


class Delivery(TypedDict):
    id: int
    event_id: str
    event_type: str
    store_id: Annotated[str | None, Field(description="null for a test delivery (no store)")]
    occurred_at: Timestamp
    outcome: DeliveryOutcome
    attempt: Annotated[int, Field(description="attempts made since it was (re)queued")]
    next_attempt_at: Annotated[Timestamp | None, Field(description="while pending")]
    status_code: int | None
    latency_ms: int | None
    response: str
    delivered_at: Timestamp | None
    attempts: Annotated[list[Attempt], Field(description="the latest attempts, oldest first")]


class DeliveryPage(TypedDict):
    items: Annotated[list[Delivery], Field(description="newest event first")]
    next_cursor: Annotated[str | None, Field(description="pass as `cursor` for the next page")]


class TestSend(TypedDict):
    id: Annotated[int, Field(description="the test delivery's id, as in the deliveries")]
    event_id: Annotated[str, Field(description="the synthetic webhook.test event's id")]


class Redelivery(TypedDict):
    redelivered: Annotated[int, Field(description="deliveries queued again")]


def endpoint_view(row: Row) -> Endpoint:
    return {
        "id": row["id"],
        "url": row["url"],
        "event_types": list(row["event_types"]),
        "store_id": row["store_id"],
        "description": row["description"],
        "created_at": row["created_at"],
        "failing": row["failing"],
        "failing_reason": row["failing_reason"],
        "failing_since": row["failing_since"],
    }


def new_endpoint_view(row: Row, secret: str) -> NewEndpoint:
    return {**endpoint_view(row), "secret": secret}


def attempt_view(row: Row) -> Attempt:
    return {key: row[key] for key in Attempt.__annotations__}  # type: ignore[return-value]


def delivery_view(row: Row, attempts: Sequence[Row]) -> Delivery:
    pending = row["outcome"] == "pending"
    return {
        "id": row["id"],
        "event_id": row["event_id"],
        "event_type": row["event_type"],
        "store_id": row["store_id"] or None,  # '' is a test delivery's
        "occurred_at": row["occurred_at"],
        "outcome": row["outcome"],
        "attempt": row["attempt"],
        "next_attempt_at": row["next_attempt_at"] if pending else None,
        "status_code": row["status_code"],
        "latency_ms": row["latency_ms"],
        "response": row["response"],
        "delivered_at": row["delivered_at"],
        "attempts": [attempt_view(a) for a in attempts],
    }
