"""The Webhooks pages in Debian's headless Chromium, against the in-process gateway serving
the built dashboard over real Postgres and NATS, with the real webhooks service
(`python -m services.webhooks`, its own role, 127.0.0.0/8 allowed, fast retries) and a
real receiver on 127.0.0.1: a bad URL is refused next to the field; a created endpoint's
secret is shown once (a reload does not show it again, and no storage or URL holds it);
a store event reaches the receiver signed with it, and the endpoint's log shows the
delivery, its failed attempts' answers and the final 204; a rotated secret signs the next
delivery; a test send arrives signed and shows in the log; delete asks first; another
user sees none of it."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser import chromium_page
from tests.gateway.conftest import RELAXED, Harness, MakeGateway, TestUser
from tests.webhooks.conftest import (  # noqa: F401 - fixtures used here
    StartService,
    publish_progress,
    receiver,
    start_webhooks,
)
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import until

DELIVERY_SECONDS = 20.0


async def sign_in(page: Page, gateway: Harness, user: TestUser) -> None:
    await page.goto(gateway.url)
    await page.get_by_label("Username").fill(user.username)
    await page.get_by_label("Password").fill(user.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("link", name="Webhooks").click()
    await expect(page.get_by_role("heading", level=1, name="Webhooks")).to_be_visible()


async def refresh_until_delivered(page: Page, event_id: str, attempts: int | None = None) -> None:
    """Refresh the log (the service publishes nothing on the feed) until `event_id` shows
    delivered (after `attempts` attempts, when given)."""
    row = page.locator(f'tr[data-event="{event_id}"][data-outcome="delivered"]')
    if attempts is not None:
        row = row.filter(has=page.locator(f'td[data-label="Attempts"]:text-is("{attempts}")'))
    deadline = time.monotonic() + DELIVERY_SECONDS
    while await row.count() == 0:
        if time.monotonic() > deadline:
            pytest.fail(f"{event_id} not shown delivered within {DELIVERY_SECONDS}s")
        await page.get_by_role("button", name="Refresh").click()
        await page.wait_for_timeout(300)


async def stored_anywhere(page: Page, secret: str) -> bool:
    kept: bool = await page.evaluate(
        "s => JSON.stringify({...localStorage}).includes(s)"
        " || JSON.stringify({...sessionStorage}).includes(s) || location.href.includes(s)",
        secret,
    )
    return kept


async def test_create_an_endpoint_see_its_secret_once_and_its_deliveries_then_delete_it(
    make_gateway: MakeGateway,
    dashboard: Path,
    receiver: Receiver,  # noqa: F811
    start_webhooks: StartService,  # noqa: F811
) -> None:
    gateway = await make_gateway(web_dist=dashboard, **RELAXED)
    alice, bob = await gateway.add_user(), await gateway.add_user()
    name = f"Hooked Shop {uuid.uuid4().hex[:4]}"
    store = await gateway.create_store(alice, name)
    await gateway.project(store["id"], "ready")
    await start_webhooks()

    async with chromium_page() as page:
        await sign_in(page, gateway, alice)
        form = page.get_by_role("form", name="Add an endpoint")
        url_field = form.get_by_label("URL", exact=True)
        add = form.get_by_role("button", name="Add endpoint")

        # Not http(s): the gateway's 422, next to the field.
        await url_field.fill("ftp://x")
        await add.click()
        await expect(url_field).to_have_attribute("aria-invalid", "true")
        await expect(form.locator("#webhook-url-error")).to_have_text(
            "Must be an http:// or https:// URL"
        )

        # Created for the one store: the secret the gateway answered with, shown once.
        await url_field.fill(f"{receiver.url}/flaky/shop")
        await form.get_by_label("Store").select_option(label=name)
        async with page.expect_response(
            lambda r: r.request.method == "POST" and r.url.endswith("/api/v1/webhooks")
        ) as answered:
            await add.click()
        response = await answered.value
        assert response.status == 201
        created = await response.json()
        secret, hook_id = created["secret"], created["id"]
        shown = page.get_by_test_id("webhook-secret")
        await expect(shown.get_by_label("Signing secret", exact=True)).to_have_value(secret)
        await expect(shown).to_contain_text("it will not be shown again")
        row = page.locator(f'tr[data-webhook="{hook_id}"]')
        await expect(row).to_contain_text(name)
        assert not await stored_anywhere(page, secret)

        # A reload: the endpoint is listed, its secret is not shown again.
        await page.reload()
        await expect(row).to_contain_text(f"{receiver.url}/flaky/shop")
        await expect(page.get_by_test_id("webhook-secret")).to_have_count(0)
        assert secret not in await page.content()

        # A store event reaches the receiver signed; the log shows two 500s, then a 204.
        receiver.secrets["shop"] = secret
        [first] = await publish_progress(gateway, store["id"], 1)
        await row.get_by_role("link").click()
        await expect(page.get_by_role("heading", level=1, name="Webhook endpoint")).to_be_visible()
        await refresh_until_delivered(page, first)
        delivery = page.locator(f'tr[data-event="{first}"]')
        await expect(delivery.get_by_test_id("delivery-answer")).to_contain_text("HTTP 204")
        await delivery.get_by_text("Attempts (3)").click()
        await expect(delivery.locator("pre.response")).to_have_text(["try again", "try again"])
        assert receiver.got["shop"][-1].signed

        # Someone else sees neither the endpoint in their list nor its page.
        other = await page.context.browser.new_page(locale="en-US")  # type: ignore[union-attr]
        await sign_in(other, gateway, bob)
        await expect(other.get_by_text("No endpoint yet.")).to_be_visible()
        await other.goto(f"{gateway.url}/webhooks/{hook_id}")
        await expect(other.get_by_role("alert")).to_have_text(
            "There is no such endpoint, or it is not yours."
        )

        # Rotate, once confirmed: the new secret, shown once, signs the next delivery.
        await page.get_by_role("button", name="Rotate secret…").click()
        async with page.expect_response(lambda r: r.url.endswith("/rotate-secret")) as rotated:
            await page.get_by_role("button", name="Rotate the secret").click()
        new_secret = (await (await rotated.value).json())["secret"]
        assert new_secret != secret
        await expect(shown.get_by_label("Signing secret", exact=True)).to_have_value(new_secret)
        await expect(shown).to_contain_text("The old secret stopped working just now.")
        receiver.secrets["shop"] = new_secret
        [second] = await publish_progress(gateway, store["id"], 1, start=1)
        await refresh_until_delivered(page, second)
        assert receiver.got["shop"][-1].signed

        # Send the first event again, from its row.
        before = len(receiver.got["shop"])
        await page.get_by_role("button", name=f"Send {first} again").click()
        await expect(page.get_by_role("status").filter(has_text="queued again")).to_have_text(
            "1 delivery queued again."
        )
        await until(lambda: len(receiver.got["shop"]) > before, DELIVERY_SECONDS, "sent again")
        await refresh_until_delivered(page, first, attempts=1)
        assert receiver.got["shop"][-1].event["id"] == first

        # Send a test: a signed webhook.test event, retried like the rest, in the log.
        async with page.expect_response(lambda r: r.url.endswith("/test")) as tested:
            await page.get_by_role("button", name="Send test").click()
        test_id = (await (await tested.value).json())["event_id"]
        await expect(page.get_by_role("status").filter(has_text="Test event")).to_have_text(
            f"Test event {test_id} queued."
        )
        await refresh_until_delivered(page, test_id, attempts=3)
        await expect(page.locator(f'tr[data-event="{test_id}"]')).to_contain_text("webhook.test")
        sent = receiver.got["shop"][-1]
        assert sent.event["type"] == "webhook.test" and sent.event["store_id"] is None
        assert sent.signed

        # Delete: nothing happens until it is confirmed.
        await page.get_by_role("button", name="Delete…").click()
        await expect(page.get_by_role("group", name="Delete the endpoint")).to_contain_text(
            "receives nothing more"
        )
        assert await endpoints(gateway, hook_id) == 1
        await page.get_by_role("button", name="Delete the endpoint").click()
        await expect(page.get_by_role("heading", level=1, name="Webhooks")).to_be_visible()
        await expect(page.get_by_text("No endpoint yet.")).to_be_visible()
        assert await endpoints(gateway, hook_id) == 0


async def endpoints(gateway: Harness, hook_id: str) -> int:
    count: int = await gateway.pool.fetchval(
        "SELECT count(*) FROM webhook_endpoints WHERE id = $1::uuid", hook_id
    )
    return count
