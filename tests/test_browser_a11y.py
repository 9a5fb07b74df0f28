"""Accessibility in a real browser (issue 24): axe-core's WCAG 2.1 A/AA rules on every page, in both themes and in
presenter mode, at 1280×720, before and after a conversation; and the specific problems the issue found.

axe-core comes from the npm registry once (tests/a11y.py pins the version; .ci/run installs it). One
`streamlit run app.py` for the module, pointed at the API double on 127.0.0.1 (every other request is trapped).

    python -m pytest tests/test_browser_a11y.py -q

The theme: the app follows the browser's `prefers-color-scheme` (the ⋮ menu's "System", its default), so a context
made with `color_scheme="dark"` gets the dark theme from the first paint; the ⋮ menu's own "Dark" is tested too
(the server learns that choice late, which once left presenter mode's captions light-on-dark at 2.4:1).
Screenshots at 1280×720 are left in /tmp/browser_shots/a11y_*.png (never asserted).
"""

from __future__ import annotations

import re
from typing import Iterator

import pytest

from tests import test_browser as tb  # skips this module too when Chromium or Playwright is missing

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from tests.a11y import AXE_VERSION, axe_check, axe_source, caption_contrast, report  # noqa: E402
from tests.api_double import ApiDouble  # noqa: E402
from tests.test_browser import double  # noqa: E402,F401 - the module-scoped API double, shared

pytestmark = pytest.mark.browser

# Nothing of Streamlit's own chrome is excluded: every violation found so far could be fixed from the app (ui/a11y.py).
# An entry here must be one exact selector, with the reason the app cannot change that element.
EXCLUDE: tuple[str, ...] = ()

PAGES = {"home": ("", "Llama Herd Studio"), "tools": ("tool_calling", "Tool calling with"),
         "vision": ("vision", "Vision with")}
DARK_BG, LIGHT_BG = tb.DARK_BG, tb.LIGHT_BG
TOOL_QUESTION = "What time is it in Tokyo right now?"  # a suggestion (a scenario on stage): the offline clock tool
ASSISTANT = '[data-testid="stChatMessage"]:not(:has([data-testid="stChatMessageAvatarUser"]))'


@pytest.fixture(scope="module")
def axe() -> str:
    try:
        return axe_source()
    except RuntimeError as exc:
        pytest.skip(f"axe-core {AXE_VERSION}: {exc}")


@pytest.fixture(scope="module")
def app(double: ApiDouble, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tb.AppServer]:
    with tb.running_app(tmp_path_factory.mktemp("streamlit-a11y"), MODELS_PROVIDER="custom",
                        MODELS_ENDPOINT=double.endpoint, MODELS_API_KEY=tb.FAKE_TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with tb.trapped_chromium() as b:
        yield b


def open_page(browser: Browser, app: tb.AppServer, page_name: str, theme: str, presenter: bool) -> Page:
    """A fresh context (a fresh session) at 1280×720 preferring `theme`, at the page, settled."""
    path, title = PAGES[page_name]
    page = tb.new_browser_page(browser, color_scheme=theme)
    page.goto(f"{app.url}/{path}" + ("?present=1" if presenter else ""))
    expect(page.get_by_role("heading", name=re.compile(re.escape(title)))).to_be_visible()
    tb.settle(page)
    assert page.eval_on_selector('[data-testid="stApp"]', "e => getComputedStyle(e).backgroundColor") == \
        (DARK_BG if theme == "dark" else LIGHT_BG), f"not the {theme} theme"
    if presenter:
        expect(page.get_by_role("switch", name="Presenter mode")).to_be_checked()
    return page


@pytest.fixture
def pages(browser: Browser, app: tb.AppServer) -> Iterator[list[Page]]:
    """Pages a test opened (with `open_page`), closed after it."""
    opened: list[Page] = []
    yield opened
    for page in opened:
        page.context.close()


def shot(page: Page, name: str) -> None:
    """What a person sees at 1280×720 (not the full page), for looking at."""
    tb.SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(tb.SHOTS / f"a11y_{name}.png"))


def assert_accessible(page: Page, where: str) -> None:
    """No serious or critical axe violation on the page as it is, and every caption's contrast actually checked
    (each brought into view, where axe can tell its background) and passed."""
    found = axe_check(page, EXCLUDE)
    assert not found.serious, report(found.serious, where)
    captions = caption_contrast(page)
    assert not captions.violations, report(captions.violations, f"{where}, captions")
    assert not captions.incomplete, report(captions.incomplete, f"{where}, captions axe could not decide")


