"""A customer buys through the storefront page in real headless Chromium (Debian's
package, driven by Playwright's client library; no browser is ever downloaded), and
the store's admin sees that order. Screenshots of each step go to
`.run/screenshots/medusa/`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.medusa.medusa_app import REPO, StoreSettings
from tests.medusa.store_api import AdminApi, StoreApi

SCREENSHOTS = REPO / ".run" / "screenshots" / "medusa"
CUSTOMER = {
    "Email": "grace@customer.example",
    "First name": "Grace",
    "Last name": "Hopper",
    "Street and number": "Compiler Lane 7",
    "Postal code": "80331",
    "City": "Munich",
}


@pytest.fixture
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (Debian's package)")
    return CHROMIUM


@pytest.fixture
async def page(chromium: str) -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield await browser.new_page(locale="en-US")
        finally:
            await browser.close()


async def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


async def test_a_customer_buys_on_the_storefront_page_and_the_admin_sees_the_order(
    medusa_store: StoreSettings, page: Page, store_api: StoreApi, admin_api: AdminApi
) -> None:
    await page.goto(f"{medusa_store.url}/shop")
    await expect(page.get_by_role("heading", level=1)).to_have_text(medusa_store.store_name)
    await expect(page.get_by_role("button", name="Add Storefleet T-shirt to cart")).to_be_visible()
    await _shot(page, "1-products")

    await page.get_by_role("button", name="Add Storefleet T-shirt to cart").click()
    await expect(page.get_by_role("status")).to_have_text("Storefleet T-shirt added to your cart.")
    price = await page.locator(".price").first.inner_text()
    await expect(page.locator("#cart-items")).to_have_text(
        f"1 \N{MULTIPLICATION SIGN} Storefleet T-shirt (One size): {price}"
    )
    await _shot(page, "2-cart")

    for label, value in CUSTOMER.items():
        await page.get_by_label(label).fill(value)
    await _shot(page, "3-address")
    await page.get_by_role("button", name="Continue to shipping").click()
    await expect(page.get_by_role("radio", name="Standard shipping")).to_be_checked()
    await _shot(page, "4-shipping")

    await page.get_by_role("button", name="Place order").click()
    await expect(page.get_by_role("heading", name="Thank you for your order")).to_be_visible()
    await _shot(page, "5-confirmation")

    order_id = await page.locator("#order-id").inner_text()
    shown_number = await page.locator("#order-display-id").inner_text()
    shown_total = await page.locator("#order-total").inner_text()
    await store_api.load_config()
    _, unit_price = await store_api.first_variant()

    order = await admin_api.order(order_id)

    assert shown_number == f"#{order['display_id']}"
    assert order["email"] == CUSTOMER["Email"]
    assert [item["quantity"] for item in order["items"]] == [1]
    assert [method["name"] for method in order["shipping_methods"]] == ["Standard shipping"]
    shipping = order["shipping_methods"][0]["amount"]
    assert order["total"] == pytest.approx(unit_price + shipping)
    assert f"{order['total']:.2f}" in shown_total
