"""Debian's Chromium for the browser tests, driven by Playwright as a client library only
(no browser download): the path and the flags that keep it off the closed network, and
`chromium_page`, a fresh page in a browser that is closed afterwards."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Sequence

import pytest
from playwright.async_api import Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.asynccontextmanager
async def chromium_page(extra_args: Sequence[str] = ()) -> AsyncIterator[Page]:
    """A page (en-US) in a new headless Chromium; fails the test when Chromium is missing."""
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (once, before the browser starts)
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (Debian's package)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args]
        )
        try:
            yield await browser.new_page(locale="en-US")
        finally:
            await browser.close()
