"""Issue 20 in a real browser at 1280×720: rehearse, then replay with the venue's network down; the quota meter
tells the truth.

- A tool turn and a vision answer are recorded against the API double (OpenRouter preset), the recording is saved
  (every exchange, the last one included), the app server, the double and the tool stubs are stopped. A fresh app
  server whose model host is a listener that refuses everything loads the recording (no crash, tool choices kept
  and the rehearsal's restored) and answers the same questions "replayed from rehearsal", with the recorded models,
  sending no model request at all.
- With a per-minute limit of 3 (`OPENROUTER_REQUESTS_PER_MINUTE=3`, the operator's figure), a fourth question in the
  same minute waits, saying how long, instead of being sent; the meter never reads above 3 this minute, and
  "This session" survives a reload.

    python -m pytest tests/test_browser_rehearsal.py -q -m browser -p no:cacheprovider
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests import test_browser as tb  # skips this module too when Chromium or Playwright is missing

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from tests.api_double import ApiDouble  # noqa: E402
from tests.test_browser import browser  # noqa: E402,F401 - the module-scoped Chromium fixture, shared
from tests.test_browser_vision import pick_sample  # noqa: E402
from tests.stubs import StubServer  # noqa: E402

pytestmark = pytest.mark.browser

KEY = "sk-or-rehearsal-test-key-0077"
CHAT = '[data-testid="stChatMessage"]'
SIDEBAR = '[data-testid="stSidebar"]'
INTEGRAL = "What is the integral of x^2 sin x?"
LOCAL_TIME = "Local time (offline)"
DEFAULT_TOOLS = ("Web search (Brave)", "Computation (Wolfram|Alpha)")


def _tab(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 720}, locale="en-US", accept_downloads=True)
    context.set_default_timeout(tb.RUN_TIMEOUT_MS)
    return context.new_page()


def _open_rehearsal(page: Page) -> None:
    sidebar = page.locator(SIDEBAR)
    if not sidebar.locator('.st-key-rehearsal_mode [data-testid="stRadioOption"]').count():
        sidebar.locator("summary").filter(has_text="Rehearsal").click()
        tb.settle(page)


def _mode(page: Page, label: str):
    return page.locator(SIDEBAR).locator('[data-testid="stRadioOption"]').filter(has_text=re.compile(f"^{label}$"))


def _tick(page: Page, name: str) -> None:
    if not page.get_by_role("checkbox", name=name).is_checked():
        page.get_by_text(name, exact=True).click()  # the label: Streamlit's box sits under it
        tb.settle(page)
    expect(page.get_by_role("checkbox", name=name)).to_be_checked()


def _explain(exc: BaseException, page: Page, server: tb.AppServer) -> None:
    """On failure: the app's output and a screenshot, in the error."""
    shot = tb.SHOTS / "FAILED-rehearsal.png"
    try:
        tb.SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        exc.add_note(f"page URL: {page.url}; screenshot: {shot}")
    except Exception:  # noqa: BLE001 - the original failure matters more
        pass
    exc.add_note(server.log_tail())


class _Host(tb.ProxyTrap):
    """Where the model host was: something that refuses every request (403) and writes down its request line."""



def _ask_about_the_shopfront(page: Page, footer: str) -> None:
    """On the vision page: the shopfront sample, "Ask Llama", and an answer whose footer says `footer`."""
    tb.nav_link(page, "Vision").click()
    tb.settle(page)
    pick_sample(page, "shopfront")
    page.get_by_role("button", name="Ask Llama").click()
    answer = page.get_by_role("group", name="Chat message from assistant").last
    expect(answer).to_contain_text(footer, timeout=20_000)
    tb.settle(page)