# Presenter mode brings the latest question into view 0.4, 1 and 1.8 s after a turn (ui/presenter.py): the checks,
# which scroll, start after that.
FOLLOWED_MS = 2000


def ask_tool_question(page: Page) -> None:
    page.get_by_role("button", name=TOOL_QUESTION).click()
    answer = page.locator(ASSISTANT).filter(has_text="Based on the tool result")
    expect(answer).to_have_count(1)
    tb.settle(page)
    page.wait_for_timeout(FOLLOWED_MS)


def describe_sample(page: Page, key: str = "cat") -> None:
    source = page.locator('[data-testid="stButtonGroup"] button')
    source.filter(has=page.get_by_text("Sample", exact=True)).first.click()
    tb.settle(page)
    page.locator(f'.st-key-vision_card_{key} [data-testid="stButtonGroup"] button').first.click()
    tb.settle(page)
    expect(page.locator('[data-testid="stCaptionContainer"]').filter(has_text="sent to the model")).to_be_visible()
    page.get_by_role("button", name="Ask Llama").click()
    expect(page.locator(ASSISTANT)).to_have_count(1)
    tb.settle(page)
    page.wait_for_timeout(FOLLOWED_MS)


def name(page_name: str, theme: str, presenter: bool, state: str = "") -> str:
    return "_".join(filter(None, (page_name, theme, "presenter" if presenter else "", state)))


# --- axe on every page, theme and mode ---------------------------------------------------------------------------


def presenter_on(page: Page, on: bool = True) -> None:
    """Switch presenter mode on (or off) in this session (the sidebar's switch: a rerun, not a new page)."""
    switch = page.get_by_role("switch", name="Presenter mode")
    if switch.is_checked() != on:
        page.locator('[data-testid="stSidebar"]').get_by_text("Presenter mode", exact=True).click()
        tb.settle(page)
        page.wait_for_timeout(FOLLOWED_MS)
    (expect(switch).to_be_checked() if on else expect(switch).not_to_be_checked())


switch_theme = tb.switch_theme


def check_every_look(page: Page, page_name: str, first: str, state: str = "") -> None:
    """axe and the captions in four looks of one page load: `first` theme (the one the page opened in), normal then
    presenter mode; then the other theme, switched live, in presenter then normal mode."""
    second = "dark" if first == "light" else "light"
    for theme, presenter in ((first, False), (first, True), (second, True), (second, False)):
        if theme != first and presenter:
            switch_theme(page, theme)
        presenter_on(page, presenter)
        label = name(page_name, theme, presenter, state)
        shot(page, label)
        assert_accessible(page, label)
        tb.assert_healthy(page)


# Each page opens in one theme and is checked in both (a context that prefers dark gets it from the first paint; a
# change while open is followed live): which opens dark alternates, so both paths are checked on a page.
FIRST_THEME = {"home": "light", "tools": "dark", "vision": "light"}


@pytest.mark.parametrize("page_name", list(PAGES))
def test_no_serious_violation_on_a_fresh_page(pages: list[Page], browser: Browser, app: tb.AppServer, axe: str,
                                              page_name: str) -> None:
    page = open_page(browser, app, page_name, FIRST_THEME[page_name], False)
    pages.append(page)
    check_every_look(page, page_name, FIRST_THEME[page_name])


def test_no_serious_violation_after_a_tool_answer(pages: list[Page], browser: Browser, app: tb.AppServer,
                                                  axe: str) -> None:
    page = open_page(browser, app, "tools", "light", False)
    pages.append(page)
    ask_tool_question(page)
    check_every_look(page, "tools", "light", "answered")


def test_no_serious_violation_after_a_described_sample(pages: list[Page], browser: Browser, app: tb.AppServer,
                                                       axe: str) -> None:
    page = open_page(browser, app, "vision", "dark", False)
    pages.append(page)
    describe_sample(page)
    check_every_look(page, "vision", "dark", "described")


def test_presenter_mode_stays_readable_when_the_menu_switches_to_dark(pages: list[Page], browser: Browser,
                                                                      app: tb.AppServer, axe: str) -> None:
    page = open_page(browser, app, "tools", "light", True)
    pages.append(page)
    page.get_by_role("button", name="Main menu").click()
    page.locator('[data-testid="stMainMenuItem-theme-Dark"]').click()
    page.keyboard.press("Escape")
    expect(page.locator('[data-testid="stApp"]')).to_have_css("background-color", DARK_BG)
    tb.settle(page)
    # CSS that paints the page's background (presenter mode's sticky photo) follows the theme actually shown.
    assert page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--llama-bg')").strip() == DARK_BG
    shot(page, "tools_menu_dark_presenter")
    assert_accessible(page, "tools, presenter mode, dark from the ⋮ menu")
    ask_tool_question(page)
    assert_accessible(page, "tools, presenter mode, dark from the ⋮ menu, answered")


