"""The tool page in Korean, in a real browser at 1280×720 (issue 24): `?lang=ko` shows every word of the page's
catalogues in Korean (normal and presenter mode, before and after an answer), a Korean suggestion calls its tool, and
the language survives a page switch and a reload.

One `streamlit run app.py` for the module (tests/test_browser.py's fixtures: the API double, the tool stubs, the
proxy trap). The browser itself asks for English (locale en-US): the address decides.

    python -m pytest tests/test_browser_korean_tools.py -q

Screenshots of each state are left in /tmp/browser_shots/ko_tools_*.png (not asserted; for looking at).
"""

from __future__ import annotations

import re
import pytest

from tests import test_browser as tb
from tests.i18n_phrases import english_phrases, ui_text  # skips this module too when Chromium or Playwright is missing

from playwright.sync_api import Page, expect  # noqa: E402

from lib.i18n import catalogue  # noqa: E402
from tests.api_double import ApiDouble, _m  # noqa: E402
from tests.stubs import StubServer  # noqa: E402
from tests.test_browser import app, browser, double, page, stub, trap  # noqa: E402,F401 - the module's fixtures

pytestmark = pytest.mark.browser

AREAS = ("tools", "compare", "conversation", "toolnotes", "answers", "hosts", "errors")  # the catalogues of the tool page's own words
MAIN = '[data-testid="stMainBlockContainer"]'
CHAT = '[data-testid="stChatMessage"]'
HEADING = re.compile(r"Llama 3\.1 405B의 도구 호출")
WEATHER = "서울 날씨는 어때요?"
TIME = "지금 도쿄는 몇 시예요?"


PHRASES = english_phrases(AREAS)


def assert_no_english(page: Page, when: str) -> None:
    """None of the catalogues' English phrases is visible in the page's main area (but for the model's answers
    and the code blocks: `ui_text`)."""
    shown = ui_text(page, MAIN)
    left = [p for p in PHRASES if p in shown]
    assert left == [], f"English on the Korean tool page ({when}): {left}"


def at_1280(page: Page, dark: bool = False) -> Page:
    """The fixture's tab (a fresh session of a browser that prefers English) at 1280×720, light or dark."""
    page.set_viewport_size({"width": 1280, "height": 720})
    if dark:
        page.emulate_media(color_scheme="dark")
    return page


def open_korean(page: Page, app: tb.AppServer, extra: str = "") -> None:
    page.goto(f"{app.url}/tool_calling?lang=ko{extra}")
    expect(page.get_by_role("heading", name=HEADING)).to_be_visible()
    tb.settle(page)


def shots(page: Page, name: str) -> None:
    """What a person sees at 1280×720 (the viewport), and the whole page."""
    tb.SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => document.querySelectorAll('body *').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
    page.screenshot(path=str(tb.SHOTS / f"ko_tools_{name}.png"))
    tb.shot(page, f"ko_tools_{name}_full")
    tb.settle(page)


def test_the_catalogues_give_the_check_something_to_find() -> None:
    assert len(PHRASES) > 60
    assert {"New chat", "Tools the model may call", "decided to call", "Raw model output"} <= set(PHRASES)


def test_the_english_catalogue_names_the_tools_and_their_stage_lines_as_lib_tools_does() -> None:
    """The page's tool names and presenter lines are the catalogue's; in English they stay exactly lib/tools' own."""
    from lib import tools

    en = catalogue("en")
    for name, spec in tools.TOOLS.items():
        assert en.get(f"tools.tool.{name}.title", spec.title) == spec.title
        for config in (tools.ToolConfig(), tools.ToolConfig(brave_api_key="k", wolfram_app_id="k")):
            status = tools.status(name, config)
            if status.available:
                key = f"tools.tool.{name}.stage" + ("_fallback" if status.uses_fallback else "")
                assert en.get(key, tools.stage_status(name, config)) == tools.stage_status(name, config)


