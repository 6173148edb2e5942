"""The setup step is safe to run again (a Job re-runs on every upgrade): a second run
changes nothing an admin can count, and a rotated admin password takes effect."""

from __future__ import annotations

import asyncio
import dataclasses

import aiohttp
import pytest

from tests.medusa import medusa_app
from tests.medusa.medusa_app import StoreSettings
from tests.medusa.store_api import AdminApi, ApiError

SEEDED = (
    "regions",
    "sales-channels",
    "api-keys",
    "stock-locations",
    "shipping-profiles",
    "shipping-options",
    "products",
    "inventory-items",
    "users",
)


async def _counts(admin: AdminApi) -> dict[str, int]:
    return {resource: await admin.count(resource) for resource in SEEDED}


async def test_a_second_setup_run_succeeds_and_creates_no_duplicates(
    medusa_store: StoreSettings, admin_api: AdminApi
) -> None:
    before = await _counts(admin_api)

    await asyncio.to_thread(medusa_app.setup, medusa_store)

    assert await _counts(admin_api) == before
    assert before["regions"] == before["shipping-options"] == before["products"] == 1
    assert before["users"] == 1


async def test_setup_with_a_rotated_admin_password_lets_in_only_the_new_one(
    medusa_store: StoreSettings, http: aiohttp.ClientSession
) -> None:
    settings = medusa_store
    rotated = dataclasses.replace(settings, admin_password="rotated-secret-42")
    admin = AdminApi(http, settings.url)
    try:
        await asyncio.to_thread(medusa_app.setup, rotated)

        await admin.login(settings.admin_email, rotated.admin_password)
        with pytest.raises(ApiError, match="401"):
            await admin.login(settings.admin_email, settings.admin_password)
    finally:
        await asyncio.to_thread(medusa_app.setup, settings)
