"""Hostile store names at the gateway: a name starting with `-` is refused (a tool handed
it as an argument would read it as an option); every other hostile name is accepted and
comes back exactly as sent, in the answer, the stored row and the `store.requested`
event the provisioner receives."""

from __future__ import annotations

import asyncio

import pytest

from services.gateway.views import API
from shared.events import Envelope, parse_event
from tests.gateway.conftest import Harness, stream_messages
from tests.security.hostile import ACCEPTED, OPTION_LIKE


@pytest.mark.parametrize("name", OPTION_LIKE)
async def test_a_name_starting_with_a_dash_is_refused_with_a_clear_code(
    gateway: Harness, name: str
) -> None:
    user = await gateway.add_user()
    async with gateway.client(user).post(f"{API}/stores", json={"name": name}) as resp:
        status, body = resp.status, await resp.json()

    assert status == 400
    assert body["error"]["code"] == "name_starts_with_dash"
    assert body["error"]["field"] == "name"
    assert "-" in body["error"]["message"]
    assert await gateway.pool.fetchval("SELECT count(*) FROM store_requests") == 0


@pytest.mark.parametrize("name", ACCEPTED)
async def test_a_hostile_name_is_accepted_and_kept_byte_for_byte(
    gateway: Harness, name: str
) -> None:
    user = await gateway.add_user()
    created = await gateway.create_store(user, name)
    async with gateway.client(user).get(created["links"]["self"]) as resp:
        read = await resp.json()
    stored = await gateway.pool.fetchval("SELECT name FROM store_requests")

    assert created["name"] == read["name"] == stored == name
    assert created["namespace"].startswith(f"store-{created['slug']}-")
    requested = await _published_request(gateway, created["id"])
    assert (requested.data.name, requested.data.namespace) == (name, created["namespace"])  # type: ignore[attr-defined]


async def _published_request(gateway: Harness, store_id: str) -> Envelope:
    """The `store.requested` the outbox relay published for the store."""
    subject = f"store.requested.{store_id}"
    for _ in range(50):
        messages = await stream_messages(gateway.js, gateway.settings.stream_name, subject)
        if messages:
            return parse_event(messages[0].data)
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {subject} was published")
