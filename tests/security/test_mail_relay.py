"""Attacks on store mail (issue 19). A store owner can read everything in their store's
namespace, so what lands there must be theirs alone: the store's own login at the
platform's relay, never the operator's upstream password. The relay must then hold the
line: a login works only for its own store, only while the store lives, only for the
store's own sender addresses, within a size and an hourly bound.

The relay is the real `python -m services.mailrelay`; the operator's upstream relay is
a real SMTP server (aiosmtpd) on 127.0.0.1 that accepts only the operator's login.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import aiosmtplib
import pytest

from services.provisioner.app import cluster_of
from services.provisioner.engines import ENGINES
from services.provisioner.guardrails import guardrails, store_secret
from services.provisioner.settings import ProvisionerSettings
from tests.chart.helm import ENGINE_CHARTS
from tests.chart.store_kinds import rendered_engine, spec_for
from tests.mailrelay.relay import (
    BASE_DOMAIN,
    LIMIT,
    MAX_BYTES,
    PLATFORM_FROM,
    RELAY_KEY,
    UPSTREAM_PASSWORD,
    UPSTREAM_USER,
    Relay,
    password_of,
)

CUSTOMER = "customer@example.net"


async def test_a_stores_own_login_delivers_upstream_with_the_operators_login(
    mail_relay: Relay,
) -> None:
    store_id, slug = await mail_relay.add_store()
    sender = f"wordpress@{slug}.{BASE_DOMAIN}"
    recipient = f"first-{slug}@example.net"

    await mail_relay.send(store_id, password_of(store_id), sender, [recipient])
    await mail_relay.send(store_id, password_of(store_id), PLATFORM_FROM, [f"x-{recipient}"])

    [got] = mail_relay.upstream.to(recipient)
    assert (got.login, got.sender) == (UPSTREAM_USER, sender)
    assert got.content.startswith(f"X-Storefleet-Store: {store_id}\r\n".encode())
    assert b"Your order is on its way." in got.content
    assert mail_relay.upstream.to(f"x-{recipient}")[0].sender == PLATFORM_FROM


async def test_a_wrong_password_is_refused(mail_relay: Relay) -> None:
    store_id, slug = await mail_relay.add_store()
    recipient = f"wrong-{slug}@example.net"

    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as refused:
        await mail_relay.send(store_id, "guess", f"a@{slug}.{BASE_DOMAIN}", [recipient])

    assert refused.value.code == 535
    assert mail_relay.upstream.to(recipient) == []


async def test_one_stores_password_does_not_log_in_as_another_store(mail_relay: Relay) -> None:
    mine, _ = await mail_relay.add_store()
    theirs, their_slug = await mail_relay.add_store()
    recipient = f"victim-{their_slug}@example.net"

    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await mail_relay.send(
            theirs, password_of(mine), f"a@{their_slug}.{BASE_DOMAIN}", [recipient]
        )

    assert mail_relay.upstream.to(recipient) == []


@pytest.mark.parametrize("status", ["deleting", "deleted"])
async def test_a_deleted_store_cannot_send(mail_relay: Relay, status: str) -> None:
    store_id, slug = await mail_relay.add_store(status)
    recipient = f"gone-{slug}@example.net"

    with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
        await mail_relay.send(
            store_id, password_of(store_id), f"a@{slug}.{BASE_DOMAIN}", [recipient]
        )

    assert refused.value.code == 550
    assert mail_relay.upstream.to(recipient) == []


async def test_a_store_unknown_to_the_platform_cannot_send(mail_relay: Relay) -> None:
    """A password the key derives for any id is not enough: the store must exist."""
    store_id = "00000000-0000-4000-8000-000000000001"

    with pytest.raises(aiosmtplib.SMTPSenderRefused):
        await mail_relay.send(store_id, password_of(store_id), PLATFORM_FROM, [CUSTOMER])


async def test_a_store_cannot_send_as_another_store_or_an_outside_address(
    mail_relay: Relay,
) -> None:
    store_id, slug = await mail_relay.add_store()
    _, their_slug = await mail_relay.add_store()
    mine = f"shop@{slug}.{BASE_DOMAIN}"
    recipient = f"forged-{slug}@example.net"
    forged = [
        f"shop@{their_slug}.{BASE_DOMAIN}",
        "ceo@bank.example",
        f"x@evil.{slug}.{BASE_DOMAIN}",
    ]

    for sender in forged:
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await mail_relay.send(store_id, password_of(store_id), sender, [recipient])
        assert refused.value.code == 553, sender
    for header in [*forged, f'"{mine}" <{forged[0]}>']:
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await mail_relay.send(store_id, password_of(store_id), mine, [recipient], header)
        assert refused.value.code == 550, header

    assert mail_relay.upstream.to(recipient) == []


async def test_an_oversized_message_is_refused(mail_relay: Relay) -> None:
    store_id, slug = await mail_relay.add_store()
    recipient = f"big-{slug}@example.net"

    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await mail_relay.send(
            store_id, password_of(store_id), f"a@{slug}.{BASE_DOMAIN}", [recipient],
            body="x" * (MAX_BYTES + 1),
        )  # fmt: skip

    assert refused.value.code == 552
    assert mail_relay.upstream.to(recipient) == []


async def test_a_burst_over_the_hourly_limit_is_refused_for_that_store_only(
    mail_relay: Relay,
) -> None:
    store_id, slug = await mail_relay.add_store()
    other_id, other_slug = await mail_relay.add_store()
    sender = f"a@{slug}.{BASE_DOMAIN}"
    sent = [f"burst-{i}-{slug}@example.net" for i in range(LIMIT)]

    for recipient in sent:
        await mail_relay.send(store_id, password_of(store_id), sender, [recipient])
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await mail_relay.send(store_id, password_of(store_id), sender, [f"over-{slug}@example.net"])
    await mail_relay.send(
        other_id, password_of(other_id), f"a@{other_slug}.{BASE_DOMAIN}", [f"ok-{other_slug}@x.net"]
    )

    assert refused.value.code == 451
    assert all(len(mail_relay.upstream.to(r)) == 1 for r in sent)
    assert mail_relay.upstream.to(f"over-{slug}@example.net") == []
    assert len(mail_relay.upstream.to(f"ok-{other_slug}@x.net")) == 1


async def test_no_password_reaches_the_relays_log(mail_relay: Relay) -> None:
    """Logged at debug level, through a login with AUTH LOGIN, a refused login, and a
    delivery with the operator's login: no password, and no message content (aiosmtpd's
    own debug log has every line of it)."""
    store_id, slug = await mail_relay.add_store()
    password = password_of(store_id)
    sender = f"a@{slug}.{BASE_DOMAIN}"
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=mail_relay.port, start_tls=False)
    async with smtp:
        await smtp.ehlo()
        await smtp.auth_login(store_id, password)
        message = f"From: {sender}\r\n\r\nOrder for 12 Private Lane\r\n"
        await smtp.sendmail(sender, [f"log-{slug}@example.net"], message)
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await mail_relay.send(store_id, "not-" + password, sender, [CUSTOMER])

    log = mail_relay.log.read_text()
    assert '"mail sent"' in log and '"login refused"' in log
    assert "Private Lane" not in log  # nor what customers are sent
    for secret in (UPSTREAM_PASSWORD, RELAY_KEY, password, "not-" + password):
        assert secret not in log
        assert base64.b64encode(secret.encode()).decode() not in log  # as AUTH LOGIN sends it


def _store_objects(helm_path: Path, settings: ProvisionerSettings) -> dict[str, str]:
    """Every object of a store of each engine, as the provisioner renders it, as JSON."""
    shape = cluster_of(settings)
    rendered = {}
    for engine in ENGINES.values():
        if not (ENGINE_CHARTS / engine.chart / "Chart.yaml").is_file():
            continue
        spec = spec_for(engine, shape)
        secret = store_secret(spec, {key: "x" for key in engine.secret_keys})
        objects = [*guardrails(spec, shape).all, secret, *rendered_engine(helm_path, spec, shape)]
        rendered[engine.name] = (spec.store_id, json.dumps(objects))
    return {name: f"{sid}\n{text}" for name, (sid, text) in rendered.items()}


def test_the_upstream_password_is_in_no_store_manifest(
    helm_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provisioner renders stores of every engine with the platform's mail settings
    (and an old deployment's STOREFLEET_SMTP_* still in its environment): the store gets
    its own login, and nothing it could read holds the upstream's password."""
    for name, value in {
        "MAIL_RELAY_HOST": "storefleet-mailrelay.storefleet.svc", "MAIL_RELAY_KEY": RELAY_KEY,
        "UPSTREAM_PASSWORD": UPSTREAM_PASSWORD, "SMTP_HOST": "smtp.example.com",
        "SMTP_USERNAME": UPSTREAM_USER, "SMTP_PASSWORD": UPSTREAM_PASSWORD,
        "ENGINE_VALUES": "none",
    }.items():  # fmt: skip
        monkeypatch.setenv(f"STOREFLEET_{name}", value)
    stores = _store_objects(helm_path, ProvisionerSettings())

    assert set(stores) == set(ENGINES)
    for name, text in stores.items():
        store_id, manifests = text.split("\n", 1)
        assert UPSTREAM_PASSWORD not in manifests, name
        assert RELAY_KEY not in manifests, name
        assert password_of(store_id) in manifests, name  # its own login, in its Secret