def test_a_recording_saved_in_rehearsal_replays_on_a_fresh_server_with_the_network_down(
        browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> None:
    started = time.monotonic()
    trap = tb.ProxyTrap()
    double = ApiDouble().start()
    stub = StubServer().start()
    tools_env = stub.env()
    server = tb.start_app(tb.app_env(trap, **tools_env, MODELS_PROVIDER="openrouter",
                                     MODELS_ENDPOINT=double.endpoint_for("openrouter"), OPENROUTER_API_KEY=KEY),
                          tmp_path_factory.mktemp("rehearse"))
    page = _tab(browser)
    try:
        # Rehearsal: Record, a tool turn with one more tool than the defaults, then a vision answer.
        page.goto(f"{server.url}/tool_calling")
        tb.settle(page)
        _open_rehearsal(page)
        _mode(page, "Record").click()
        tb.settle(page)
        _tick(page, LOCAL_TIME)
        page.get_by_role("button", name=INTEGRAL).click()
        expect(page.locator(CHAT).filter(has_text="Based on the tool result")).to_have_count(1)
        tb.settle(page)
        _ask_about_the_shopfront(page, "on OpenRouter")
        recorded_vision = double.chat_requests[-1].body["model"]
        _open_rehearsal(page)
        sidebar = page.locator(SIDEBAR)
        expect(sidebar).to_contain_text("4 exchanges recorded")  # two tool-turn answers, the tool result, the photo
        with page.expect_download() as info:
            sidebar.get_by_role("button", name="Save recording (JSON)").click()
        recording = tmp_path_factory.mktemp("saved") / "rehearsal.json"
        info.value.save_as(str(recording))
        saved = json.loads(recording.read_text())
        assert len(saved["streams"]) == 3, "every exchange recorded until the moment of saving, the last one too"
        assert [t["name"] for t in saved["tools"]] == ["wolfram_alpha"]
        assert saved["pins"]["models"]["openrouter"] == {"tools": "meta-llama/llama-3.3-70b-instruct",
                                                         "vision": recorded_vision}
        assert set(saved["pins"]["tools"]) == {"brave_search", "wolfram_alpha", "get_local_time"}
        assert KEY not in recording.read_text()
        tb.assert_healthy(page)
    except BaseException as exc:
        _explain(exc, page, server)
        raise
    finally:
        page.context.close()
        server.stop()
        double.stop()  # the venue's network is down: no model host, no tool APIs
        stub.stop()
    assert not [line for line in trap.lines if not line.startswith("CONNECT ")], trap.lines

    # On stage: a fresh server whose model host refuses everything; the same tool settings (their hosts gone too).
    host = _Host()
    server = tb.start_app(tb.app_env(trap, **tools_env, MODELS_PROVIDER="openrouter",
                                     MODELS_ENDPOINT=f"{host.url}/openrouter/v1", OPENROUTER_API_KEY=KEY),
                          tmp_path_factory.mktemp("stage"))
    page = _tab(browser)
    try:
        page.goto(f"{server.url}/tool_calling")
        tb.settle(page)
        for name in DEFAULT_TOOLS:  # the person's own choices before loading
            expect(page.get_by_role("checkbox", name=name)).to_be_checked()
        _open_rehearsal(page)
        page.locator(SIDEBAR).locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(recording))
        page.wait_for_timeout(800)
        tb.settle(page)
        tb.assert_healthy(page)  # no StreamlitWidgetAlreadyInstantiatedError
        expect(_mode(page, "Replay").locator("input")).to_be_checked()
        for name in (*DEFAULT_TOOLS, LOCAL_TIME):  # kept, and the rehearsal's one more ticked
            expect(page.get_by_role("checkbox", name=name)).to_be_checked()
        expect(page.get_by_role("heading", name="Tool calling with Llama 3.3 70B")).to_be_visible()
        expect(page.get_by_text("pinned by the recording", exact=False).first).to_be_visible()
        expect(page.get_by_role("button", name="Tick the rehearsal's tools")).to_have_count(0)  # they are
        page.get_by_role("button", name=INTEGRAL).click()
        replayed = page.locator(CHAT).filter(has_text="replayed from rehearsal")
        expect(replayed).to_have_count(1, timeout=20_000)
        expect(replayed).to_contain_text("Based on the tool result")
        tb.settle(page)
        tb.shot(page, "rehearsal_replayed_tools")

        _ask_about_the_shopfront(page, "replayed from rehearsal")
        expect(page.get_by_role("heading", name=re.compile("Vision with"))).to_contain_text(
            "Llama 3.2 11B Vision" if "11b" in recorded_vision else "Llama")
        expect(page.get_by_role("button", name="Tick the rehearsal's tools")).to_have_count(0)
        tb.assert_healthy(page)
        tb.shot(page, "rehearsal_replayed_vision")
        sent = [line for line in host.lines if not line.startswith("GET ")]
        assert sent == [], f"a request reached the model host: {sent}"
    except BaseException as exc:
        _explain(exc, page, server)
        raise
    finally:
        page.context.close()
        server.stop()
        host.close()
        trap.close()
    assert time.monotonic() - started < 90


