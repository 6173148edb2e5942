"""The store page's Domains section in Debian's headless Chromium, against the in-process
gateway serving the built dashboard over real Postgres and NATS: a wildcard is refused
next to the field with its code; an added domain shows the TXT record holding the token
the gateway answered with; the reaper's real verifier, reading the session's knotd where
the test (as the owner) wrote that record, verifies it and the badge turns "verified"
with no reload; once its certificate is issued (the issuer's row and event, written as it
would) the badge turns "active" and says until when the certificate is valid; made the
store's primary domain it shows as such, the change under way until the provisioner's
url.changed, then the store's new address; remove asks first (saying it is the primary),
then takes the domain off the list and out of the database, and the reaper's next pass
sends the store back to its own host, which the page says."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import expect

from services.reaper.dns_lookup import TxtLookup
from services.reaper.domain_plan import DomainPolicy
from services.reaper.domain_records import DomainRecords
from services.reaper.domains import DOMAIN_LOCK_KEY, DomainVerifier
from services.reaper.sweeper import SweeperLock
from shared.db import create_pool
from shared.domains import challenge_name
from shared.events import DomainActive, Envelope, new_event
from shared.jetstream import publish_event
from tests.browser import chromium_page
from tests.fixtures.dns import TestDns, TestZone
from tests.gateway.conftest import RELAXED, Harness, MakeGateway
from tests.web.test_backups_page import sign_in_and_open


@pytest.fixture
async def reaper_pool(service_database_urls: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    """Logged in as the reaper's own role, as the verifier is deployed."""
    pool = await create_pool(service_database_urls["reaper"], max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


def verifier_for(
    gateway: Harness, reaper_pool: asyncpg.Pool, reaper_url: str, dns: TestDns
) -> DomainVerifier:
    """The reaper's verifier reading `dns`, publishing on the gateway's stream."""

    async def publish(envelope: Envelope) -> object:
        return await publish_event(gateway.js, envelope, stream=gateway.settings.stream_name)

    return DomainVerifier(
        SweeperLock(reaper_url, key=DOMAIN_LOCK_KEY),
        DomainRecords(reaper_pool),
        TxtLookup((("127.0.0.1", dns.port),), 2.0),
        publish,
        DomainPolicy(),
        interval=0.2,
    )


async def test_add_a_domain_see_it_verified_live_and_remove_it(
    make_gateway: MakeGateway,
    dashboard: Path,
    reaper_pool: asyncpg.Pool,
    service_database_urls: dict[str, str],
    dns_server: TestDns,
    dns_zone: TestZone,
) -> None:
    gateway = await make_gateway(web_dist=dashboard, **RELAXED)
    user = await gateway.add_user()
    name = f"Domain Shop {uuid.uuid4().hex[:4]}"
    store = await gateway.create_store(user, name)
    await gateway.project(store["id"], "ready")
    domain = dns_zone.name("shop")

    async with chromium_page() as page:
        await sign_in_and_open(page, gateway, user, name)
        section = page.get_by_role("region", name="Domains")
        field = section.get_by_label("Domain", exact=True)
        add = section.get_by_role("button", name="Add domain")

        # A wildcard: the gateway's 422, next to the field, with its code.
        await field.fill("*.example.org")
        await add.click()
        await expect(field).to_have_attribute("aria-invalid", "true")
        await expect(section.locator("#domain-name-error")).to_have_text(
            "Wildcard domains are not supported (wildcard_domain)."
        )

        # Added: the TXT record with the very token the gateway answered with.
        await field.fill(domain.upper())
        async with page.expect_response(
            lambda r: r.request.method == "POST" and r.url.endswith("/domains")
        ) as answered:
            await add.click()
        response = await answered.value
        assert response.status == 201
        token = next(r["value"] for r in (await response.json())["records"] if r["type"] == "TXT")
        item = section.locator(f'li[data-domain="{domain}"]')
        await expect(item.get_by_test_id("domain-state")).to_have_text("waiting for DNS")
        await expect(item.get_by_label("TXT record name", exact=True)).to_have_value(
            challenge_name(domain)
        )
        await expect(item.get_by_label("TXT record value", exact=True)).to_have_value(token)
        await expect(item).to_contain_text(
            "Create this TXT record at your DNS provider; we check every few minutes."
        )
        await expect(field).to_have_value("")

        # The owner creates the record; one pass of the real verifier finds it, and the
        # feed's domain.verified moves the badge with no reload.
        dns_server.set_txt(challenge_name(domain), token)
        verifier = verifier_for(gateway, reaper_pool, service_database_urls["reaper"], dns_server)
        await verifier.pass_once(datetime.now(UTC))
        await expect(item.get_by_test_id("domain-state")).to_have_text("verified")
        await expect(item).to_have_attribute("data-state", "verified")

        # The issuer (not run here: it needs cert-manager) gets the certificate; the feed's
        # domain.active moves the badge and the page says until when it is valid.
        await certificate_issued(gateway, store["id"], domain, datetime(2031, 8, 1, 12, tzinfo=UTC))
        await expect(item.get_by_test_id("domain-state")).to_have_text("active")
        await expect(item.get_by_test_id("domain-certificate")).to_have_text(
            re.compile(r"^Certificate valid until .*2031\.$")
        )

        # Make it the store's primary domain: under way until the provisioner's
        # url.changed, then the store's address.
        make_primary = item.get_by_role("button", name=f"Make {domain} the store's primary domain")
        async with page.expect_response(
            lambda r: r.request.method == "PUT" and r.url.endswith("/primary-domain")
        ) as answered:
            await make_primary.click()
        change = await (await answered.value).json()
        await expect(item.get_by_test_id("domain-primary")).to_have_text("primary")
        await expect(section.get_by_test_id("primary-pending")).to_contain_text(
            f"Moving the store's address to {domain}"
        )
        await address_changed(gateway, store["id"], change["operation_id"], f"https://{domain}")
        await expect(section.get_by_test_id("primary-pending")).to_have_count(0)
        await expect(section.get_by_test_id("store-url")).to_have_text(f"https://{domain}")
        host = f"{store['slug']}.stores.localhost"
        await expect(section.get_by_role("button", name=f"Use {host}")).to_be_enabled()

        # Remove: nothing happens until it is confirmed.
        await item.get_by_role("button", name="Remove…").click()
        confirm = section.get_by_role("group", name=f"Remove {domain}")
        await expect(confirm).to_contain_text("The store stops answering at it")
        await expect(confirm).to_contain_text("It is the store's primary domain")
        assert await open_requests(gateway, store["id"]) == 1
        await confirm.get_by_role("button", name="Remove", exact=True).click()
        await expect(item).to_have_count(0)
        await expect(section).to_contain_text("No custom domains yet.")
        assert await open_requests(gateway, store["id"]) == 0
        # The reaper's next pass sends the store back to its own host, live.
        await verifier.pass_once(datetime.now(UTC))
        await expect(section).to_contain_text(
            f"{domain} stopped being served, so the store went back to {host}."
        )


async def address_changed(gateway: Harness, store_id: str, operation_id: str, url: str) -> None:
    """What the provisioner publishes once the store's engine answers at `url`."""
    data = {"operation_id": operation_id, "url": url, "seconds": 20.0}
    event = new_event("url.changed", store_id, data, actor="provisioner", correlation_id="t")
    await publish_event(gateway.js, event, stream=gateway.settings.stream_name)


async def open_requests(gateway: Harness, store_id: str) -> int:
    count: int = await gateway.pool.fetchval(
        "SELECT count(*) FROM domain_requests WHERE store_id = $1::uuid AND removed_at IS NULL",
        store_id,
    )
    return count


async def certificate_issued(
    gateway: Harness, store_id: str, domain: str, not_after: datetime
) -> None:
    """What the reaper's domain issuer writes and publishes once a certificate is Ready."""
    domain_id = await gateway.pool.fetchval(
        "UPDATE domain_states SET state = 'active', issuing_at = now(), not_after = $3,"
        " served = true, announced = 'active' WHERE store_id = $1::uuid AND domain = $2"
        " RETURNING id::text",
        store_id,
        domain,
        not_after,
    )
    data = DomainActive(domain_id=domain_id, domain=domain, not_after=not_after)
    event = new_event(
        "domain.active", store_id, data, actor="reaper", correlation_id=str(uuid.uuid4())
    )
    await publish_event(gateway.js, event, stream=gateway.settings.stream_name)
