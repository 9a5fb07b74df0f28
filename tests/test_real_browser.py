"""The real-server tier in a real browser: the app's pages in headless Chromium against a real vLLM server.

The same vLLM (tests/real_servers/, a tiny scripted Llama with the real Llama 3 tokenizer and Meta's template) that
tests/test_real_servers.py drives through the library; here a person clicks, reads and presses Stop.
"""

from __future__ import annotations

import re
import time
from typing import Iterator

import pytest

from tests import real_servers as rs
from tests.test_browser import (  # the module-scoped `stub`, `trap` and `browser` fixtures too
    CHROMIUM,
    AppServer,
    ProxyTrap,
    app_env,
    assert_healthy,
    browser,
    explained,
    open_app,
    send_chat,
    settle,
    shot,
    start_app,
    stub,
    trap,
)
from tests.stubs import StubServer

if not CHROMIUM.exists():  # pragma: no cover - tests.test_browser already skips the module then
    pytest.skip("Chromium not found", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect  # noqa: E402

__all__ = ["browser", "stub", "trap"]  # fixtures shared with tests/test_browser.py

pytestmark = [pytest.mark.browser, pytest.mark.real_server, pytest.mark.timeout(300),
              pytest.mark.skipif(not rs.enabled(), reason="LLAMA_HERD_REAL_SERVERS=0: real-server tier skipped")]

MODEL = rs.SERVED_MODEL
CHAT = '[data-testid="stChatMessage"]'


@pytest.fixture(scope="module")
def app(vllm: rs.RealServer, stub: StubServer, trap: ProxyTrap,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    import tests.test_browser as tb

    env = app_env(trap, **stub.env(), MODELS_PROVIDER="custom", MODELS_ENDPOINT=vllm.url + "/v1")
    server = start_app(env, tmp_path_factory.mktemp("streamlit-real"))
    tb._current_app = server  # `explained` adds the app's log to a failure
    try:
        yield server
    finally:
        tb._current_app = None
        server.stop()
    assert trap.lines == [], f"the app tried to reach the internet: {trap.lines}"


@pytest.fixture
def page(browser: Browser, app: AppServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 720}, locale="en-US")
    context.set_default_timeout(30_000)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


@explained
def test_a_tool_turn_on_vllm_shows_the_call_the_result_and_the_prompt_vllm_rendered(
        page: Page, app: AppServer, stub: StubServer) -> None:
    open_app(page, app, "tool_calling")
    expect(page.get_by_role("heading", name="Tool calling with Llama 3.1 405B")).to_be_visible()
    send_chat(page, "What is the weather in Stockholm?")
    turn = page.locator(CHAT).filter(has_text="Sunny skies")
    # Two model requests on vLLM's CPU, with the other test worker busy too: up to a minute, not Playwright's 5 s.
    expect(turn.get_by_text("Sunny skies and mild temperatures today", exact=False)).to_be_visible(timeout=60_000)
    settle(page)
    expect(turn.get_by_text('decided to call brave_search(query="weather in Stockholm")')).to_be_visible()
    expect(turn.get_by_text("The app ran Web search (Brave):")).to_be_visible()
    footer = turn.get_by_text(re.compile(r"Llama 3\.1 405B on vLLM.* · 2 model requests · [\d,]+ tokens"))
    expect(footer).to_be_visible()
    # "What the model sees" is what vLLM rendered: Meta's system prompt once, with one date line.
    page.get_by_text("What the model sees").click()
    settle(page)
    raw = page.locator('[data-testid="stExpander"]').filter(has_text="What the model sees").locator("pre").first
    expect(page.get_by_text("Rendered by the server itself", exact=False)).to_be_visible()
    text = raw.inner_text()
    assert text.count("Today Date:") == 1, text[:600]
    assert "Environment: ipython\nTools: brave_search, wolfram_alpha" in text
    assert '<|python_tag|>brave_search.call(query="weather in Stockholm")<|eom_id|>' in text
    assert_healthy(page)
    shot(page, "real_vllm_tool_turn")


@explained
def test_stop_on_the_tool_page_stops_vllm_within_a_second(page: Page, app: AppServer, vllm: rs.RealServer) -> None:
    before, aborted_before = rs.finished_by_reason(vllm), rs.aborted(vllm)
    open_app(page, app, "tool_calling")
    send_chat(page, "Write a long essay about llamas")
    essay = page.locator(CHAT).filter(has_text="Llamas graze quietly")
    expect(essay.first).to_be_visible(timeout=60_000)  # vLLM on CPU, the other test worker busy too
    assert rs.running_requests(vllm) == 1
    page.locator(".st-key-tool_stop button:visible").first.click()
    started = time.monotonic()
    while rs.running_requests(vllm) > 0:
        assert time.monotonic() - started < 5, "vLLM kept generating after Stop"
        time.sleep(0.05)
    took = time.monotonic() - started
    assert took < 1.0, f"vLLM was still generating {took:.2f} s after Stop"
    settle(page)
    expect(page.get_by_text("Stopped before the answer was complete", exact=False)).to_be_visible()
    expect(page.get_by_text(re.compile(r"· 1 model request\b"))).to_be_visible()  # it reached the server
    after = rs.finished_by_reason(vllm)
    assert rs.aborted(vllm) == aborted_before + 1 and after.get("length", 0) == before.get("length", 0)
    # The stopped answer was not cached: asking again goes to vLLM again.
    page.get_by_role("button", name="Retry this question").click()
    expect(page.locator(".st-key-tool_stop button:visible").first).to_be_visible()
    started = time.monotonic()
    while rs.running_requests(vllm) == 0:
        assert time.monotonic() - started < 10, "the retry never reached vLLM (answered from a cache?)"
        time.sleep(0.05)
    page.locator(".st-key-tool_stop button:visible").first.click()
    settle(page)
    assert_healthy(page)


@explained
def test_the_vision_page_on_a_text_only_server_says_so_in_its_title(page: Page, app: AppServer) -> None:
    open_app(page, app, "vision")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Vision: no vision model here")
    assert_healthy(page)
    shot(page, "real_vllm_vision_no_model")
