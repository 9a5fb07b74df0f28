"""Real-browser tests of the tool page on stage: nothing a presenter can lose, presenter mode, rehearsal replay,
the replay cache and the concurrency cap — in headless Chromium against the API double (OpenRouter preset).

    python -m pytest tests/test_browser_stage.py -q -m browser
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.test_browser import (  # noqa: E402 - the shared browser harness (skips without Chromium)
    CHAT_INPUT,
    EXCEPTION,
    RUN_TIMEOUT_MS,
    AppServer,
    ProxyTrap,
    app_env,
    contrast,
    send_chat,
    settle,
    shot,
    browser,  # noqa: F401 - the shared Chromium fixture (one per module)
    start_app,
    trap,  # noqa: F401 - the shared proxy trap fixture (one per module)
)

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from tests.api_double import ApiDouble, Reply  # noqa: E402
from tests.stubs import StubServer  # noqa: E402

pytestmark = pytest.mark.browser

KEY = "sk-or-stage-test-key-0042"
CHAT = '[data-testid="stChatMessage"]'


@pytest.fixture(scope="module")
def stage_double() -> Iterator[ApiDouble]:
    d = ApiDouble()
    d.start()
    yield d
    try:
        d.stop()
    except OSError:
        pass


@pytest.fixture(scope="module")
def stage_app(stage_double: ApiDouble, trap: ProxyTrap,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    with StubServer() as stub:
        env = app_env(trap, **stub.env(), MODELS_PROVIDER="openrouter",
                      MODELS_ENDPOINT=stage_double.endpoint_for("openrouter"), OPENROUTER_API_KEY=KEY)
        server = start_app(env, tmp_path_factory.mktemp("stage"))
        try:
            yield server
        finally:
            server.stop()
    assert trap.lines == [], trap.lines


@pytest.fixture
def tab(browser: Browser, stage_app: AppServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 720}, locale="en-US", accept_downloads=True)
    context.set_default_timeout(RUN_TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def USER(page: Page):  # noqa: N802 - reads like a selector
    return page.get_by_role("group", name="Chat message from user")


def open_tools(page: Page, app: AppServer, query: str = "") -> None:
    page.goto(f"{app.url}/tool_calling{query}")
    page.locator('[data-testid="stTopNav"]').wait_for()
    settle(page)
    expect(page.get_by_role("heading", name=re.compile("Tool calling with"))).to_be_visible()


def healthy(page: Page) -> None:
    expect(page.locator(EXCEPTION)).to_have_count(0)
    expect(page.get_by_text("Something went wrong on this page")).to_have_count(0)
    assert KEY not in page.content()


def test_tool_choices_and_model_survive_a_page_switch(tab: Page, stage_app: AppServer) -> None:
    open_tools(tab, stage_app)
    wolfram = tab.get_by_role("checkbox", name="Computation (Wolfram|Alpha)")
    clock = tab.get_by_role("checkbox", name="Local time (offline)")
    expect(wolfram).to_be_checked()
    tab.locator("label").filter(has_text="Computation (Wolfram|Alpha)").click()
    settle(tab)
    tab.locator("label").filter(has_text="Local time (offline)").click()
    settle(tab)
    model = tab.locator('[data-testid="stMainBlockContainer"] [data-testid="stSelectbox"]').first
    model.click()
    tab.keyboard.type(":free")
    tab.keyboard.press("Enter")
    settle(tab)
    combobox = tab.get_by_role("combobox", name="Model")
    expect(combobox).to_have_value(re.compile(":free"))
    tab.locator('[data-testid="stTopNavLink"]').filter(has_text="Home").click()
    settle(tab)
    tab.locator('[data-testid="stTopNavLink"]').filter(has_text="Tool calling").click()
    settle(tab)
    expect(wolfram).not_to_be_checked()
    expect(clock).to_be_checked()
    expect(combobox).to_have_value(re.compile(":free"))
    healthy(tab)


def test_a_reload_keeps_the_conversation(tab: Page, stage_app: AppServer) -> None:
    open_tools(tab, stage_app)
    send_chat(tab, "Tell me something about llamas, please")
    expect(tab.locator(CHAT).filter(has_text="You said")).to_have_count(1)
    settle(tab)
    assert "?s=" in tab.url or "&s=" in tab.url
    tab.reload()
    tab.locator('[data-testid="stTopNav"]').wait_for()
    settle(tab)
    expect(USER(tab).filter(has_text="Tell me something about llamas, please")).to_have_count(1)
    expect(tab.locator(CHAT).filter(has_text="You said")).to_have_count(1)
    healthy(tab)


def test_a_slow_turn_shows_elapsed_seconds_disables_input_and_stop_keeps_what_arrived(
        tab: Page, stage_app: AppServer, stage_double: ApiDouble) -> None:
    open_tools(tab, stage_app)
    words = " ".join(f"word{i}" for i in range(200))
    stage_double.queue(Reply(text="Slowly: " + words, delay_s=2.5, chunk_delay_s=0.1))
    send_chat(tab, "Answer slowly please")
    status = tab.locator(".st-key-tool_progress").filter(has_text=re.compile(r"thinking… [1-9]\d* s"))
    expect(status.first).to_be_visible(timeout=4_000)  # elapsed seconds from the first seconds on
    expect(tab.locator(CHAT_INPUT)).to_be_disabled()
    expect(tab.locator(CHAT).filter(has_text="Slowly: word0")).to_have_count(1, timeout=8_000)
    tab.locator('[data-testid="stMainBlockContainer"]').get_by_role("button", name="Stop").click()
    settle(tab)
    stopped = tab.locator(CHAT).filter(has_text="Stopped before the answer was complete")
    expect(stopped).to_have_count(1)
    expect(stopped).to_contain_text("Slowly: word0")
    expect(USER(tab).filter(has_text="Answer slowly please")).to_have_count(1)  # the question is kept
    expect(tab.get_by_role("button", name="Retry this question")).to_be_visible()
    expect(tab.locator(CHAT_INPUT)).to_be_enabled()
    shot(tab, "stage_stopped")
    healthy(tab)


def test_transcript_download_has_question_call_answer_and_no_key(tab: Page, stage_app: AppServer) -> None:
    open_tools(tab, stage_app)
    tab.get_by_role("button", name="What is the weather in Stockholm?").click()
    expect(tab.locator(CHAT).filter(has_text="Based on the tool result")).to_have_count(1)
    settle(tab)
    with tab.expect_download() as info:
        tab.get_by_role("button", name="Transcript (JSON)").click()
    data = Path(info.value.path()).read_text()
    with tab.expect_download() as info:
        tab.get_by_role("button", name="Transcript (Markdown)").click()
    markdown = Path(info.value.path()).read_text()
    for text in (data, markdown):
        assert "What is the weather in Stockholm?" in text
        assert "brave_search" in text and "Based on the tool result" in text
        assert "Llama 3.3 70B" in text or "llama-3.3-70b" in text
        assert KEY not in text and "stub-brave-key" not in text
    parsed = json.loads(data)
    assert parsed["turns"][0]["steps"][0]["call"]["name"] == "brave_search"


def test_presenter_mode_has_large_text_readable_captions_and_no_configuration_jargon(
        tab: Page, stage_app: AppServer) -> None:
    open_tools(tab, stage_app)
    assert contrast(tab, '[data-testid="stMainBlockContainer"] [data-testid="stCaptionContainer"] p') >= 4.5
    open_tools(tab, stage_app, "?present=1")
    expect(tab.get_by_role("switch", name="Presenter mode")).to_be_checked()
    size = tab.eval_on_selector('[data-testid="stMainBlockContainer"] [data-testid="stMarkdownContainer"] p',
                                "e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 20, size
    sidebar = '[data-testid="stSidebar"]'
    heading = tab.eval_on_selector(f"{sidebar} h3", "e => parseFloat(getComputedStyle(e).fontSize)")
    line = tab.eval_on_selector(f"{sidebar} [data-testid='stMarkdownContainer'] p",
                                "e => parseFloat(getComputedStyle(e).fontSize)")
    assert heading > line >= 20, (heading, line)  # "Where Llama runs" stays a heading over its larger lines
    assert contrast(tab, '[data-testid="stMainBlockContainer"] [data-testid="stCaptionContainer"] p') >= 4.5
    visible = tab.locator("body").inner_text()
    for jargon in ("BRAVE_API_KEY", "WOLFRAM_ALPHA_APP_ID", "127.0.0.1", "ALLOW_CODE_INTERPRETER", "OPENROUTER_API_KEY",
                   "ConnectionError", "Endpoint:"):
        assert jargon not in visible, jargon
    expect(tab.get_by_text("Web search: Brave")).to_be_visible()
    tab.get_by_role("button", name="What time is it in Tokyo right now?").click()
    # one click, one call; two model requests and a tool (0.8-1.2 s alone, over 5 s once beside the real-server tier)
    expect(tab.locator(CHAT).filter(has_text="Based on the tool result")).to_have_count(1, timeout=15_000)
    settle(tab)
    visible = tab.locator("body").inner_text()
    assert "127.0.0.1" not in visible
    tab.set_viewport_size({"width": 1280, "height": 720})
    shot(tab, "presenter_tool_calling")
    healthy(tab)


def test_the_same_question_again_costs_no_quota(tab: Page, stage_app: AppServer, stage_double: ApiDouble) -> None:
    open_tools(tab, stage_app)
    question = "How many kilometres is a marathon in miles?"
    tab.get_by_role("button", name=question).click()
    expect(tab.locator(CHAT).filter(has_text="You said").or_(
        tab.locator(CHAT).filter(has_text="Based on the tool result"))).to_have_count(1)
    settle(tab)
    sent = len(stage_double.chat_requests)
    tab.get_by_role("button", name="New chat").click()
    settle(tab)
    tab.get_by_role("button", name=question).click()
    answer = tab.locator(CHAT).filter(has_text="no quota used")
    expect(answer).to_have_count(1)
    settle(tab)
    assert len(stage_double.chat_requests) == sent, "an identical request was sent again"
    expect(tab.get_by_role("button", name="Ask again (fresh)")).to_be_visible()
    healthy(tab)


def test_five_sessions_at_once_share_two_slots_and_all_get_answers(
        browser: Browser, stage_app: AppServer, stage_double: ApiDouble) -> None:
    stage_double.max_concurrent = 2
    stage_double.max_in_flight = 0
    refused = stage_double.refused_concurrent
    pages = []
    try:
        for _ in range(5):
            ctx = browser.new_context(viewport={"width": 1280, "height": 720})
            ctx.set_default_timeout(60_000)
            pg = ctx.new_page()
            open_tools(pg, stage_app)
            pages.append(pg)
        for i, pg in enumerate(pages):
            stage_double.queue(Reply(text=f"Answer number {i} arrives slowly " + "x " * 30, chunk_delay_s=0.05))
        for i, pg in enumerate(pages):
            send_chat(pg, f"Concurrent question {i}")
        for pg in pages:
            expect(pg.locator(CHAT).filter(has_text="arrives slowly")).to_have_count(1, timeout=60_000)
        assert stage_double.max_in_flight <= 2
        assert stage_double.refused_concurrent == refused
    finally:
        stage_double.max_concurrent = None
        for pg in pages:
            pg.context.close()


def test_record_a_rehearsal_then_replay_it_with_the_model_host_gone(
        tab: Page, stage_app: AppServer, stage_double: ApiDouble) -> None:
    open_tools(tab, stage_app)
    sidebar = tab.locator('[data-testid="stSidebar"]')
    sidebar.locator("summary").filter(has_text="Rehearsal").click()
    sidebar.locator('[data-testid="stRadioOption"]').filter(has_text=re.compile("^Record$")).click()
    settle(tab)
    tab.get_by_role("button", name="What is the integral of x^2 sin x?").click()
    expect(tab.locator(CHAT).filter(has_text="Based on the tool result")).to_have_count(1)
    settle(tab)
    with tab.expect_download() as info:
        sidebar.get_by_role("button", name="Save recording (JSON)").click()
    recording = Path(info.value.path()).read_text()
    assert "integral" in recording and KEY not in recording
    sidebar.locator('[data-testid="stRadioOption"]').filter(has_text=re.compile("^Replay$")).click()
    settle(tab)
    tab.get_by_role("button", name="New chat").click()
    settle(tab)
    stage_double.stop()  # venue Wi-Fi is gone
    started = time.monotonic()
    tab.get_by_role("button", name="What is the integral of x^2 sin x?").click()
    replayed = tab.locator(CHAT).filter(has_text="replayed from rehearsal")
    expect(replayed).to_have_count(1, timeout=20_000)
    expect(replayed).to_contain_text("Based on the tool result")
    settle(tab)
    assert time.monotonic() - started < 20
    healthy(tab)
