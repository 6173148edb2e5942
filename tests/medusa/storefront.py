"""A customer buying through a Medusa store's storefront page (`/shop`) in Chromium,
with a screenshot of each step; shared by the page test against the app run from npm
and the end-to-end test on the real node."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Page, expect

CUSTOMER = {
    "Email": "grace@customer.example",
    "First name": "Grace",
    "Last name": "Hopper",
    "Street and number": "Compiler Lane 7",
    "Postal code": "80331",
    "City": "Munich",
}


@dataclass(frozen=True)
class Purchase:
    order_id: str
    shown_number: str  # "#<display id>"
    shown_total: str


async def _shot(page: Page, screenshots: Path, name: str) -> None:
    await page.screenshot(path=screenshots / f"{name}.png", full_page=True)


async def buy_a_t_shirt(page: Page, store_url: str, store_name: str, screenshots: Path
                        ) -> Purchase:  # fmt: skip
    """Open the storefront, add the T-shirt, give an address, take standard shipping and
    place the order; what the confirmation shows."""
    await page.goto(f"{store_url}/shop")
    await expect(page.get_by_role("heading", level=1)).to_have_text(store_name)
    await expect(page.get_by_role("button", name="Add Storefleet T-shirt to cart")).to_be_visible()
    await _shot(page, screenshots, "1-products")

    await page.get_by_role("button", name="Add Storefleet T-shirt to cart").click()
    await expect(page.get_by_role("status")).to_have_text("Storefleet T-shirt added to your cart.")
    price = await page.locator(".price").first.inner_text()
    await expect(page.locator("#cart-items")).to_have_text(
        f"1 \N{MULTIPLICATION SIGN} Storefleet T-shirt (One size): {price}"
    )
    await _shot(page, screenshots, "2-cart")

    for label, value in CUSTOMER.items():
        await page.get_by_label(label).fill(value)
    await _shot(page, screenshots, "3-address")
    await page.get_by_role("button", name="Continue to shipping").click()
    await expect(page.get_by_role("radio", name="Standard shipping")).to_be_checked()
    await _shot(page, screenshots, "4-shipping")

    await page.get_by_role("button", name="Place order").click()
    await expect(page.get_by_role("heading", name="Thank you for your order")).to_be_visible()
    await _shot(page, screenshots, "5-confirmation")
    return Purchase(
        order_id=await page.locator("#order-id").inner_text(),
        shown_number=await page.locator("#order-display-id").inner_text(),
        shown_total=await page.locator("#order-total").inner_text(),
    )
