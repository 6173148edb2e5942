"""The store page's Backups section in Debian's headless Chromium, against the in-process
gateway serving the built dashboard over real Postgres and NATS: "Back up now" shows the
new backup as requested at once and the feed moves it on with no reload; Restore stays
off until the store's name is typed; Clone sends `from_backup` and opens the new store; a
store whose newest verified backup is older than its plan allows carries a warning.
The provisioner's events are published by the test and folded by the auditor's batch."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.async_api import Page, expect

from shared.events import new_event
from shared.jetstream import publish_event
from tests.browser import chromium_page
from tests.gateway.backups import backup_of
from tests.gateway.conftest import RELAXED, Harness, MakeGateway, TestUser


async def sign_in_and_open(page: Page, gateway: Harness, user: TestUser, store: str) -> None:
    await page.goto(gateway.url)
    await page.get_by_label("Username").fill(user.username)
    await page.get_by_label("Password").fill(user.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("link", name=store, exact=True).click()
    await expect(page.get_by_role("heading", level=1, name=store)).to_be_visible()


async def test_back_up_restore_and_clone_from_the_store_page(
    make_gateway: MakeGateway, dashboard: Path
) -> None:
    gateway = await make_gateway(web_dist=dashboard, **RELAXED)
    user = await gateway.add_user()
    name = f"Backed Shop {uuid.uuid4().hex[:4]}"
    store = await gateway.create_store(user, name)
    await gateway.project(store["id"], "ready")
    verified = await backup_of(gateway, store["id"])

    async with chromium_page() as page:
        await sign_in_and_open(page, gateway, user, name)
        table = page.get_by_test_id("backups")
        await expect(table.locator(f'tr[data-backup="{verified}"]')).to_have_attribute(
            "data-status", "verified"
        )

        # Back up now: the row is there as requested before any worker has seen it.
        await page.get_by_role("button", name="Back up now").click()
        new_row = table.locator('tr[data-status="requested"]')
        await expect(new_row).to_have_count(1)
        await expect(page.get_by_role("button", name="Back up now")).to_be_disabled()
        backup_id = await new_row.get_attribute("data-backup")
        assert backup_id is not None
        started = new_event(
            "backup.started",
            store["id"],
            {"backup_id": backup_id, "worker": "provisioner-0"},
            actor="provisioner",
            correlation_id="browser",
        )
        await publish_event(gateway.js, started, stream=gateway.settings.stream_name)
        await expect(table.locator(f'tr[data-backup="{backup_id}"]')).to_have_attribute(
            "data-status", "running"
        )

        # Restore: off until the store's name is typed exactly.
        verified_row = table.locator(f'tr[data-backup="{verified}"]')
        await verified_row.get_by_role("button", name="Restore…").click()
        restore = page.get_by_role("button", name="Restore", exact=True)
        await expect(restore).to_be_disabled()
        confirm = page.get_by_label("Type the store's name")
        await confirm.fill(name.lower())
        await expect(restore).to_be_disabled()
        await confirm.fill(name)
        await expect(restore).to_be_enabled()
        await restore.click()
        await expect(
            page.get_by_role("status").filter(has_text="Restore requested")
        ).to_be_visible()
        restores = await gateway.pool.fetch("SELECT store_id, backup_id FROM restore_requests")
        assert [(str(r["store_id"]), str(r["backup_id"])) for r in restores] == [
            (store["id"], verified)
        ]

        # Clone: asks the new store's name, sends from_backup, opens the new store.
        await verified_row.get_by_role("button", name="Clone…").click()
        await page.get_by_label("Name of the new store").fill("Cloned Shop")
        async with page.expect_request(
            lambda r: r.method == "POST" and r.url.endswith("/api/v1/stores")
        ) as sent:
            await page.get_by_role("button", name="Clone", exact=True).click()
        body = json.loads((await sent.value).post_data or "{}")
        assert body == {"name": "Cloned Shop", "from_backup": verified}
        await expect(page.get_by_role("heading", level=1, name="Cloned Shop")).to_be_visible()
        clone_id = page.url.rsplit("/", 1)[-1]
        source = await gateway.pool.fetchval(
            "SELECT from_backup_id FROM store_requests WHERE id = $1::uuid", clone_id
        )
        assert str(source) == verified


async def test_a_store_with_a_stale_backup_warns_on_its_page(
    make_gateway: MakeGateway, dashboard: Path
) -> None:
    gateway = await make_gateway(web_dist=dashboard, **RELAXED)
    user = await gateway.add_user()
    now = datetime.now(UTC)
    stale, fresh = f"Stale Shop {uuid.uuid4().hex[:4]}", f"Fresh Shop {uuid.uuid4().hex[:4]}"
    for name, backed_up in ((stale, now - timedelta(days=3)), (fresh, now - timedelta(hours=1))):
        store = await gateway.create_store(user, name)
        await gateway.project(store["id"], "ready", ready_at=now - timedelta(days=30))
        await backup_of(gateway, store["id"], at=backed_up)

    async with chromium_page() as page:
        await sign_in_and_open(page, gateway, user, stale)
        warning = page.get_by_test_id("backups-stale")
        await expect(warning).to_contain_text("No verified backup since")
        await expect(warning).to_contain_text("this plan backs up every 24 hours")

        await page.go_back()
        await page.get_by_role("link", name=fresh, exact=True).click()
        await expect(page.get_by_test_id("backups").locator("tbody tr")).to_have_count(1)
        await expect(page.get_by_test_id("backups-stale")).to_have_count(0)
