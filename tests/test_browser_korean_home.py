"""Home in Korean (issue 24), in a real browser: with `?lang=ko` (normal and presenter mode, light and dark), no
English phrase of Home's, the navigation's, presenter mode's and the accessibility helpers' catalogues
(lib/i18n/en/{home,nav,presenter,a11y}.toml) is visible, the navigation shows the Korean page titles, the page is
`<html lang="ko">` and a Korean line breaks between words, never inside one (a line break between two Hangul syllables
is a word cut in two); the language survives a click in the navigation and a reload; and a browser that asks for
Korean (Accept-Language: ko-KR) gets Korean without `?lang`.

Screenshots at 1280×720 of Korean Home in both themes, normal and presenter, are left in
/tmp/browser_shots/ko_home_*.png (never asserted).

    python -m pytest tests/test_browser_korean_home.py -q -m browser
"""

from __future__ import annotations

import re

import pytest

from tests import test_browser as tb
from tests.i18n_phrases import english_phrases  # skips this module too when Chromium or Playwright is missing

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from lib.i18n import text  # noqa: E402
from tests.test_browser import app, browser, double, page, stub, trap  # noqa: E402,F401 - the shared fixtures

pytestmark = pytest.mark.browser

AREAS = ("home", "nav", "presenter", "a11y", "hosts")
NAV_LINK = '[data-testid="stTopNavLink"]'
KO_TITLES = [text("ko", f"nav.{name}") for name in ("home", "tools", "vision")]


PHRASES = english_phrases(AREAS)

# Every line break inside a Markdown paragraph, list item or heading of the app, as the two characters around it
# (the last one of a line, the first one of the next), found with a Range per character.
_LINE_BREAKS = """() => {
  const found = [];
  for (const block of document.querySelectorAll(
      '[data-testid="stApp"] [data-testid="stMarkdownContainer"] :is(p, li, h1, h2, h3, h4)')) {
    if (!block.getClientRects().length) continue;
    const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
    let last = null;  // [char, top] of the last visible character
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.data.length; i++) {
        const ch = node.data[i];
        if (/\\s/.test(ch)) { last = last && [' ', last[1]]; continue; }
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const rect = range.getClientRects()[0];
        if (!rect || !rect.width) continue;
        if (last && rect.top > last[1] + rect.height / 2) found.push(last[0] + ch);
        last = [ch, rect.top];
      }
    }
  }
  return found;
}"""
HANGUL = re.compile("[\uac00-\ud7a3]{2}")


def english_on_page(page: Page) -> list[str]:
    shown = " ".join(page.locator("body").inner_text().split())
    return sorted(p for p in PHRASES if p in shown)


def nav_titles(page: Page) -> list[str]:
    return [" ".join(t.split()) for t in page.locator(NAV_LINK).all_inner_texts()]


def assert_korean_home(page: Page) -> None:
    """Home as a Korean visitor sees it: Korean titles, words, <html lang>, line breaks between words."""
    tb.assert_healthy(page)
    expect(page.get_by_role("heading", name=text("ko", "home.tools_title"))).to_be_visible()
    expect(page.locator('[data-testid="stPageLink"]').filter(has_text=text("ko", "home.tools_link"))).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    assert nav_titles(page) == KO_TITLES
    assert english_on_page(page) == []
    # The a11y helpers' words (the skip link is hidden on Home, which has no question box: its text is checked).
    assert page.evaluate("document.getElementById('llama-skip-question').textContent") == text("ko", "a11y.skip")
    assert page.locator(".st-key-presenter_mode label").inner_text().strip() == text("ko", "presenter.toggle")


