"""The event contract: one envelope, one typed payload per event type
(docs/architecture.md, section 2).

Every message on `store.>` is one JSON `Envelope`. Integrations depend on it, so:
unknown fields are ignored (old consumers keep working when the contract grows), invalid
payloads are refused with an error naming the field, and the JSON Schemas generated from
these models are kept in `schemas/events/` (a test fails when they are stale).

Pure: no I/O imports. Publishers build events with `new_event`; consumers call
`parse_event` on raw bytes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from shared.event_payloads import PAYLOADS as PAYLOADS
from shared.event_payloads import BackupRef as BackupRef
from shared.event_payloads import BackupRequested as BackupRequested
from shared.event_payloads import Delete as Delete
from shared.event_payloads import DomainActive as DomainActive
from shared.event_payloads import DomainAdded as DomainAdded
from shared.event_payloads import DomainPrimary as DomainPrimary
from shared.event_payloads import DomainRemoved as DomainRemoved
from shared.event_payloads import Payload as Payload
from shared.event_payloads import PlanRequested as PlanRequested
from shared.event_payloads import Requested as Requested
from shared.event_payloads import RestoreRequested as RestoreRequested
from shared.event_payloads import ResumeRequested as ResumeRequested
from shared.event_payloads import SuspendRequested as SuspendRequested
from shared.event_payloads import UpgradeRequested as UpgradeRequested
from shared.lifecycle import EVENT_TYPES
from shared.subjects import subject_for

SCHEMA_VERSION = 1


class Envelope(BaseModel):
    """Fields every event carries; `type` selects the payload model of `data`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(description="unique event id, also the Nats-Msg-Id", min_length=1)
    store_id: str = Field(description="the store this event is about", min_length=1)
    occurred_at: datetime = Field(description="when it happened (UTC, RFC 3339)")
    actor: str = Field(description="user id or service name that caused it", min_length=1)
    correlation_id: str = Field(description="id of the HTTP request that started the chain")
    schema_version: int = Field(SCHEMA_VERSION, ge=1, description="envelope contract version")

    @property
    def subject(self) -> str:
        return subject_for(self.type, self.store_id)  # type: ignore[attr-defined]

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


# Written out, unlike the other event models, because the provisioner types its handler
# with it.
class StoreRequested(Envelope):
    type: Literal["requested"] = "requested"
    data: Requested


def _model(event_type: str) -> type[Envelope]:
    """`Store<Type>`: the envelope whose `type` is `event_type`, carrying its payload."""
    if event_type == "requested":
        return StoreRequested
    name = "Store" + "".join(token.capitalize() for token in event_type.split("."))
    fields: dict[str, Any] = {
        "type": (Literal[event_type], event_type),
        "data": (PAYLOADS.get(event_type, Payload), ...),
    }
    return create_model(name, __base__=Envelope, __module__=__name__, **fields)


EVENT_MODELS: dict[str, type[Envelope]] = {t: _model(t) for t in EVENT_TYPES}

# The discriminated union of every event model, built from EVENT_MODELS.
Event = Annotated[Union[tuple(EVENT_MODELS.values())], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
_EVENT: TypeAdapter[Envelope] = TypeAdapter(Event)  # type: ignore[arg-type]


class InvalidEvent(ValueError):
    """A message body that is not a valid event; `field` names the first bad field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def parse_event(raw: bytes | str) -> Envelope:
    """Validate a message body into its typed event, or raise `InvalidEvent`."""
    try:
        return _EVENT.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] in {"union_tag_invalid", "union_tag_not_found"}:
            raise InvalidEvent("type", first["msg"]) from None
        loc = [str(p) for p in first["loc"]]
        # Drop the discriminator tag pydantic puts first (e.g. "ready") from the path.
        if loc and loc[0] in EVENT_MODELS:
            loc = loc[1:]
        raise InvalidEvent(".".join(loc) or "body", first["msg"]) from None


def new_event(
    event_type: str,
    store_id: str,
    data: Payload | dict[str, Any],
    *,
    actor: str,
    correlation_id: str,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Build a typed event with a fresh id and the current time."""
    model = EVENT_MODELS[event_type]
    return model.model_validate(
        {
            "id": event_id or str(uuid.uuid4()),
            "store_id": store_id,
            "occurred_at": occurred_at or datetime.now(UTC),
            "actor": actor,
            "correlation_id": correlation_id,
            "data": data,
        }
    )


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema per event type, plus `event` for the discriminated union."""
    schemas = {name: model.model_json_schema() for name, model in EVENT_MODELS.items()}
    schemas["event"] = _EVENT.json_schema()
    return schemas
