"""A customer orders through the Store API; the store's admin sees the order."""

from __future__ import annotations

import pytest

from tests.medusa.medusa_app import StoreSettings
from tests.medusa.store_api import AdminApi, StoreApi, place_order


async def test_an_order_placed_through_the_store_api_shows_in_the_admin_with_its_total(
    medusa_store: StoreSettings, store_api: StoreApi, admin_api: AdminApi
) -> None:
    placed = await place_order(store_api, email="ada@customer.example", quantity=2)

    order = await admin_api.order(placed.order["id"])

    assert order["display_id"] == placed.order["display_id"]
    assert order["email"] == "ada@customer.example"
    assert order["currency_code"] == medusa_store.currency
    assert [item["quantity"] for item in order["items"]] == [2]
    assert order["total"] == pytest.approx(placed.expected_total)
