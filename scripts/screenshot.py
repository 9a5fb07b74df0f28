"""Take a full-page screenshot of a running app page in headless Chromium (for looking at what we built).

    python scripts/screenshot.py http://localhost:8501/vision /tmp/vision.png
"""

from __future__ import annotations

import sys

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def main(url: str, out: str, width: int = 1400, height: int = 1000) -> None:
    """Open `url`, wait for Streamlit to finish running, save a PNG to `out`."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(url)
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=30000)
        page.wait_for_timeout(4000)
        page.screenshot(path=out, full_page=True)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
