"""Real-browser tests of the vision page on a projector-sized screen (1280×720), in headless Chromium.

One `streamlit run app.py` for the module, pointed at the API double on 127.0.0.1 (every other outbound request
goes to a local trap that refuses it). The server and browser helpers come from tests/test_browser.py.

    python -m pytest tests/test_browser_vision.py -q

Screenshots of each state are left in /tmp/browser_shots/vision_*.png (for looking at; never asserted).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import pytest

from tests import test_browser as tb  # skips this module too when Chromium or Playwright is missing

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from tests.api_double import ApiDouble, Reply  # noqa: E402
from tests.test_browser import double  # noqa: E402,F401 - the module-scoped API double, shared

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1280, "height": 720}
FAKE_TOKEN = tb.FAKE_TOKEN
ASSISTANT = '[data-testid="stChatMessage"]'


@pytest.fixture(scope="module")
def app(double: ApiDouble, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tb.AppServer]:
    with tb.running_app(tmp_path_factory.mktemp("streamlit-vision"), MODELS_PROVIDER="custom",
                        MODELS_ENDPOINT=double.endpoint, MODELS_API_KEY=FAKE_TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with tb.trapped_chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser, app: tb.AppServer) -> Iterator[Page]:
    """A fresh browser context (a fresh Streamlit session) at 1280×720, downloads allowed."""
    with tb.browser_page(browser, accept_downloads=True) as pg:
        yield pg


# --- helpers -----------------------------------------------------------------------------------------------------


def open_vision(page: Page, app: tb.AppServer) -> None:
    page.goto(f"{app.url}/vision")
    expect(page.get_by_role("heading", name=re.compile("Vision with"))).to_be_visible()
    tb.settle(page)


def chip(page: Page, text: str):
    """A segmented-control or pills option by its exact text."""
    return page.locator('[data-testid="stButtonGroup"] button').filter(
        has=page.get_by_text(text, exact=True)).first


def pick_sample(page: Page, key: str, source: str = "Sample", sent: str = "sent to the model") -> None:
    """Choose a sample by clicking its thumbnail (the whole card is the button); `source` and `sent` are the source
    switch's and the caption's words in the page's language."""
    chip(page, source).click()
    tb.settle(page)
    thumb = page.locator(f".st-key-vision_card_{key} img").bounding_box()
    assert thumb is not None
    page.mouse.click(thumb["x"] + thumb["width"] / 2, thumb["y"] + thumb["height"] / 2)
    tb.settle(page)
    expect(page.locator('[data-testid="stCaptionContainer"]').filter(has_text=sent)).to_be_visible()


def answers(page: Page):
    """The assistant's messages (Streamlit's own aria-label, in English in every language)."""
    return page.get_by_role("group", name="Chat message from assistant")


def checked(page: Page, text: str) -> bool:
    return chip(page, text).get_attribute("aria-checked") == "true"


def stop_button(page: Page):
    return page.locator(".st-key-vision_stop button").first


# --- tests -------------------------------------------------------------------------------------------------------


@tb.explained
def test_picture_and_answer_side_by_side_at_1280x720(page: Page, app: tb.AppServer) -> None:
    open_vision(page, app)
    tb.shot(page, "vision_1280_empty")
    pick_sample(page, "shopfront")
    chip(page, "Read the text").click()
    tb.settle(page)
    page.get_by_role("button", name="Ask Llama").click()
    answer = answers(page).filter(has_text="I received one JPEG image")
    expect(answer).to_have_count(1)
    tb.settle(page)
    page.evaluate("() => document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
    page.screenshot(path=str(tb.SHOTS / "vision_1280_answer.png"))  # exactly what the audience sees
    image = page.locator('[data-testid="stImage"] img').first.bounding_box()
    box = answer.bounding_box()
    assert image and box
    assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], f"answer not on screen: {box}"
    assert image["y"] >= 0 and image["y"] + image["height"] <= VIEWPORT["height"], f"image not on screen: {image}"
    assert box["x"] >= image["x"] + image["width"], "the answer is to the right of the picture"
    expect(answer).to_contain_text("Llama 3.2 90B Vision on vLLM or another server you run")
    expect(page.locator(tb.EXCEPTION)).to_have_count(0)
    assert FAKE_TOKEN not in page.content()


