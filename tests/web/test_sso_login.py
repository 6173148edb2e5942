"""Single sign-on in Debian's headless Chromium: the login page's "Sign in with ..."
link leads to the real provider's own login page (Dex, tests/fixtures/oidc.py), where the
person types their email and password; the provider sends the browser back to the
in-process gateway's callback, which signs them in and lands them on the dashboard as
that user. With password login off, the page offers single sign-on only."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.browser import chromium_page
from tests.fixtures.oidc import USER_EMAIL, TestDex
from tests.gateway.conftest import RELAXED, MakeGateway


async def test_a_person_signs_in_through_the_provider_and_lands_on_the_dashboard(
    make_gateway: MakeGateway, dashboard: Path, dex: TestDex
) -> None:
    gateway = await make_gateway(
        web_dist=dashboard, **RELAXED, **dex.gateway_settings(local_login=False)
    )
    async with chromium_page() as page:
        await page.goto(f"{gateway.url}/")
        sso = page.get_by_role("link", name="Sign in with Example SSO")
        await expect(sso).to_be_visible()
        await expect(page.get_by_label("Password")).to_have_count(0)
        await sso.click()

        await page.wait_for_url(f"{dex.issuer}/**")
        await page.locator("#login").fill(USER_EMAIL)
        await page.locator("#password").fill(dex.password)
        await page.locator("#submit-login").click()

        await page.wait_for_url(f"{gateway.url}/")
        await expect(page.get_by_role("heading", name="My stores")).to_be_visible()
        username = await gateway.pool.fetchval(
            "SELECT username FROM users WHERE oidc_issuer = $1", dex.issuer
        )
        await expect(page.get_by_text(username, exact=False).first).to_be_visible()