def test_the_meter_never_reads_above_a_per_minute_limit_the_app_waits_and_says_so(
        browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> None:
    trap = tb.ProxyTrap()
    with ApiDouble() as double:
        server = tb.start_app(tb.app_env(trap, MODELS_PROVIDER="openrouter", OPENROUTER_API_KEY=KEY,
                                         MODELS_ENDPOINT=double.endpoint_for("openrouter"),
                                         OPENROUTER_REQUESTS_PER_MINUTE="3"),
                              tmp_path_factory.mktemp("meter"))
        page = _tab(browser)
        try:
            page.goto(f"{server.url}/tool_calling")
            tb.settle(page)
            # Every reading the sidebar ever shows, kept by the page itself (a reading between two checks counts).
            page.evaluate("""() => {
                window.__minute = [];
                const look = () => {
                    const bar = document.querySelector('[data-testid="stSidebar"]');
                    for (const m of (bar ? bar.innerText : '').matchAll(/(\\d+) of (\\d+) this minute/g))
                        window.__minute.push([Number(m[1]), Number(m[2])]);
                };
                new MutationObserver(look).observe(document.body, {subtree: true, childList: true,
                                                                   characterData: true});
            }""")
            for i in range(3):
                tb.send_chat(page, f"Tell me a joke, number {i}")
                expect(page.locator(CHAT).filter(has_text=f"number {i}")).to_have_count(2)
                tb.settle(page)
            sidebar = page.locator(SIDEBAR)
            expect(sidebar).to_contain_text("3 of 3 this minute")
            assert len(double.chat_requests) == 3
            tb.send_chat(page, "Tell me a joke, number 3")
            wait_line = page.get_by_text(re.compile(r"Waiting \d+ s: at most 3 requests a minute here \(1st in line\)"))
            expect(wait_line).to_be_visible(timeout=10_000)
            tb.shot(page, "meter_waiting")
            page.wait_for_timeout(1_500)
            assert len(double.chat_requests) == 3, "the fourth request waits; it is not sent"
            page.locator('[data-testid="stMainBlockContainer"]').get_by_role("button", name="Stop").click()
            tb.settle(page)
            expect(sidebar).to_contain_text(re.compile(r"3 of 3 this minute: the next request waits \d+ s"))
            expect(sidebar).to_contain_text("This session: 3")
            readings = page.evaluate("() => window.__minute")
            assert readings and max(n for n, _ in readings) <= 3 and {limit for _, limit in readings} == {3}, readings
            page.reload()  # "This session" is kept with the conversation
            tb.settle(page)
            expect(sidebar).to_contain_text("This session: 3")
            expect(sidebar).to_contain_text("3 of 3 this minute")
            assert len(double.chat_requests) == 3
            tb.assert_healthy(page)
        except BaseException as exc:
            _explain(exc, page, server)
            raise
        finally:
            page.context.close()
            server.stop()
            trap.close()
