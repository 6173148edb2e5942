"""A file the admin uploads is written to the store's upload directory, `static` under
the server's working directory (the directory the chart puts on the store's volume
claim, tests/chart/test_medusa_uploads.py), and served from there at its URL."""

from __future__ import annotations

import aiohttp

from tests.medusa.medusa_app import APP_DIR, StoreSettings
from tests.medusa.store_api import AdminApi

IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


async def test_a_file_uploaded_through_the_admin_api_lands_in_the_upload_directory_and_is_served(
    medusa_store: StoreSettings, admin_api: AdminApi, http: aiohttp.ClientSession
) -> None:
    uploaded = await admin_api.upload("shirt.png", IMAGE, "image/png")

    assert uploaded["url"].startswith(f"{medusa_store.url}/static/")
    name = uploaded["url"].rsplit("/", 1)[1]
    assert (APP_DIR / "static" / name).read_bytes() == IMAGE
    async with http.get(uploaded["url"]) as response:
        assert response.status == 200
        assert await response.read() == IMAGE
    (APP_DIR / "static" / name).unlink()
