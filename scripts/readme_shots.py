"""README screenshots at 1280x720: Compare on both pages, and both pages in Korean (the API double, the tool stubs).

    python scripts/readme_shots.py
"""
from pathlib import Path
import sys, time
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import test_browser as tb
from tests import test_browser_vision as tv
from tests.stubs import StubServer
from tests.api_double import ApiDouble, Reply, _m, demo_responder
OUT = Path(__file__).resolve().parents[1] / "assets" / "screenshots"
BIG, SMALL = "meta-llama/Llama-3.1-405B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"
double = ApiDouble(models=[_m(BIG), _m(SMALL), _m("meta-llama/Llama-3.2-90B-Vision-Instruct", vision=True),
                           _m("meta-llama/Llama-3.2-11B-Vision-Instruct", vision=True)]).start()

def responder(body):
    model = body.get("model", "")
    last = (body.get("messages") or [{}])[-1]
    if model == SMALL and last.get("role") not in ("tool", "ipython") and "Translate" not in str(body.get("messages")):
        q = str(last.get("content"))
        if "weather" in q.lower():
            return Reply(text="Stockholm in early December is usually cold, around 0 to 3 °C, often grey with a chance of "
                              "rain or snow. I can't check today's weather.", chunk_delay_s=0.03)
    return demo_responder(body)

double.responder = responder
stub = StubServer().__enter__()
trap = tb.ProxyTrap()
env = tb.app_env(trap, **stub.env(), **tb.KEYS, MODELS_PROVIDER="custom", MODELS_ENDPOINT=double.endpoint,
                 MODELS_API_KEY=tb.FAKE_TOKEN)
APP_TMP = Path("/tmp/readme-shots-app"); APP_TMP.mkdir(exist_ok=True)
server = tb.start_app(env, APP_TMP)

def to_top(page, locator):
    locator.first.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(400)

try:
    with tb.trapped_chromium() as browser:
        with tb.browser_page(browser) as page:  # Compare, tool page
            page.goto(f"{server.url}/tool_calling"); tb.settle(page)
            page.get_by_text("Compare", exact=True).click(); tb.settle(page)
            tb.send_chat(page, "What is the weather in Stockholm?"); tb.settle(page); time.sleep(1)
            to_top(page, page.get_by_role("group", name="Chat message from user"))
            page.screenshot(path=str(OUT / "compare_tools.png"))
        with tb.browser_page(browser) as page:  # Compare, vision page
            page.goto(f"{server.url}/vision"); tb.settle(page)
            tv.pick_sample(page, "shopfront")
            page.get_by_text("Compare", exact=True).click(); tb.settle(page)
            tb.send_chat(page, "What does the sign say?"); tb.settle(page); time.sleep(1)
            to_top(page, page.locator(".st-key-vision_compare_conversation"))
            page.screenshot(path=str(OUT / "compare_vision.png"))
        with tb.browser_page(browser) as page:  # Korean, tool page
            page.goto(f"{server.url}/tool_calling?lang=ko"); tb.settle(page)
            page.locator("button").filter(has_text="지금 도쿄는 몇 시예요?").first.click(); tb.settle(page); time.sleep(1)
            to_top(page, page.get_by_role("group", name="Chat message from user"))
            page.screenshot(path=str(OUT / "ko_tool_calling.png"))
        with tb.browser_page(browser) as page:  # Korean, vision page
            page.goto(f"{server.url}/vision?lang=ko"); tb.settle(page)
            page.get_by_text("샘플", exact=False).first.click(); tb.settle(page)
            thumb = page.locator(".st-key-vision_card_shopfront img").bounding_box()
            page.mouse.click(thumb["x"] + 20, thumb["y"] + 20); tb.settle(page)
            tb.send_chat(page, "이 간판에 뭐라고 쓰여 있어요?"); tb.settle(page); time.sleep(1)
            page.screenshot(path=str(OUT / "ko_vision.png"))
finally:
    server.stop(); double.stop(); trap.close()
print("done")
