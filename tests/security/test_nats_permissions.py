"""NATS is not an open door (issue 19): each service connects as its own user, allowed only
the subjects its code uses (`shared.nats_access`), on a real nats-server enforcing the
same rules as the chart's.

Every refusal is paired with the same act by the user whose job it is, or by the admin,
succeeding on the same server: the test would fail if the rule went away, not only if
the server were down. That the services do their whole job under these rules is shown by
the suites that run them as their own users (tests/e2e, tests/web, tests/auditor,
tests/reaper, tests/provisioner).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from devtools.platform_start import Platform
from shared.jetstream import NatsUnavailable, connect, ensure_consumer, ensure_stream
from shared.nats_access import SERVICES
from shared.settings import CommonSettings
from shared.subjects import CREDENTIALS_SUBJECT, PROVISIONER, stores_stream, subject_for

REFUSED = 1.0  # seconds to wait for what must not happen
Connect = Callable[[str], Awaitable[NATS]]


@pytest.fixture
def secured(nats_server: Any) -> Any:
    if not nats_server.passwords:
        pytest.skip("STOREFLEET_TEST_NATS_URL names a server whose users this test cannot know")
    return nats_server


@pytest.fixture
async def as_service(secured: Any) -> AsyncIterator[Connect]:
    """Connect as one service's own user, as that service does."""
    opened: list[NATS] = []

    async def open_as(service: str) -> NATS:
        settings = CommonSettings(**secured.service_settings(service))
        opened.append(await connect(settings, service, connect_timeout=5.0))
        return opened[-1]

    yield open_as
    for nc in opened:
        await nc.close()


@pytest.fixture
async def stores(js: JetStreamContext, stores_stream_name: str) -> str:
    """The `store.>` stream, created by the admin, with the provisioner's consumer."""
    await ensure_stream(js, stores_stream(name=stores_stream_name))
    await ensure_consumer(js, stores_stream_name, PROVISIONER)
    return stores_stream_name


async def _stored(js: JetStreamContext, stream: str, subject: str) -> bool:
    try:
        await js.get_last_msg(stream, subject)
    except NotFoundError:
        return False
    return True


async def test_a_client_without_credentials_cannot_connect(secured: Any) -> None:
    with pytest.raises(NatsUnavailable):
        await connect(secured.address, "anonymous", connect_timeout=2.0)
    wrong = CommonSettings(nats_url=secured.address, nats_user="gateway", nats_password="guess")
    with pytest.raises(NatsUnavailable):
        await connect(wrong, "gateway", connect_timeout=2.0)


async def test_the_gateway_cannot_publish_store_ready_but_can_request_a_store(
    as_service: Connect, js: JetStreamContext, stores: str
) -> None:
    gateway = (await as_service("gateway")).jetstream()
    store_id = str(uuid.uuid4())

    with pytest.raises(NatsTimeout):
        await gateway.publish(subject_for("ready", store_id), b"{}", timeout=REFUSED)
    await gateway.publish(subject_for("requested", store_id), b"{}", timeout=5.0)

    assert not await _stored(js, stores, subject_for("ready", store_id))
    assert await _stored(js, stores, subject_for("requested", store_id))


async def test_the_auditor_publishes_no_event_at_all(
    as_service: Connect, js: JetStreamContext, stores: str
) -> None:
    auditor = (await as_service("auditor")).jetstream()
    store_id = str(uuid.uuid4())
    for event_type in ("requested", "delete", "ready", "deleted"):
        with pytest.raises(NatsTimeout):
            await auditor.publish(subject_for(event_type, store_id), b"{}", timeout=REFUSED)
        assert not await _stored(js, stores, subject_for(event_type, store_id))


async def _answer_credentials(provisioner: NATS) -> list[Msg]:
    asked: list[Msg] = []

    async def answer(msg: Msg) -> None:
        asked.append(msg)
        await msg.respond(json.dumps({"password": "s3cret-of-the-store"}).encode())

    await provisioner.subscribe(CREDENTIALS_SUBJECT, queue="provisioner", cb=answer)
    await provisioner.flush()
    return asked