@tb.explained
# The words don't depend on the theme: each mode once, in one theme each (both themes still seen).
@pytest.mark.parametrize("presenter, theme", [(False, "light"), (True, "dark")], ids=["normal-light", "presenter-dark"])
def test_home_speaks_korean_and_breaks_lines_between_words(browser: Browser, app: tb.AppServer, presenter: bool,
                                                           theme: str) -> None:
    page = tb.new_browser_page(browser, color_scheme=theme)
    try:
        tb.open_app(page, app, "?lang=ko" + ("&present=1" if presenter else ""))
        if presenter:
            expect(page.locator(".st-key-presenter_mode input")).to_be_checked()
        assert_korean_home(page)

        # A Korean paragraph in one of the two cards (a narrow column): breaks between words only.
        card = page.locator('[data-testid="stMarkdownContainer"] p').filter(has_text=text("ko", "home.tools_text"))
        style = card.evaluate("p => [getComputedStyle(p).wordBreak, getComputedStyle(p).overflowWrap]")
        assert style == ["keep-all", "anywhere"]
        assert card.evaluate("p => p.getClientRects().length > 1 || p.offsetHeight > 2 * parseFloat("
                             "getComputedStyle(p).lineHeight)"), "the card's paragraph should wrap at 1280 px"
        breaks = page.evaluate(_LINE_BREAKS)
        assert breaks, "no line break found: the check would find nothing"
        assert [b for b in breaks if HANGUL.fullmatch(b)] == []

        tb.SHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("() => document.querySelectorAll('body *').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
        page.screenshot(path=str(tb.SHOTS / f"ko_home_{'presenter' if presenter else 'normal'}_{theme}.png"))

        # Presenter mode's switch explains itself in Korean too.
        page.locator(".st-key-presenter_mode [data-testid='stTooltipHoverTarget']").hover()
        expect(page.get_by_text(text("ko", "presenter.toggle_help"))).to_be_visible()
        # No gap above the sidebar's first line: its hidden elements take no room.
        first = page.eval_on_selector('[data-testid="stSidebarUserContent"]', """c => {
            const top = c.getBoundingClientRect().top;
            const shown = [...c.querySelectorAll('[data-testid="stElementContainer"], [data-testid="stLayoutWrapper"]')]
                .filter(e => e.getBoundingClientRect().height > 2);
            return shown.length ? shown[0].getBoundingClientRect().top - top : null;
        }""")
        assert first is not None and first < 16, f"the sidebar's first element is {first} px below its top"
    finally:
        page.context.close()


@tb.explained
def test_the_language_survives_a_page_switch_and_a_reload(page: Page, app: tb.AppServer) -> None:
    tb.open_app(page, app, "?lang=ko")
    assert_korean_home(page)

    tb.nav_link(page, text("ko", "nav.tools")).click()
    page.wait_for_url("**/tool_calling?*")
    tb.settle(page)
    assert "lang=ko" in page.url
    assert nav_titles(page) == KO_TITLES
    expect(page.locator("html")).to_have_attribute("lang", "ko")

    tb.nav_link(page, text("ko", "nav.home")).click()
    page.wait_for_url(re.compile(r"/\?.*lang=ko"))
    tb.settle(page)
    assert_korean_home(page)

    page.reload()
    page.locator('[data-testid="stTopNav"]').wait_for()
    tb.settle(page)
    assert "lang=ko" in page.url
    assert_korean_home(page)

    # Open boxes stay open when the language changes (Streamlit makes a label part of an expander's identity).
    main = page.locator('[data-testid="stMain"]')
    for label in ("연결 세부 정보", "Llama가 실행되는 곳 ("):
        main.locator("summary").filter(has_text=label).click()
        tb.settle(page)
    tables = main.locator("table")
    expect(tables).to_have_count(2)
    page.locator('[data-testid="stSidebar"]').get_by_text("English", exact=True).click()
    tb.settle(page)
    expect(main.locator("summary").filter(has_text="Connection details")).to_be_visible()
    expect(tables).to_have_count(2)  # both boxes still open, in English
    expect(main.locator("details[open]")).to_have_count(2)


@tb.explained
def test_a_browser_that_asks_for_korean_gets_korean_without_lang(browser: Browser, app: tb.AppServer) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 720}, locale="ko-KR")
    context.set_default_timeout(tb.RUN_TIMEOUT_MS)
    page = context.new_page()
    try:
        tb.open_app(page, app, "")
        assert page.evaluate("navigator.language") == "ko-KR"
        assert_korean_home(page)
    finally:
        context.close()


def test_the_catalogue_gives_the_check_something_to_find() -> None:
    assert {"Open the tool-calling demo", "Presenter mode", "Skip to the question box", "Tool calling",
            "Where Llama runs (checked", "Test connection", "Llama answered"} <= PHRASES
    assert not {"Llama Herd Studio", "Llama 3.1 405B"} & PHRASES
