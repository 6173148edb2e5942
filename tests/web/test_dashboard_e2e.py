"""The dashboard end to end, in Debian's headless Chromium driven by Playwright, against
the real gateway, provisioner, reaper and auditor on the real control plane: a person
signs in, creates a store and watches its badge reach `ready` with no reload (and no
polling), reads its timeline, deletes it and sees it go; a second person sees none of
the first one's stores. A screenshot of each step goes to `.run/screenshots/dashboard/`.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from playwright.async_api import Browser, Page, Request, expect

from tests.web.conftest import RunningPlatform

SCREENSHOTS = Path(__file__).resolve().parents[2] / ".run" / "screenshots" / "dashboard"
READY_MS = 240_000  # a WooCommerce store on the kwok control plane: its waves and setup Job
GONE_MS = 180_000  # the reaper waits until Kubernetes has really removed the namespace


async def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


async def sign_in(page: Page, url: str, username: str, password: str) -> None:
    await page.goto(url)
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1, name="My stores")).to_be_visible()


def row(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator("tr", has=page.get_by_role("link", name=name, exact=True))


async def test_a_person_creates_watches_reads_and_deletes_a_store_that_nobody_else_sees(
    platform: RunningPlatform, browser: Browser
) -> None:
    alice, bob = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    alice_password, bob_password = platform.add_user(alice), platform.add_user(bob)
    shop = f"Corner Shop {uuid.uuid4().hex[:4]}"
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = await context.new_page()
    store_lists: list[Request] = []
    page.on(
        "request",
        lambda r: store_lists.append(r) if r.method == "GET" and r.url.endswith("/stores") else 0,
    )

    # 1. sign in
    await page.goto(platform.url)
    await page.get_by_label("Username").fill(alice)
    await page.get_by_label("Password").fill(alice_password)
    await shot(page, "1-sign-in")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1, name="My stores")).to_be_visible()
    await expect(page.get_by_test_id("quota")).to_have_text(re.compile(r"^0 of 10 stores"))
    await shot(page, "1-signed-in")

    # 2. create a store; its badge goes to ready on its own: no reload, no polling
    await page.evaluate("window.__sameDocument = true")
    await page.get_by_label("Store name").fill(shop)
    await page.get_by_role("button", name="Create store").click()
    await expect(row(page, shop)).to_be_visible()
    store_id = await row(page, shop).get_attribute("data-store-id")
    assert store_id
    platform.store_ids.add(store_id)
    await expect(page.get_by_test_id("quota")).to_have_text(re.compile(r"^1 of 10 stores"))
    await shot(page, "2-requested")
    lists_before = len(store_lists)
    await expect(row(page, shop).locator(".badge")).to_have_text("ready", timeout=READY_MS)
    assert await page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    assert len(store_lists) == lists_before, "the store list was fetched again while waiting"
    await expect(
        row(page, shop).get_by_role("link", name=re.compile(r"stores\.localhost"))
    ).to_be_visible()
    await shot(page, "2-ready")
    await page.set_viewport_size({"width": 390, "height": 844})  # a phone
    await expect(row(page, shop).locator(".badge")).to_be_visible()
    await shot(page, "2-ready-phone")
    await page.set_viewport_size({"width": 1280, "height": 900})

    # 3. the detail page: the timeline has every step of provisioning
    await row(page, shop).get_by_role("link", name=shop, exact=True).click()
    await expect(page.get_by_role("heading", level=1, name=shop)).to_be_visible()
    timeline = page.get_by_test_id("timeline")
    for step in ("Requested", "Provisioning started", "Step done: guardrails", "Ready"):
        await expect(timeline.get_by_text(step, exact=True)).to_be_visible()
    await expect(page.get_by_role("button", name="Reveal admin credentials")).to_be_visible()
    await shot(page, "3-detail")

    # 4. delete it, confirmed by typing its name, and see it disappear
    await page.get_by_role("button", name="Delete store…").click()
    confirm = page.get_by_role("button", name="Delete this store for good")
    await expect(confirm).to_be_disabled()
    await page.get_by_label(re.compile("Type the store's name")).fill(shop)
    await confirm.click()
    await expect(page.locator(".page-head .badge")).to_have_text("deleting")
    await shot(page, "4-deleting")
    await page.get_by_role("link", name="My stores").first.click()
    # No row while the list loads says nothing: first the list, then the row leaving it.
    await expect(page.get_by_text("Loading your stores…")).to_have_count(0)
    await expect(row(page, shop)).to_have_count(0, timeout=GONE_MS)
    await expect(page.get_by_test_id("quota")).to_have_text(re.compile(r"^0 of 10 stores"))
    await shot(page, "4-gone")

    # 5. another person sees none of the first one's stores, not even by address
    await page.get_by_label("Store name").fill(f"{shop} Two")
    await page.get_by_role("button", name="Create store").click()
    await expect(row(page, f"{shop} Two")).to_be_visible()
    second_id = await row(page, f"{shop} Two").get_attribute("data-store-id")
    assert second_id
    platform.store_ids.add(second_id)
    other = await (await browser.new_context(locale="en-US")).new_page()
    await sign_in(other, platform.url, bob, bob_password)
    await expect(other.get_by_text("You have no stores yet")).to_be_visible()
    await expect(other.get_by_text(shop)).to_have_count(0)
    await shot(other, "5-other-person")
    await other.goto(f"{platform.url}/stores/{second_id}")
    await expect(other.get_by_role("alert")).to_contain_text("not yours to see")
    await shot(other, "5-other-person-by-address")