# --- the problems issue 24 names ------------------------------------------------------------------------------------


def test_inline_code_in_captions_is_checked_by_axe_and_4_5_to_1(pages: list[Page], browser: Browser,
                                                                 app: tb.AppServer, axe: str) -> None:
    page = open_page(browser, app, "tools", "light", False)
    pages.append(page)
    code = '[data-testid="stMainBlockContainer"] [data-testid="stCaptionContainer"] code'
    for theme in ("light", "dark"):
        if theme == "dark":
            switch_theme(page, "dark")
        assert page.locator(code).count() >= 3, "the tool page's captions name their tools in code"
        # Measured on the page at rest: Streamlit fades an element left from the last run (data-stale) while a run
        # is under way, and a busy machine can still be finishing one.
        tb.settle(page)
        expect(page.locator('[data-stale="true"]')).to_have_count(0)
        result = caption_contrast(page, code)
        assert not result.violations, report(result.violations, f"caption code, {theme}")
        assert not result.incomplete, report(result.incomplete, f"caption code axe could not decide, {theme}")
        assert result.checked == result.passed == page.locator(code).count(), result
        ratios = page.eval_on_selector_all(code, CODE_CONTRAST)
        assert min(ratios) >= 4.5, (theme, ratios)


# The contrast of each node's text as drawn: its colour (with its alpha and every ancestor's opacity) over its own
# background (code has one), against that background.
CODE_CONTRAST = """els => els.map(e => {
    const rgba = s => { const v = s.match(/[\\d.]+/g).map(Number);
        return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
    const lum = ([r, g, b]) => { const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92
        : Math.pow((c + 0.055) / 1.055, 2.4); }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
    let alpha = rgba(getComputedStyle(e).color)[3], bg = null, n = e, fade = 1;
    while (n) { const s = getComputedStyle(n), b = rgba(s.backgroundColor); fade *= Number(s.opacity);
        if (!bg && b[3] > 0) bg = b; if (bg && b[3] === 1 && n !== e) break; n = n.parentElement; }
    const page = [255, 255, 255];
    const base = bg ? bg.slice(0, 3).map((c, i) => bg[3] * c + (1 - bg[3]) * page[i]) : page;
    alpha *= fade;
    const fg = rgba(getComputedStyle(e).color).slice(0, 3).map((c, i) => alpha * c + (1 - alpha) * base[i]);
    const under = base.map((c, i) => fade * c + (1 - fade) * page[i]);
    const a = lum(fg), b = lum(under);
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
})"""


@pytest.mark.parametrize("presenter", [False, True], ids=["normal", "presenter"])
def test_the_chat_box_is_a_few_tab_stops_away(pages: list[Page], browser: Browser, app: tb.AppServer,
                                              presenter: bool) -> None:
    page = open_page(browser, app, "tools", "light", presenter)
    pages.append(page)
    box = page.locator(tb.CHAT_INPUT)
    # The skip link shows once the page knows it has a question box (ui/a11y.py, at its first idle moment after the
    # run): on a loaded 2-core machine that can come after settle(). A person's Tab comes after the page has loaded.
    page.wait_for_function("() => { const s = document.getElementById('llama-skip-question'); return s && !s.hidden; }")
    presses = []
    for _ in range(5):
        page.keyboard.press("Tab")
        presses.append("Tab")
        focused = page.evaluate("() => [document.activeElement.textContent.trim(), "
                                "document.activeElement.matches('[data-testid=stChatInputTextArea]')]")
        if focused[1]:
            break
        if focused[0] == "Skip to the question box":
            shot(page, "tools_skip_link" + ("_presenter" if presenter else ""))
            page.keyboard.press("Enter")
            presses.append("Enter")
            break
    expect(box).to_be_focused()
    assert len(presses) <= 5, presses
    page.keyboard.type("What time is it in Tokyo?")
    expect(box).to_have_value("What time is it in Tokyo?")
    # Where there is no chat box (Home) the link is no Tab stop.
    tb.nav_link(page, "Home").click()
    tb.settle(page)
    expect(page.locator("#llama-skip-question")).to_be_hidden()


