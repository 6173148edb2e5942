"""A customer buys through the storefront page in real headless Chromium (Debian's
package, driven by Playwright's client library; no browser is ever downloaded), and
the store's admin sees that order. Screenshots of each step go to
`.run/screenshots/medusa/`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page

from tests.browser import chromium_page
from tests.medusa.medusa_app import REPO, StoreSettings
from tests.medusa.store_api import AdminApi, StoreApi
from tests.medusa.storefront import CUSTOMER, buy_a_t_shirt

SCREENSHOTS = REPO / ".run" / "screenshots" / "medusa"


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with chromium_page() as page:
        yield page


async def test_a_customer_buys_on_the_storefront_page_and_the_admin_sees_the_order(
    medusa_store: StoreSettings, page: Page, store_api: StoreApi, admin_api: AdminApi
) -> None:
    bought = await buy_a_t_shirt(page, medusa_store.url, medusa_store.store_name, SCREENSHOTS)
    await store_api.load_config()
    _, unit_price = await store_api.first_variant()

    order = await admin_api.order(bought.order_id)

    assert bought.shown_number == f"#{order['display_id']}"
    assert order["email"] == CUSTOMER["Email"]
    assert [item["quantity"] for item in order["items"]] == [1]
    assert [method["name"] for method in order["shipping_methods"]] == ["Standard shipping"]
    shipping = order["shipping_methods"][0]["amount"]
    assert order["total"] == pytest.approx(unit_price + shipping)
    assert f"{order['total']:.2f}" in bought.shown_total
