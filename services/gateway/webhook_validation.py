"""What a client may send about webhooks: an endpoint (an http(s) URL without
credentials, known event types, an optional store, a one-line description) and a
redelivery (one event, or everything since a time). Every refusal names the field.

Called by `services.gateway.routes_webhooks`. Pure apart from the models' validators.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator, model_validator

from services.gateway.validation import Body, UuidText
from shared.lifecycle import EVENT_TYPES

URL_MAX = 2000
ENDPOINTS_PER_USER = 20
ALL_EVENTS = "*"
_CONTROL = frozenset(chr(c) for c in (*range(0x21), 0x7F))


def check_url(url: str) -> str:
    """`url` if it is http(s), names a host, carries no credentials, fragment, spaces or
    control characters; ValueError otherwise. Where the host points is judged when the
    webhooks service connects (services/webhooks/addresses.py)."""
    if set(url) & _CONTROL:
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("must not carry credentials (user:password@)")
    if not parts.hostname or parts.fragment:
        raise ValueError("must name a host, and have no #fragment")
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise ValueError("has an invalid port") from None
    return url


def _event_types(types: list[str]) -> list[str]:
    unknown = [t for t in types if t != ALL_EVENTS and t not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown event type {unknown[0][:60]!r}; see schemas/events/")
    if len(set(types)) != len(types):
        raise ValueError("lists a type twice")
    return [ALL_EVENTS] if ALL_EVENTS in types else types


class CreateWebhookBody(Body):
    url: Annotated[str, AfterValidator(check_url)] = Field(
        max_length=URL_MAX, description="http(s) URL the events are POSTed to"
    )
    event_types: Annotated[list[str], AfterValidator(_event_types)] = Field(
        min_length=1, max_length=len(EVENT_TYPES) + 1, description='event types, or ["*"]'
    )
    store_id: UuidText | None = Field(
        None, description="only this store's events (one you own); absent: all your stores"
    )
    description: str = Field(
        "", max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$", description="a note, one line"
    )


class RedeliverBody(Body):
    event_id: str | None = Field(
        None, min_length=1, max_length=200, description="send this event again"
    )
    since: datetime | None = Field(
        None, description="send again every event that occurred at or after this time"
    )

    @field_validator("since", mode="before")
    @classmethod
    def _rfc3339(cls, value: object) -> object:
        if isinstance(value, str):
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise ValueError("needs a time zone offset, e.g. Z")
            return moment
        return value

    @model_validator(mode="after")
    def _one_of(self) -> RedeliverBody:
        if (self.event_id is None) == (self.since is None):
            raise ValueError("give exactly one of event_id and since")
        return self
