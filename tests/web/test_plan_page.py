"""Changing a store's plan from its page in Debian's headless Chromium, against the
in-process gateway serving the built dashboard over real Postgres and NATS: the owner picks
medium for a small store, sees the change under way (the control off, the store still
ready), then medium once `plan.changed` arrives on the feed; a smaller plan the store's
usage does not fit comes back as `plan.failed`, whose reason the page shows with the plan
unchanged. The provisioner's events are folded by the auditor's batch (for the gateway's
answers) and published on the stream (for the feed)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from shared.plans import DEFAULT_PLANS, Plan
from tests.browser import chromium_page
from tests.gateway.conftest import RELAXED, Harness, MakeGateway, TestUser
from tests.web.test_backups_page import sign_in_and_open
from tests.web.test_suspend_page import provisioner_says

# The defaults and a plan smaller than small, for a move the store's usage does not fit.
PLANS = {**DEFAULT_PLANS, "tiny": Plan(description="a sketch: 1 CPU / 1Gi, 5Gi storage")}


async def ready_store(gateway: Harness, user: TestUser, name: str) -> dict[str, Any]:
    store = await gateway.create_store(user, name, plan="small")
    await gateway.project(store["id"], "ready")
    return store


async def plan_change_started(page: Page, plan: str) -> dict[str, Any]:
    """Pick `plan` and confirm; the gateway's 202."""
    await page.get_by_label("New plan").select_option(plan)
    async with page.expect_response(lambda r: r.request.method == "PATCH") as answered:
        await page.get_by_role("button", name=f"Change to {plan}", exact=True).click()
    response = await answered.value
    assert response.status == 202, await response.text()
    accepted: dict[str, Any] = await response.json()
    return accepted


async def test_an_owner_moves_a_store_from_small_to_medium_and_sees_it_under_way(
    make_gateway: MakeGateway, dashboard: Path
) -> None:
    gateway = await make_gateway(web_dist=dashboard, plans=PLANS, **RELAXED)
    user = await gateway.add_user()
    name = f"Growing Shop {uuid.uuid4().hex[:4]}"
    store = await ready_store(gateway, user, name)

    async with chromium_page() as page:
        await sign_in_and_open(page, gateway, user, name)
        plan = page.get_by_test_id("store-plan")
        await expect(plan).to_have_text("small")

        accepted = await plan_change_started(page, "medium")
        assert (accepted["plan"], accepted["previous_plan"]) == ("medium", "small")
        progress = page.get_by_role("progressbar", name="plan change progress")
        await expect(progress).to_be_visible()
        await expect(page.get_by_label("New plan")).to_be_disabled()
        await expect(plan).to_have_text("small (moving to medium)")
        await expect(page.locator(".page-head .badge")).to_have_attribute("data-status", "ready")

        changed = {"operation_id": accepted["operation_id"], "plan": "medium"}
        await provisioner_says(
            gateway,
            store["id"],
            [("plan.changed", changed | {"previous_plan": "small", "seconds": 6.0})],
        )
        await expect(plan).to_have_text("medium")
        await expect(progress).to_have_count(0)
        await expect(page.get_by_label("New plan")).to_be_enabled()
        timeline = page.get_by_test_id("timeline")
        await expect(timeline.locator('[data-type="plan.changed"]')).to_contain_text("now medium")

        # The gateway says so too: a reload shows medium, and small is on offer again.
        await page.reload()
        await expect(plan).to_have_text("medium")
        await expect(page.get_by_label("New plan").locator('option[value="small"]')).to_have_count(1)


async def test_a_plan_the_store_outgrew_shows_why_and_the_store_stays_small(
    make_gateway: MakeGateway, dashboard: Path
) -> None:
    gateway = await make_gateway(web_dist=dashboard, plans=PLANS, **RELAXED)
    user = await gateway.add_user()
    name = f"Full Shop {uuid.uuid4().hex[:4]}"
    store = await ready_store(gateway, user, name)

    async with chromium_page() as page:
        await sign_in_and_open(page, gateway, user, name)
        accepted = await plan_change_started(page, "tiny")
        await expect(page.get_by_role("progressbar", name="plan change progress")).to_be_visible()

        reason = "the store uses 12Gi of storage; tiny allows 5Gi"
        failed = {"operation_id": accepted["operation_id"], "plan": "tiny"}
        await provisioner_says(
            gateway,
            store["id"],
            [("plan.failed", failed | {"code": "usage_exceeds_plan", "reason": reason})],
        )
        await expect(page.get_by_test_id("plan-failed")).to_contain_text(
            f"the new plan is too small for what the store uses now: {reason}"
        )
        await expect(page.get_by_test_id("store-plan")).to_have_text("small")
        await expect(page.get_by_label("New plan")).to_be_enabled()

        await page.reload()
        await expect(page.get_by_test_id("store-plan")).to_have_text("small")
        await expect(page.get_by_test_id("plan-failed")).to_contain_text(reason)
