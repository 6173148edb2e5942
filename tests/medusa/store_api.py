"""A customer and an admin of a Medusa store, over its HTTP APIs only.

`place_order` is the buying flow a storefront performs against the Store API (cart, line
item, addresses, shipping method, payment collection and a session with the manual
provider, completion). `AdminApi` logs in the way the store's owner does
(`POST /auth/user/emailpass`), reads orders and entity counts back, and uploads files
(`POST /admin/uploads`) as the admin does for a product image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

PAYMENT_PROVIDER = "pp_system_default"

ADDRESS = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "address_1": "Analytical Street 1",
    "postal_code": "10115",
    "city": "Berlin",
}


class ApiError(RuntimeError):
    """A Medusa API call answered with an error status."""


async def _call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    async with http.request(method, url, json=body, headers=headers) as response:
        data: dict[str, Any] = await response.json(content_type=None)
        if response.status >= 400:
            raise ApiError(f"{method} {url} answered {response.status}: {data}")
        return data


@dataclass(frozen=True)
class PlacedOrder:
    order: dict[str, Any]
    expected_total: float


class StoreApi:
    """The Store API as a customer's browser uses it, scoped by the publishable key."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base_url = base_url
        self.headers: dict[str, str] = {}
        self.region_id = ""

    async def load_config(self) -> dict[str, Any]:
        config = await _call(self.http, "GET", f"{self.base_url}/storefront/config", {})
        self.headers = {"x-publishable-api-key": config["publishable_key"]}
        self.region_id = config["region_id"]
        return config

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return await _call(self.http, method, f"{self.base_url}{path}", self.headers, body)

    async def first_variant(self) -> tuple[str, float]:
        """The first product's first variant and its price in the store's region."""
        query = f"region_id={self.region_id}&fields=id,title,*variants.calculated_price"
        products = (await self.call("GET", f"/store/products?{query}"))["products"]
        variant = products[0]["variants"][0]
        return variant["id"], float(variant["calculated_price"]["calculated_amount"])


async def place_order(store: StoreApi, email: str, quantity: int = 2) -> PlacedOrder:
    """Buy `quantity` of the first product with cash on delivery; the order and its
    total as computed from the catalogue's prices."""
    await store.load_config()
    variant_id, unit_price = await store.first_variant()
    cart = (await store.call("POST", "/store/carts", {"region_id": store.region_id}))["cart"]
    cart_path = f"/store/carts/{cart['id']}"
    await store.call(
        "POST", f"{cart_path}/line-items", {"variant_id": variant_id, "quantity": quantity}
    )
    country = (await store.call("GET", f"/store/regions/{store.region_id}"))["region"]
    address = {**ADDRESS, "country_code": country["countries"][0]["iso_2"]}
    await store.call(
        "POST",
        cart_path,
        {"email": email, "shipping_address": address, "billing_address": address},
    )
    options = await store.call("GET", f"/store/shipping-options?cart_id={cart['id']}")
    option = options["shipping_options"][0]
    await store.call("POST", f"{cart_path}/shipping-methods", {"option_id": option["id"]})
    await pay_on_delivery(store, cart["id"])
    completed = await store.call("POST", f"{cart_path}/complete")
    if completed.get("type") != "order":
        raise ApiError(f"cart not completed: {completed}")
    expected = unit_price * quantity + float(option["amount"])
    return PlacedOrder(order=completed["order"], expected_total=expected)


async def pay_on_delivery(store: StoreApi, cart_id: str) -> None:
    collection = await store.call("POST", "/store/payment-collections", {"cart_id": cart_id})
    collection_id = collection["payment_collection"]["id"]
    await store.call(
        "POST",
        f"/store/payment-collections/{collection_id}/payment-sessions",
        {"provider_id": PAYMENT_PROVIDER},
    )


class AdminApi:
    """The Admin API with the bearer token of the store's admin user."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base_url = base_url
        self.headers: dict[str, str] = {}

    async def login(self, email: str, password: str) -> None:
        url = f"{self.base_url}/auth/user/emailpass"
        token = await _call(self.http, "POST", url, {}, {"email": email, "password": password})
        self.headers = {"authorization": f"Bearer {token['token']}"}

    async def call(self, method: str, path: str) -> Any:
        return await _call(self.http, method, f"{self.base_url}{path}", self.headers)

    async def order(self, order_id: str) -> dict[str, Any]:
        fields = "id,display_id,email,total,currency_code,status,*items,*shipping_methods"
        return (await self.call("GET", f"/admin/orders/{order_id}?fields={fields}"))["order"]

    async def upload(self, filename: str, content: bytes, content_type: str) -> dict[str, Any]:
        """Upload one file as the admin dashboard does (multipart, field `files`); the
        file Medusa made of it: `id` and the public `url` it is served at."""
        form = aiohttp.FormData()
        form.add_field("files", content, filename=filename, content_type=content_type)
        url = f"{self.base_url}/admin/uploads"
        async with self.http.post(url, data=form, headers=self.headers) as response:
            data: dict[str, Any] = await response.json(content_type=None)
            if response.status >= 400:
                raise ApiError(f"POST {url} answered {response.status}: {data}")
        (uploaded,) = data["files"]
        return dict(uploaded)

    async def count(self, resource: str) -> int:
        """How many of a resource the admin sees, e.g. `regions` or `api-keys`."""
        return int((await self.call("GET", f"/admin/{resource}?limit=1"))["count"])