@pytest.mark.parametrize("page_name", ["tools", "vision"])
def test_the_conversation_is_a_named_region_and_an_answer_is_announced_once(
        pages: list[Page], browser: Browser, app: tb.AppServer, page_name: str) -> None:
    page = open_page(browser, app, page_name, "light", False)
    pages.append(page)
    # Every change of the announcer's text, kept by the page (the answer streams in between). The announcer is made by
    # the page's script (ui/a11y.py) once the page has drawn: on a busy machine, after open_page returns.
    page.locator("#llama-answer-status").wait_for(state="attached")
    page.evaluate("""() => { window.__said = [];
        new MutationObserver(() => { const t = document.getElementById('llama-answer-status').textContent;
            if (t) window.__said.push(t); })
          .observe(document.getElementById('llama-answer-status'),
                   {childList: true, characterData: true, subtree: true});
    }""")
    if page_name == "tools":
        ask_tool_question(page)
        expected = "(API double) Based on the tool result"
    else:
        describe_sample(page)
        expected = page.locator(ASSISTANT).locator('[data-testid="stMarkdownContainer"]').first.inner_text()[:40]
    region = page.get_by_role("region", name="Conversation")
    expect(region).to_have_count(1)
    expect(region.locator('[data-testid="stChatMessage"]')).to_have_count(2)  # the question and its answer
    # The announcement follows the end of the run by ~0.6 s (more on a busy CI); then nothing more may come.
    page.wait_for_function("window.__said.length >= 1", timeout=10_000)
    page.wait_for_timeout(1_000)
    said = page.evaluate("window.__said")
    assert len(said) == 1, f"announced {len(said)} times: {said}"
    assert said[0].startswith("Llama answered: ") and expected in said[0], said
    assert "decided to call" not in said[0] and "Raw model output" not in said[0], "only the answer's own text"
    status = page.locator("#llama-answer-status")
    expect(status).to_have_attribute("aria-live", "polite")
    # Nothing inside the page is live: a streaming element would be read piece by piece.
    assert page.locator('[data-testid="stMainBlockContainer"] [aria-live]').count() == 0
    if page_name == "tools":  # a turn that fails is told too: its error, once
        tb.send_chat(page, "#503 What is the weather in Stockholm?")
        expect(page.locator(ASSISTANT).filter(has_text="503")).to_have_count(1)
        tb.settle(page)
        page.wait_for_function("window.__said.length >= 2", timeout=10_000)
        page.wait_for_timeout(1_000)
        said = page.evaluate("window.__said")
        assert len(said) == 2 and "The server answered 503" in said[1], said


def test_sample_images_have_alt_text(pages: list[Page], browser: Browser, app: tb.AppServer) -> None:
    page = open_page(browser, app, "vision", "light", False)
    pages.append(page)
    describe_sample(page)
    alts = page.eval_on_selector_all('[data-testid="stMainBlockContainer"] img',
                                     "els => els.map(e => e.getAttribute('alt'))")
    assert len(alts) == 5, f"the photo in use and four sample thumbnails: {alts}"
    assert all(a and a.strip() for a in alts), f"an image without alt text: {alts}"
    photo = page.locator('.st-key-vision_image_area img').first.get_attribute("alt") or ""
    assert "cat" in photo.lower(), f"the photo in use says what it shows: {photo!r}"


def test_tool_states_are_told_in_words_not_only_colour(pages: list[Page], browser: Browser,
                                                        app: tb.AppServer) -> None:
    page = open_page(browser, app, "tools", "light", False)
    pages.append(page)
    lines = page.locator('[data-testid="stMainBlockContainer"] [data-testid="stCaptionContainer"]').filter(
        has_text=re.compile("[✅⛔↩]")).all_inner_texts()
    assert lines, "the tool panel's status lines"
    for line in lines:
        words = re.sub(r"[^\w\s]", " ", re.sub(r"^\S+ · ", "", line)).split()
        assert len(words) >= 2, f"a status icon needs words beside it: {line!r}"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_disabled_primary_button_still_shows_its_label(pages: list[Page], browser: Browser, app: tb.AppServer,
                                                          theme: str) -> None:
    """"Ask Llama" is disabled until there is a photo: its label must still be seen (the enabled button's text is the
    page's background colour, which on a disabled button's faint background made it blank in dark)."""
    page = open_page(browser, app, "vision", theme, False)
    pages.append(page)
    button = page.locator(".st-key-vision_ask button")
    expect(button).to_be_disabled()
    assert tb.contrast(page, ".st-key-vision_ask button p") >= 2.0
