"""Make the README's screenshots: the app against the API double and the tools stub, in headless Chromium.

    python scripts/readme_screenshots.py            # writes assets/screenshots/*.png

Everything runs on 127.0.0.1 (tests/api_double.py, tests/stubs.py); nothing reaches the internet.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.screenshot import CHROMIUM_ARGS  # noqa: E402
from tests.api_double import ApiDouble  # noqa: E402
from tests.stubs import StubServer  # noqa: E402

OUT = ROOT / "assets" / "screenshots"
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
PORT = 8593


def settle(page: Page) -> None:
    page.wait_for_timeout(400)
    page.locator(IDLE).wait_for(timeout=30_000)
    page.wait_for_timeout(600)
    page.locator(IDLE).wait_for(timeout=30_000)


def pick_sample(page: Page, key: str) -> None:
    """The sample gallery's card for `key` (the whole card is the button)."""
    page.locator('[data-testid="stButtonGroup"] button').filter(has=page.get_by_text("Sample", exact=True)).first.click()
    settle(page)
    page.locator(f".st-key-vision_sample_{key} button").first.click()
    settle(page)


def shoot(page: Page, url: str, query: str, sample: str, tools_png: str, vision_png: str) -> None:
    """A tool turn (weather in Stockholm) and a vision answer (one sample), one screenshot each."""
    page.goto(f"{url}/tool_calling{query}")
    settle(page)
    page.get_by_role("button", name="What is the weather in Stockholm?").click()
    page.locator('[data-testid="stChatMessage"]').filter(has_text="Based on the tool result").wait_for()
    settle(page)
    page.get_by_text("decided to call").first.scroll_into_view_if_needed()
    page.screenshot(path=str(OUT / tools_png))
    page.goto(f"{url}/vision{query}")
    settle(page)
    pick_sample(page, sample)
    page.get_by_role("button", name="Ask Llama").click()
    page.locator('[data-testid="stChatMessage"]').filter(has_text="I received one").wait_for()
    settle(page)
    page.screenshot(path=str(OUT / vision_png))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with ApiDouble() as double, StubServer() as stub:
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
        env.update(stub.env(), MODELS_PROVIDER="openrouter", MODELS_ENDPOINT=double.endpoint_for("openrouter"),
                   OPENROUTER_API_KEY="sk-or-screenshot-key", OLLAMA_HOST="127.0.0.1:9",
                   NO_PROXY="127.0.0.1,localhost", HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(PORT),
                                 "--server.address", "127.0.0.1", "--server.headless", "true"],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{PORT}"
            for _ in range(100):
                try:
                    urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url + "/_stcore/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                shoot(page, url, "?present=1", "shopfront", "presenter_tools.png", "presenter_vision.png")
                page.set_viewport_size({"width": 1400, "height": 1000})
                shoot(page, url, "", "cat", "tool_calling.png", "vision.png")
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print("wrote", ", ".join(sorted(x.name for x in OUT.glob("*.png"))))


if __name__ == "__main__":
    main()
