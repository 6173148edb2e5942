"""Suspend and resume from the store page in Debian's headless Chromium, against the
in-process gateway serving the built dashboard over real Postgres and NATS: the owner
types the store's name to suspend it, sees `suspending` at once, then `suspended` with a
Resume button as the provisioner's events arrive on the feed, resumes it and sees it ready
again; a wrong name asks the gateway nothing. The provisioner's events are folded by the
auditor's batch (for the gateway's answers) and published on the stream (for the feed)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from playwright.async_api import Page, Request, expect

from shared.events import new_event
from shared.jetstream import publish_event
from tests.browser import chromium_page
from tests.gateway.backups import fold_envelopes
from tests.gateway.conftest import RELAXED, Harness, MakeGateway
from tests.web.test_backups_page import sign_in_and_open


async def provisioner_says(
    gateway: Harness, store_id: str, steps: list[tuple[str, dict[str, Any]]]
) -> None:
    """The provisioner's events: folded into the projection, then on the live feed."""
    envelopes = [
        new_event(kind, store_id, data, actor="provisioner", correlation_id="browser")
        for kind, data in steps
    ]
    await fold_envelopes(gateway, envelopes)
    for envelope in envelopes:
        await publish_event(gateway.js, envelope, stream=gateway.settings.stream_name)


async def operation_started(page: Page, button: str, action: str) -> str:
    """Click `button` and wait for the gateway's 202 to `action`; the operation's id."""
    async with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith(f"/{action}")
    ) as answered:
        await page.get_by_role("button", name=button, exact=True).click()
    response = await answered.value
    assert response.status == 202, await response.text()
    operation_id: str = (await response.json())["operation_id"]
    return operation_id


async def test_an_owner_suspends_a_store_from_its_page_and_resumes_it(
    make_gateway: MakeGateway, dashboard: Path
) -> None:
    gateway = await make_gateway(web_dist=dashboard, **RELAXED)
    user = await gateway.add_user()
    name = f"Sleepy Shop {uuid.uuid4().hex[:4]}"
    store = await gateway.create_store(user, name)
    await gateway.project(store["id"], "ready")

    async with chromium_page() as page:
        posted: list[str] = []

        def record(request: Request) -> None:
            if request.method == "POST":
                posted.append(request.url)

        page.on("request", record)
        await sign_in_and_open(page, gateway, user, name)
        badge = page.locator(".page-head .badge")
        await expect(badge).to_have_attribute("data-status", "ready")

        # A wrong name: the button stays off and Enter sends nothing.
        await page.get_by_role("button", name="Suspend…").click()
        suspend = page.get_by_role("button", name="Suspend this store")
        confirm = page.get_by_label("Type the store's name")
        await confirm.fill(name.lower())
        await confirm.press("Enter")
        await expect(suspend).to_be_disabled()
        assert not [url for url in posted if url.endswith("/suspend")]
        assert await gateway.pool.fetchval("SELECT count(*) FROM store_operations") == 0

        # The right name: suspending at once, suspended once the workers say so.
        await confirm.fill(name)
        suspended_by = await operation_started(page, "Suspend this store", "suspend")
        await expect(badge).to_have_attribute("data-status", "suspending")
        await expect(page.get_by_role("progressbar", name="suspending progress")).to_be_visible()
        op = {"operation_id": suspended_by}
        await provisioner_says(
            gateway,
            store["id"],
            [("suspend.started", op), ("suspend.completed", op | {"seconds": 2.0})],
        )
        await expect(badge).to_have_attribute("data-status", "suspended")
        await expect(page.get_by_text("visitors see a “store paused” page")).to_be_visible()
        await expect(page.get_by_role("button", name="Suspend…")).to_have_count(0)

        # The gateway says so too: a reload shows it suspended.
        await page.reload()
        await expect(badge).to_have_attribute("data-status", "suspended")
        resumed_by = await operation_started(page, "Resume", "resume")
        await expect(badge).to_have_attribute("data-status", "resuming")
        again = {"operation_id": resumed_by}
        await provisioner_says(
            gateway,
            store["id"],
            [("resume.started", again), ("resume.completed", again | {"seconds": 5.0})],
        )
        await expect(badge).to_have_attribute("data-status", "ready")
        await expect(page.get_by_role("button", name="Suspend…")).to_be_visible()
        timeline = page.get_by_test_id("timeline")
        await expect(timeline.locator('[data-type="suspend.completed"]')).to_have_count(1)
        await expect(timeline.locator('[data-type="resume.completed"]')).to_have_count(1)

    kinds = await gateway.pool.fetch(
        "SELECT kind FROM store_operations WHERE store_id = $1::uuid ORDER BY requested_at",
        store["id"],
    )
    assert [k["kind"] for k in kinds] == ["suspend", "resume"]
