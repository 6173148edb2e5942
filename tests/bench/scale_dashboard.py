"""The dashboard's first paint for the scale benchmark (tests/bench/bench_scale.py):
Debian's Chromium through Playwright (tests/browser.py; no browser is downloaded) signs
in as an administrator, then opens the admin view of every store (`/admin/stores`) afresh
a few times and reads, from the page's own clock (ms since navigation began), its first
contentful paint, when the first row of the store list was in the page and the frame
after it (when it was painted).
"""

from __future__ import annotations

import statistics
from typing import Any

from tests.browser import chromium_page
from tests.web.test_dashboard_e2e import sign_in

# Runs before the page's own scripts: notes when a store row first exists, and the next
# animation frame after it (when the browser paints it).
WATCH_ROWS = """
window.__rowsShown = null;
window.__rowsPainted = null;
new MutationObserver((_, observer) => {
  if (document.querySelector("tr[data-store-id]")) {
    window.__rowsShown = performance.now();
    requestAnimationFrame(() => { window.__rowsPainted = performance.now(); });
    observer.disconnect();
  }
}).observe(document, { childList: true, subtree: true });
"""
READ_TIMES = """() => ({
  fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? null,
  rows: window.__rowsShown,
  painted: window.__rowsPainted,
  domContentLoaded: performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd,
  rowCount: document.querySelectorAll("tr[data-store-id]").length,
})"""


async def first_paint(url: str, username: str, password: str, runs: int = 3) -> dict[str, Any]:
    """Medians over `runs` fresh loads of /admin/stores, in ms, and each run's times."""
    async with chromium_page() as page:
        await sign_in(page, url, username, password)
        await page.add_init_script(WATCH_ROWS)
        times = []
        for _ in range(runs):
            await page.goto(f"{url}/admin/stores")
            # wait_for_function would evaluate a string, which the dashboard's CSP forbids.
            await page.wait_for_selector("tr[data-store-id]", timeout=120_000)
            await page.wait_for_timeout(200)  # the frame after the rows, for `painted`
            times.append(await page.evaluate(READ_TIMES))
    return {
        "first_contentful_paint_ms": _median(times, "fcp"),
        "store_rows_in_page_ms": _median(times, "rows"),
        "store_rows_painted_ms": _median(times, "painted"),
        "dom_content_loaded_ms": _median(times, "domContentLoaded"),
        "rows_on_first_page": times[-1]["rowCount"],
        "runs": times,
    }


def _median(times: list[dict[str, Any]], key: str) -> float | None:
    values = [t[key] for t in times if t[key] is not None]
    return round(statistics.median(values), 1) if values else None