async def test_only_the_gateway_can_ask_for_credentials(as_service: Connect) -> None:
    asked = await _answer_credentials(await as_service("provisioner"))

    for service in ("auditor", "reaper"):
        nc = await as_service(service)
        with pytest.raises(NatsTimeout):
            await nc.request(CREDENTIALS_SUBJECT, b'{"store_id": "x"}', timeout=REFUSED)
    assert asked == []

    gateway = await as_service("gateway")
    reply = await gateway.request(CREDENTIALS_SUBJECT, b'{"store_id": "x"}', timeout=5.0)
    assert json.loads(reply.data) == {"password": "s3cret-of-the-store"}
    assert len(asked) == 1
    assert asked[0].reply.startswith("_INBOX_gateway.")


async def test_no_other_service_reads_the_gateways_replies(as_service: Connect, nc: NATS) -> None:
    await _answer_credentials(await as_service("provisioner"))
    overheard: dict[str, list[bytes]] = {}
    for name, client in [
        ("auditor", await as_service("auditor")),
        ("reaper", await as_service("reaper")),
        ("admin", nc),  # the control: without the rule, anyone would hear this
    ]:
        heard = overheard.setdefault(name, [])

        async def listen(msg: Msg, heard: list[bytes] = heard) -> None:
            heard.append(msg.data)

        await client.subscribe("_INBOX_gateway.>", cb=listen)
        await client.flush()

    gateway = await as_service("gateway")
    await gateway.request(CREDENTIALS_SUBJECT, b'{"store_id": "x"}', timeout=5.0)
    await asyncio.sleep(0.5)

    assert overheard["auditor"] == [] and overheard["reaper"] == []
    assert len(overheard["admin"]) == 1


async def test_a_service_cannot_take_the_provisioners_work(
    as_service: Connect, js: JetStreamContext, stores: str
) -> None:
    await js.publish(subject_for("requested", str(uuid.uuid4())), b"{}", stream=stores)
    for service in ("auditor", "gateway", "reaper"):
        thief = (await as_service(service)).jetstream()
        sub = await thief.pull_subscribe_bind(durable=PROVISIONER.durable, stream=stores)
        with pytest.raises(NatsTimeout):
            await sub.fetch(1, timeout=REFUSED)

    provisioner = (await as_service("provisioner")).jetstream()
    sub = await provisioner.pull_subscribe_bind(durable=PROVISIONER.durable, stream=stores)
    (msg,) = await sub.fetch(1, timeout=5.0)
    assert msg.metadata.num_delivered == 1  # nobody else got it first
    await msg.ack()


async def test_no_service_can_delete_or_purge_the_stream(
    as_service: Connect, js: JetStreamContext, stores: str
) -> None:
    await js.publish(subject_for("requested", str(uuid.uuid4())), b"{}", stream=stores)
    for service in ("gateway", "provisioner", "reaper", "auditor"):
        client = (await as_service(service)).jetstream(timeout=REFUSED)
        with pytest.raises(NatsTimeout):
            await client.purge_stream(stores)
        with pytest.raises(NatsTimeout):
            await client.delete_consumer(stores, PROVISIONER.durable)
        with pytest.raises(NatsTimeout):
            await client.delete_stream(stores)

    info = await js.stream_info(stores)
    assert info.state.messages == 1
    assert (await js.consumer_info(stores, PROVISIONER.durable)).name == PROVISIONER.durable


def test_dev_up_gives_each_service_its_own_user_and_the_admin_to_none(
    secured: Any, tmp_path: Path
) -> None:
    platform = Platform()
    platform.nats = secured
    platform.env = {"STOREFLEET_NATS_URL": secured.url, "KUBECONFIG": "unused",
                    "STOREFLEET_DATABASE_URL": "postgresql://owner@127.0.0.1/db"}  # fmt: skip
    env = {name: platform.service_env(name, 8080, tmp_path / "helm") for name in SERVICES}
    relay = platform.service_env("mailrelay", 8080, tmp_path / "helm")

    for name, values in env.items():
        assert values["STOREFLEET_NATS_USER"] == name
        assert values["STOREFLEET_NATS_URL"] == secured.address
    assert not any(k.startswith("STOREFLEET_NATS") for k in relay)  # it needs no NATS
    admin = urlsplit(secured.url).password
    assert admin and all(admin not in v for e in [*env.values(), relay] for v in e.values())