@tb.explained
def test_a_refused_upload_says_why_where_you_dropped_it(page: Page, app: tb.AppServer, tmp_path: Path) -> None:
    open_vision(page, app)
    svg = tmp_path / "logo.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    page.locator('.st-key-vision_upload [data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(svg))
    tb.settle(page)
    error = page.locator('[data-testid="stAlert"]').filter(has_text="logo.svg can't be used")
    expect(error).to_contain_text("This file is an SVG drawing, not a photo")
    uploader = page.locator('.st-key-vision_upload').bounding_box()
    box = error.bounding_box()
    assert uploader and box and 0 <= box["y"] - (uploader["y"] + uploader["height"]) < 80, "right under the uploader"
    assert box["y"] + box["height"] <= VIEWPORT["height"]
    tb.shot(page, "vision_refused_svg")


@tb.explained
def test_settings_are_kept_across_a_page_switch(page: Page, app: tb.AppServer) -> None:
    open_vision(page, app)
    pick_sample(page, "cat")
    chip(page, "Low (1 tile)").click()
    tb.settle(page)
    chip(page, "List objects").click()
    tb.settle(page)
    model = page.locator('[data-testid="stSelectbox"]').get_by_role("combobox")
    model.scroll_into_view_if_needed()
    model.click()
    page.get_by_role("option").filter(has_text="Llama 3.2 11B Vision").click()
    tb.settle(page)
    tb.nav_link(page, "Home").click()
    tb.settle(page)
    tb.nav_link(page, "Vision").click()
    tb.settle(page)
    assert checked(page, "Sample") and checked(page, "Cat")
    assert checked(page, "Low (1 tile)") and not checked(page, "High (4 tiles)")
    assert checked(page, "List objects") and not checked(page, "Describe")
    expect(model).to_have_value(re.compile("^Llama 3.2 11B Vision"))
    expect(page.get_by_role("heading", name="Vision with Llama 3.2 11B Vision")).to_be_visible()
    expect(page.locator('[data-testid="stCaptionContainer"]').filter(has_text="→ 451×300")).to_be_visible()
    # Your own question is kept too (typing it unselects the preset).
    own = page.get_by_placeholder("…or type your own question")
    own.fill("How many whiskers can you count?")
    own.press("Enter")
    tb.settle(page)
    tb.nav_link(page, "Home").click()
    tb.settle(page)
    tb.nav_link(page, "Vision").click()
    tb.settle(page)
    expect(page.get_by_placeholder("…or type your own question")).to_have_value("How many whiskers can you count?")
    assert not checked(page, "List objects")
    assert checked(page, "Low (1 tile)") and checked(page, "Cat")
    expect(model).to_have_value(re.compile("^Llama 3.2 11B Vision"))
    tb.shot(page, "vision_after_page_switch")