@tb.explained
def test_the_tool_page_speaks_korean_calls_the_tool_and_keeps_the_language(
        page: Page, app: tb.AppServer, stub: StubServer) -> None:
    at_1280(page)
    before = len(stub.requests_to("brave"))
    open_korean(page, app)
    assert page.evaluate("document.documentElement.lang") == "ko"
    expect(page.get_by_role("checkbox", name="웹 검색 (Brave)")).to_be_checked()
    expect(page.get_by_text("이런 질문을 해 보세요")).to_be_visible()
    assert_no_english(page, "before the answer")
    tb.assert_healthy(page)
    shots(page, "light")

    # Compare's own words are Korean too.
    page.get_by_text("비교", exact=True).click()
    tb.settle(page)
    expect(page.locator(MAIN).get_by_text(re.compile("^B: 같은 질문을 받을 모델|^비교하려면")).first).to_be_visible()
    assert_no_english(page, "Compare switched on")
    page.get_by_text("비교", exact=True).click()
    tb.settle(page)

    page.get_by_role("button", name=WEATHER).click()
    answer = page.locator(CHAT).filter(has_text="Based on the tool result")
    expect(answer).to_have_count(1, timeout=tb.RUN_TIMEOUT_MS)
    tb.settle(page)
    expect(answer.get_by_text('Llama 3.1 405B의 결정: brave_search(query="서울 현재 날씨") 호출')).to_be_visible()
    expect(answer.get_by_text("앱이 웹 검색 (Brave) 도구를 실행했습니다:")).to_be_visible()
    expect(answer.locator("details").filter(has_text="모델이 받는 내용")).to_be_visible()
    expect(answer.get_by_role("paragraph").filter(has_text="(API double) Based on the tool result")).to_be_visible()
    queries = [r.query.get("q", "") for r in stub.requests_to("brave")[before:]]
    assert any("서울" in q for q in queries), queries
    assert_no_english(page, "after the answer")
    tb.assert_healthy(page)
    shots(page, "light_answered")

    # A page switch keeps the language (the address loses ?lang= and gets it back), and so does a reload.
    links = page.locator('[data-testid="stTopNavLink"]')
    links.first.click()  # Home
    expect(page.get_by_role("heading", name=re.compile("Llama Herd Studio"))).to_be_visible()
    tb.settle(page)
    expect(page).to_have_url(re.compile(r"[?&]lang=ko"))
    assert page.evaluate("document.documentElement.lang") == "ko"
    links.nth(1).click()  # the tool page
    expect(page.get_by_role("heading", name=HEADING)).to_be_visible()
    tb.settle(page)
    expect(page).to_have_url(re.compile(r"/tool_calling\?(.*&)?lang=ko"))
    expect(page.locator(CHAT).filter(has_text="Based on the tool result")).to_have_count(1)  # the conversation too
    assert_no_english(page, "after a page switch")
    page.reload()
    expect(page.get_by_role("heading", name=HEADING)).to_be_visible()
    tb.settle(page)
    expect(page.locator(CHAT).filter(has_text="Based on the tool result")).to_have_count(1)
    assert_no_english(page, "after a reload")
    tb.assert_healthy(page)

    # The browser turns dark (the app follows it, no reload): the conversation and a new question in dark.
    tb.switch_theme(page, "dark")
    assert_no_english(page, "dark")
    shots(page, "dark")
    page.locator("button").filter(has_text="새 대화").first.click()  # suggestions show on an empty chat
    tb.settle(page)
    page.get_by_role("button", name="마라톤은 몇 마일이에요?").click()  # switches convert_units on and asks
    answer = page.locator(CHAT).filter(has_text="Based on the tool result")
    expect(answer).to_have_count(1, timeout=tb.RUN_TIMEOUT_MS)
    tb.settle(page)
    expect(answer).to_contain_text("26.2188 mi")  # convert_units, with the Korean unit names
    assert_no_english(page, "dark, after the answer")
    shots(page, "dark_answered")
    tb.assert_healthy(page)


@tb.explained
def test_presenter_mode_in_korean_calls_the_clock_with_a_korean_city(page: Page, app: tb.AppServer) -> None:
    at_1280(page)
    open_korean(page, app, "&present=1")
    expect(page.get_by_text("시나리오")).to_be_visible()
    expect(page.get_by_text("웹 검색: Brave").or_(page.get_by_text("웹 검색: Wikipedia (Brave 키 없음)"))).to_be_visible()
    assert_no_english(page, "presenter mode, before the answer")
    shots(page, "presenter_light")
    page.get_by_role("button", name=TIME).click()
    answer = page.locator(CHAT).filter(has_text="Based on the tool result")
    expect(answer).to_have_count(1, timeout=tb.RUN_TIMEOUT_MS)
    tb.settle(page)
    expect(answer.get_by_text('get_local_time(city_or_timezone="도쿄")')).to_be_visible()
    expect(answer).to_contain_text("Tokyo:")  # the tool read the Korean city name
    assert_no_english(page, "presenter mode, after the answer")
    tb.assert_healthy(page)
    shots(page, "presenter_light_answered")
    tb.switch_theme(page, "dark")
    assert_no_english(page, "dark presenter mode")
    shots(page, "presenter_dark")
    tb.assert_healthy(page)


@tb.explained
def test_a_compared_question_in_korean(page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    """Compare with 405B and 8B: a Korean suggestion asks both, both columns end with their answers, and the words
    around them (the pickers, the progress line, the downloads) are Korean."""
    models = double.models
    double.models = [_m("meta-llama/Llama-3.1-405B-Instruct"), _m("meta-llama/Llama-3.1-8B-Instruct")]
    try:
        at_1280(page)
        open_korean(page, app)
        page.get_by_text("비교", exact=True).click()
        tb.settle(page)
        expect(page.get_by_text("B: 같은 질문을 받을 모델")).to_be_visible()
        assert_no_english(page, "Compare, before the question")
        page.get_by_role("button", name=WEATHER).click()
        expect(page.locator(CHAT).filter(has_text="Based on the tool result")).to_have_count(2, timeout=tb.RUN_TIMEOUT_MS)
        tb.settle(page)
        expect(page.get_by_role("button", name="대화 기록, 두 열 모두 (Markdown)")).to_be_visible()
        assert_no_english(page, "Compare, after the answers")
        tb.assert_healthy(page)
        shots(page, "compare_answered")
    finally:
        double.models = models
