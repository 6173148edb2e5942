"""The dashboard runs whole under its Content-Security-Policy, and no other page can frame
it (clickjacking): the built SPA in Debian's Chromium, served by the in-process gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import ConsoleMessage, expect

from devtools.dashboard import ensure_dashboard
from tests.browser import chromium_page
from tests.gateway.conftest import RELAXED, MakeGateway


@pytest.fixture(scope="module")
def dashboard() -> Path:
    return ensure_dashboard()


async def test_the_dashboard_signs_in_and_creates_a_store_without_a_policy_violation(
    make_gateway: MakeGateway, dashboard: Path
) -> None:
    gateway = await make_gateway(web_dist=dashboard, **RELAXED)
    user = await gateway.add_user()
    refused: list[str] = []
    async with chromium_page() as page:

        def note(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                refused.append(message.text)

        page.on("console", note)
        answer = await page.goto(gateway.url)
        assert answer is not None
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        await page.get_by_label("Username").fill(user.username)
        await page.get_by_label("Password").fill(user.password)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", level=1, name="My stores")).to_be_visible()
        await page.get_by_label("Store name").fill("policy shop")
        await page.get_by_role("button", name="Create store").click()
        await expect(page.get_by_role("link", name="policy shop", exact=True)).to_be_visible()

    assert refused == []


async def test_another_page_cannot_frame_the_dashboard(
    make_gateway: MakeGateway, dashboard: Path
) -> None:
    gateway = await make_gateway(web_dist=dashboard, **RELAXED)
    refused: list[str] = []
    async with chromium_page() as page:
        page.on("console", lambda message: refused.append(message.text))
        await page.set_content(f'<iframe src="{gateway.url}/" width="600" height="400"></iframe>')
        await asyncio.sleep(1.0)  # the frame's answer arrives and is refused
        framed = page.frames[1] if len(page.frames) > 1 else None
        login_form = 0 if framed is None else await framed.get_by_label("Username").count()

    assert login_form == 0
    assert any("frame-ancestors" in text for text in refused), refused
