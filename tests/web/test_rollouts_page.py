"""The administrators' Rollouts page in Debian's headless Chromium, against the in-process
gateway serving the built dashboard over real Postgres and NATS: an admin starts a rollout
of woocommerce from the form, sees it listed and its detail, is refused (409, next to the
engine) a second one for the same engine, sees the detail follow an `upgrade.requested`
event of the rollout on the feed, pauses and resumes it, and aborts it once confirmed. A
non-admin has no Rollouts page and the API refuses them. No reaper runs: the rollout's
rows sit as the gateway wrote them, but for the store row this test writes as the driver
would."""

from __future__ import annotations

import uuid
from pathlib import Path

from playwright.async_api import Page, expect

from shared.engine_versions import load_versions
from shared.events import new_event
from shared.jetstream import publish_event
from tests.browser import chromium_page
from tests.gateway.conftest import RELAXED, Harness, MakeGateway, TestUser


async def sign_in(page: Page, gateway: Harness, user: TestUser) -> None:
    await page.goto(gateway.url)
    await page.get_by_label("Username").fill(user.username)
    await page.get_by_label("Password").fill(user.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()


async def open_rollouts(page: Page) -> None:
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Rollouts").click()
    await expect(page.get_by_role("heading", level=1, name="Rollouts")).to_be_visible()


async def start_rollout(page: Page, threshold: str = "10") -> int:
    """Fill the form's failure threshold and submit; the gateway's status."""
    await page.get_by_label("Failure threshold (%)").fill(threshold)
    async with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/admin/rollouts")
    ) as answered:
        await page.get_by_role("button", name="Start rollout").click()
    return (await answered.value).status


async def picked_by_the_driver(gateway: Harness, rollout_id: str, store_id: str) -> None:
    """What the reaper's driver does for one store: its row, then `upgrade.requested`."""
    operation = str(uuid.uuid4())
    await gateway.pool.execute(
        "INSERT INTO rollout_stores (rollout_id, store_id, wave, operation_id, state,"
        " from_version) VALUES ($1, $2, 0, $3, 'requested', '0.0.1')",
        uuid.UUID(rollout_id),
        uuid.UUID(store_id),
        uuid.UUID(operation),
    )
    data = {
        "operation_id": operation,
        "version": "0.0.2",
        "previous_version": "0.0.1",
        "requested_by": "reaper",
        "rollout_id": rollout_id,
    }
    envelope = new_event(
        "upgrade.requested", store_id, data, actor="reaper", correlation_id="browser"
    )
    await publish_event(gateway.js, envelope, stream=gateway.settings.stream_name)


async def test_an_admin_starts_follows_pauses_resumes_and_aborts_a_rollout(
    make_gateway: MakeGateway, dashboard: Path
) -> None:
    gateway = await make_gateway(web_dist=dashboard, **RELAXED)
    admin = await gateway.add_user(admin=True)
    version = load_versions(gateway.settings.charts_dir, "woocommerce").default

    async with chromium_page() as page:
        await sign_in(page, gateway, admin)
        await open_rollouts(page)
        await expect(page.get_by_text("No rollout yet.")).to_be_visible()
        await expect(page.get_by_label("Waves", exact=True)).to_have_value("1, 5%, 25%, 100%")
        await expect(page.get_by_label("Target version")).to_have_value(version)

        assert await start_rollout(page) == 201
        heading = page.get_by_role("heading", level=1, name=f"Rollout of woocommerce to {version}")
        await expect(heading).to_be_visible()
        rollout_id = page.url.rsplit("/", 1)[1]
        state = page.get_by_test_id("rollout-state")
        await expect(state).to_have_attribute("data-state", "running")
        await expect(page.get_by_test_id("rollout-waves").locator("tbody tr")).to_have_count(4)
        threshold = await gateway.pool.fetchval(
            "SELECT failure_threshold FROM rollouts WHERE id = $1", uuid.UUID(rollout_id)
        )
        assert threshold == 0.1

        # Listed; a second one for the same engine is refused next to the engine.
        await open_rollouts(page)
        row = page.get_by_test_id("rollouts").locator(f'tr[data-rollout="{rollout_id}"]')
        await expect(row).to_have_attribute("data-state", "running")
        await expect(row).to_contain_text(f"woocommerce to {version}")
        await expect(row).to_contain_text("wave 1 of 4")
        assert await start_rollout(page) == 409
        await expect(page.get_by_label("Engine", exact=True)).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#rollout-engine-error")).to_contain_text("running or paused")
        assert await gateway.pool.fetchval("SELECT count(*) FROM rollouts") == 1

        # The driver picks a store: its event on the feed makes the detail read again.
        await row.get_by_role("link").click()
        await expect(heading).to_be_visible()
        await expect(page.get_by_text("The reaper has not picked the stores yet.")).to_be_visible()
        store_id = str(uuid.uuid4())
        await picked_by_the_driver(gateway, rollout_id, store_id)
        store = page.get_by_test_id("rollout-stores").locator(f'tr[data-store="{store_id}"]')
        await expect(store).to_have_attribute("data-state", "requested")
        await expect(store).to_contain_text("0.0.1")

        # Pause, resume; abort asks first.
        pause = page.get_by_role("button", name="Pause", exact=True)
        resume = page.get_by_role("button", name="Resume", exact=True)
        await expect(resume).to_be_disabled()
        await pause.click()
        await expect(state).to_have_attribute("data-state", "paused")
        await expect(pause).to_be_disabled()
        await resume.click()
        await expect(state).to_have_attribute("data-state", "running")

        await page.get_by_role("button", name="Abort…").click()
        await page.get_by_role("button", name="Cancel").click()
        await expect(state).to_have_attribute("data-state", "running")
        await page.get_by_role("button", name="Abort…").click()
        await page.get_by_role("button", name="Abort the rollout").click()
        await expect(state).to_have_attribute("data-state", "aborted")
        for name in ("Pause", "Resume", "Abort…"):
            await expect(page.get_by_role("button", name=name, exact=True)).to_be_disabled()
        stored = await gateway.pool.fetchval(
            "SELECT state FROM rollouts WHERE id = $1", uuid.UUID(rollout_id)
        )
        assert stored == "aborted"


async def test_a_user_who_is_not_an_admin_has_no_rollouts_page(
    make_gateway: MakeGateway, dashboard: Path
) -> None:
    gateway = await make_gateway(web_dist=dashboard, **RELAXED)
    user = await gateway.add_user()

    async with chromium_page() as page:
        await sign_in(page, gateway, user)
        nav = page.get_by_role("navigation", name="Main")
        await expect(nav.get_by_role("link", name="My stores")).to_be_visible()
        await expect(nav.get_by_role("link", name="Rollouts")).to_have_count(0)
        await page.goto(f"{gateway.url}/admin/rollouts")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Administrators only")

    async with gateway.client(user).get("/api/v1/admin/rollouts") as resp:
        assert resp.status == 403
