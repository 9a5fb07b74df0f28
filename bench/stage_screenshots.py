"""Screenshots of both demo pages in presenter mode at 1280×720, light and dark, mid-answer and after a follow-up,
against the API double (no model host needed), composed into the README's two stage images.

    python -m bench.stage_screenshots        # writes assets/screenshots/stage_mid_answer.png, stage_follow_up.png
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from tests import test_browser as tb
from tests.api_double import ApiDouble, Reply
from tests.stubs import StubServer

OUT = Path(__file__).resolve().parent.parent / "assets" / "screenshots"
ANSWER = ("Stockholm is overcast at 3 °C with a westerly wind of 14 km/h, and light rain is expected tonight. "
          "Take an umbrella if you are out after dark; tomorrow should be drier, with some sun in the afternoon.")
CAT = ("A tabby cat with striking green eyes looks straight at the camera. Its fur is striped in brown, black and "
       "cream, with white whiskers and a pink nose; the background is softly blurred.")
FOLLOW = ("Its eyes are a clear green with a hint of yellow around the pupils, which are narrowed to slits in the "
          "bright light.")


def _ask(page, text: str) -> None:
    box = page.locator('[data-testid="stChatInput"] textarea')
    box.fill(text)
    box.press("Enter")


def main() -> None:
    shots: dict[str, Path] = {}
    tmp = Path(tempfile.mkdtemp())
    with ApiDouble() as d, StubServer() as stub, sync_playwright() as pw:
        trap = tb.ProxyTrap()
        server = tb.start_app(tb.app_env(trap, **stub.env(), MODELS_PROVIDER="openrouter", OPENROUTER_API_KEY="sk-or-x",
                                         OPENROUTER_BASE_URL=d.endpoint_for("openrouter")), tmp)
        browser = pw.chromium.launch(executable_path=str(tb.CHROMIUM), args=tb.CHROMIUM_ARGS)
        try:
            for scheme in ("light", "dark"):
                page = browser.new_page(viewport={"width": 1280, "height": 720}, color_scheme=scheme)
                page.goto(f"{server.url}/tool_calling?present=1")
                tb.settle(page)
                page.locator('[data-testid="stSidebar"] label').filter(has_text="Reuse identical answers").click()
                tb.settle(page)  # live answers each time: the same questions are asked in both themes
                turn = {"tools": (f"Weather ({scheme}): " + ANSWER, "button:has-text('What is the weather in Stockholm?')",
                                  f"Weather ({scheme}):", f"Tomorrow ({scheme}): drier, 5 °C, sun in the afternoon.",
                                  "And tomorrow?"),
                        "vision": (f"{CAT} ({scheme})", ".st-key-vision_scenario_cat button", "A tabby cat",
                                   f"{FOLLOW} ({scheme})", "What colour are its eyes?")}
                for name, (answer, click, seen, follow, follow_up) in turn.items():
                    if name == "vision":
                        page.locator('[data-testid="stTopNavLink"]').filter(has_text="Vision").click()  # same session
                        tb.settle(page)
                    d.queue(Reply(text=answer, chunk_delay_s=0.12))
                    page.locator(click).first.click()
                    expect(page.get_by_text(seen, exact=False).first).to_be_visible(timeout=20_000)
                    page.wait_for_timeout(1_200)
                    shots[f"{name}_mid_{scheme}"] = tmp / f"{name}_mid_{scheme}.png"
                    page.screenshot(path=str(shots[f"{name}_mid_{scheme}"]))
                    tb.settle(page)
                    d.queue(Reply(text=follow))
                    _ask(page, follow_up)
                    tb.settle(page)
                    page.wait_for_timeout(2_000)
                    shots[f"{name}_follow_{scheme}"] = tmp / f"{name}_follow_{scheme}.png"
                    page.screenshot(path=str(shots[f"{name}_follow_{scheme}"]))
                page.close()
        finally:
            browser.close()
            server.stop()
            trap.close()
    OUT.mkdir(parents=True, exist_ok=True)
    for state in ("mid", "follow"):
        tiles = [str(shots[f"{p}_{state}_{s}"]) for p in ("tools", "vision") for s in ("light", "dark")]
        name = "stage_mid_answer.png" if state == "mid" else "stage_follow_up.png"
        subprocess.run(["montage", *tiles, "-tile", "2x2", "-geometry", "960x540+6+6", "-background", "#888888",
                        str(OUT / name)], check=True)
        print("wrote", OUT / name)


if __name__ == "__main__":
    main()