@tb.explained
def test_a_reload_keeps_the_conversation(page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    open_vision(page, app)
    pick_sample(page, "rocket")
    double.queue(Reply(text="A rocket lifts off at night over the sea."))
    tb.send_chat(page, "What is happening here?")
    expect(answers(page).filter(has_text="A rocket lifts off")).to_have_count(1)
    tb.settle(page)
    assert re.search(r"[?&]s=[A-Za-z0-9_-]{16,}", page.url), page.url
    page.reload()
    tb.settle(page)
    expect(page.get_by_role("group", name="Chat message from user")).to_contain_text("What is happening here?")
    expect(answers(page).filter(has_text="A rocket lifts off at night over the sea.")).to_have_count(1)
    expect(page.locator('[data-testid="stCaptionContainer"]').filter(has_text="rocket.jpg")).to_be_visible()
    expect(page.locator('[data-testid="stImage"] img').first).to_be_visible()
    tb.shot(page, "vision_after_reload")


@tb.explained
def test_stop_during_a_slow_answer_keeps_the_question_and_what_arrived(
        page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    words = " ".join(f"word{i}" for i in range(60))
    double.queue(Reply(text="The sign reads THE LLAMA BAKERY. " + words, delay_s=1.5, chunk_delay_s=0.2))
    open_vision(page, app)
    pick_sample(page, "shopfront")
    tb.send_chat(page, "What does the sign say?")
    # From the first second: the elapsed time and the step, inputs disabled, a Stop button.
    status = page.get_by_text(re.compile(r"is looking at the image… \d+ s"))
    expect(status).to_be_visible(timeout=3_000)
    expect(page.locator(tb.CHAT_INPUT)).to_be_disabled()
    expect(page.get_by_role("button", name="Ask Llama")).to_be_disabled()
    expect(stop_button(page)).to_be_visible()
    expect(page.get_by_text("The sign reads THE LLAMA BAKERY.", exact=False).first).to_be_visible(timeout=5_000)
    expect(page.get_by_text(re.compile(r"is writing the answer… \d+ s"))).to_be_visible()
    page.screenshot(path=str(tb.SHOTS / "vision_streaming.png"))
    stop_button(page).click()
    tb.settle(page)
    stopped = answers(page).last
    expect(stopped).to_contain_text("The sign reads THE LLAMA BAKERY.")
    expect(stopped).to_contain_text("⏹ Stopped by you after")
    expect(stopped).not_to_contain_text("▌")
    expect(stopped).not_to_contain_text("word59")
    expect(page.get_by_role("group", name="Chat message from user").last).to_contain_text("What does the sign say?")
    expect(page.locator(tb.CHAT_INPUT)).to_be_enabled()
    page.screenshot(path=str(tb.SHOTS / "vision_stopped.png"))


@tb.explained
def test_stop_while_the_server_has_sent_nothing_hangs_up_at_once(
        page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    """A server that accepted the request and then went silent: Stop must not wait for a token that never comes
    (it froze at "looking at the image… 6 s"); the connection is closed, so the server sees the client go."""
    import time

    double.queue(Reply(stream_mode="stall", delay_s=60))
    gone = len(double.disconnects)
    open_vision(page, app)
    pick_sample(page, "shopfront")
    tb.send_chat(page, "What does the sign say?")
    expect(page.get_by_text(re.compile(r"is looking at the image… [2-9] s"))).to_be_visible(timeout=8_000)
    # The question, its progress line and Stop stay on screen (1280×720): the page is not taken to the bottom of the
    # photo column, where Stop was out of reach and a click could land elsewhere as the page moved under it.
    expect(page.get_by_role("group", name="Chat message from user").last).to_be_in_viewport()
    expect(stop_button(page)).to_be_in_viewport()
    stop_button(page).click()
    started = time.monotonic()
    expect(answers(page).last).to_contain_text("⏹ Stopped by you after", timeout=3_000)
    expect(page.locator(tb.CHAT_INPUT)).to_be_enabled(timeout=3_000)
    while len(double.disconnects) == gone:
        assert time.monotonic() - started < 2, "the app kept the connection open after Stop"
        time.sleep(0.05)
    # The page works on: the next question is answered.
    tb.send_chat(page, "What does the sign say?")
    expect(answers(page).last).to_contain_text("I received one JPEG image", timeout=10_000)


@tb.explained
def test_transcript_download_has_the_question_and_answer_and_no_key(
        page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    open_vision(page, app)
    pick_sample(page, "astronaut")
    double.queue(Reply(text=f"An astronaut in an orange suit. (The header was Bearer {FAKE_TOKEN}.)"))
    tb.send_chat(page, "Who is this?")
    expect(answers(page).filter(has_text="An astronaut in an orange suit.")).to_have_count(1)
    tb.settle(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="Markdown").click()
    markdown = Path(info.value.path()).read_text(encoding="utf-8")
    with page.expect_download() as info:
        page.get_by_role("button", name="JSON").click()
    data = Path(info.value.path()).read_text(encoding="utf-8")
    for text in (markdown, data):
        assert "Who is this?" in text and "An astronaut in an orange suit." in text
        assert FAKE_TOKEN not in text
    assert "data:image/jpeg;base64," in markdown, "the image travels as a small thumbnail"
    parsed = json.loads(data)
    assert parsed["model"] == "meta-llama/Llama-3.2-90B-Vision-Instruct"
    assert parsed["provider"] == "vLLM or another server you run"
    tb.shot(page, "vision_transcript")


@tb.explained
def test_camera_photo_is_taken_at_the_largest_resolution_the_browser_gives(
        browser: Browser, app: tb.AppServer) -> None:
    """Chromium's fake camera offers 1920×1080: the photo arrives at that size, not the widget's 438×329 preview."""
    b = browser.browser_type.launch(executable_path=str(tb.CHROMIUM), args=[
        *tb.CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
    try:
        context = b.new_context(viewport=VIEWPORT, locale="en-US", permissions=["camera"])
        context.set_default_timeout(tb.RUN_TIMEOUT_MS)
        page = context.new_page()
        open_vision(page, app)
        chip(page, "Camera").click()
        tb.settle(page)
        take = page.get_by_role("button", name="Take Photo")
        expect(take).to_be_enabled()
        page.wait_for_function("() => [...document.querySelectorAll('video')].some(v => v.videoWidth > 0)")
        take.click()
        caption = page.locator('[data-testid="stCaptionContainer"]').filter(has_text="sent to the model")
        expect(caption).to_contain_text("camera.jpg · sent to the model: 1920×1080 JPEG")
        expect(caption).to_contain_text("→ 1120×630 JPEG")
        tb.settle(page)
        page.screenshot(path=str(tb.SHOTS / "vision_camera.png"))
    finally:
        b.close()
