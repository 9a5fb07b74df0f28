"""Real-browser tests of "What the model sees" on the vision page (issue 23), at 1280×720 in headless Chromium: the
slider between the photo as uploaded and the image sent, and the crop tool that asks about one region of the photo
and sends only that region, cut from the original at full resolution.

One `streamlit run app.py` for the module, pointed at the API double on 127.0.0.1 (every other outbound request is
trapped); the fixtures and helpers are tests/test_browser_vision.py's. The crop tool is driven with the mouse, as a
person drags a box; what was sent is read from the double's record of each request.

    python -m pytest tests/test_browser_vision_sees.py -q

Screenshots are left in /tmp/browser_shots/vision_sees_*.png (for looking at; never asserted).
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Iterator

import pytest
from PIL import Image

from tests import test_browser as tb  # skips this module too when Chromium or Playwright is missing

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from lib.vision.crop import compare_labels  # noqa: E402
from lib.vision.images import prepare_image  # noqa: E402
from lib.vision.tasks import sample  # noqa: E402
from tests.api_double import ApiDouble, Reply  # noqa: E402
from tests.test_browser import double  # noqa: E402,F401 - the module-scoped API double, shared
from tests.test_browser_vision import VIEWPORT, answers, app, browser, chip, open_vision, pick_sample  # noqa: E402,F401

pytestmark = pytest.mark.browser

PICTURE = ".st-key-vision_picture"
SLIDER = ".st-key-vision_sees_slider"
UPLOAD = '[class*="st-key-vision_upload"] [data-testid="stFileUploaderDropzoneInput"]'  # drawn anew after each photo
REGION_CAPTION = re.compile(r"Asking about a region: (\d+)×(\d+) px of the original, at full resolution")


@pytest.fixture
def page(browser: Browser, app: tb.AppServer) -> Iterator[Page]:
    """A fresh browser context (a fresh Streamlit session) at 1280×720."""
    with tb.browser_page(browser) as pg:
        yield pg


@pytest.fixture
def dark_page(browser: Browser, app: tb.AppServer) -> Iterator[Page]:
    """The same in a browser that prefers dark (the app follows it)."""
    with tb.browser_page(browser, color_scheme="dark") as pg:
        yield pg


# --- helpers -----------------------------------------------------------------------------------------------------


def sent_image(double: ApiDouble) -> tuple[int, int]:
    """The size of the one image in the last chat request the double received."""
    for message in double.chat_requests[-1].messages:
        for part in message.get("content") if isinstance(message.get("content"), list) else []:
            if part.get("type") == "image_url":
                raw = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                with Image.open(io.BytesIO(raw)) as img:
                    return img.size
    raise AssertionError("the last request carried no image")


def questions_sent(double: ApiDouble) -> list[str]:
    """The user messages' text of the last chat request (the first carries the image too)."""
    out = []
    for m in double.chat_requests[-1].messages:
        if m.get("role") == "user":
            content = m["content"]
            out.append(content if isinstance(content, str) else " ".join(
                p.get("text", "") for p in content if p.get("type") == "text"))
    return out


def drag_box(page: Page, x0: float, y0: float, x1: float, y1: float) -> None:
    """Drag a box on the crop tool's picture, from (x0, y0) to (x1, y1) as fractions of its size."""
    picture = page.locator(f"{PICTURE} img").first
    expect(picture).to_be_visible()
    page.wait_for_function("(el) => el.complete && el.naturalWidth > 0", arg=picture.element_handle())
    box = picture.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * x0, box["y"] + box["height"] * y0)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * x1, box["y"] + box["height"] * y1, steps=10)
    page.mouse.up()
    tb.settle(page)


def region_size(page: Page) -> tuple[int, int]:
    """The region's size in pixels of the original, as the caption under the crop tool says it."""
    caption = page.locator('[data-testid="stCaptionContainer"]').filter(has_text=REGION_CAPTION)
    expect(caption).to_be_visible()
    match = REGION_CAPTION.search(caption.inner_text())
    assert match, caption.inner_text()
    return int(match.group(1)), int(match.group(2))


def on_screen(page: Page, locator) -> None:
    box = locator.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], box


# --- tests -------------------------------------------------------------------------------------------------------


@tb.explained
def test_the_slider_shows_the_photo_as_uploaded_and_as_sent_with_their_numbers(page: Page, app: tb.AppServer) -> None:
    open_vision(page, app)
    pick_sample(page, "shopfront")
    chip(page, "What Llama sees").click()
    tb.settle(page)
    before, after = compare_labels(prepare_image(sample("shopfront").path.read_bytes(), "shopfront.jpg"))
    assert before == "As uploaded · 1200×900 · 318 KB"
    assert after.startswith("Sent to Llama · 1120×840 · JPEG q85 · 4 tiles")
    slider = page.locator(SLIDER)
    images = slider.locator("img")
    expect(images).to_have_count(2)
    for img in (images.nth(0), images.nth(1)):
        expect(img).to_be_visible()
        page.wait_for_function("(el) => el.complete && el.naturalWidth > 0", arg=img.element_handle())
    assert images.nth(0).get_attribute("alt") == before and images.nth(1).get_attribute("alt") == after
    expect(slider.get_by_text(before, exact=True)).to_be_visible()
    expect(slider.get_by_text(after, exact=True)).to_be_visible()
    # Both pictures are what was uploaded and what is sent: 1120 px wide each (the left one is the kept copy).
    widths = [images.nth(i).evaluate("el => el.naturalWidth") for i in range(2)]
    assert widths == [1120, 1120], widths
    # In the photo's place: the chat still fits on the projector's screen beside it.
    on_screen(page, slider)
    on_screen(page, page.locator(tb.CHAT_INPUT))
    on_screen(page, page.get_by_role("button", name="Ask Llama"))
    page.screenshot(path=str(tb.SHOTS / "vision_sees_slider.png"))
    expect(page.locator(tb.EXCEPTION)).to_have_count(0)
    chip(page, "Photo").click()
    tb.settle(page)
    expect(page.locator(SLIDER)).to_have_count(0)
    expect(page.locator(f'{PICTURE} [data-testid="stImage"] img')).to_be_visible()


@tb.explained
def test_a_region_is_cut_from_the_original_and_only_it_is_sent(
        page: Page, app: tb.AppServer, double: ApiDouble, tmp_path: Path) -> None:
    photo = tmp_path / "street-12mp.jpg"
    tb.photo_jpeg(photo, (4000, 3000))
    open_vision(page, app)
    page.locator(UPLOAD).set_input_files(str(photo))
    expect(page.locator('[data-testid="stCaptionContainer"]').filter(has_text="→ 1120×840 JPEG")).to_be_visible()
    tb.settle(page)
    tb.send_chat(page, "Describe it.")
    expect(answers(page)).to_have_count(1)
    tb.settle(page)
    assert sent_image(double) == (1120, 840)

    # The upload was let go once prepared (issue 22): the crop tool says it cuts from the kept copy ...
    chip(page, "Region").click()
    tb.settle(page)
    copy_note = page.get_by_text("Cut from the 1120-px copy", exact=False)
    expect(copy_note).to_be_visible()
    # ... until the same photo is dropped again: then it has the original, and the conversation stays.
    page.locator(UPLOAD).set_input_files(str(photo))
    tb.settle(page)
    expect(copy_note).to_have_count(0)
    expect(answers(page)).to_have_count(1)

    drag_box(page, 0.30, 0.30, 0.50, 0.50)
    width, height = region_size(page)
    assert 700 <= width <= 900 and 500 <= height <= 700, (width, height)  # ~a fifth of 4000×3000 a side
    on_screen(page, page.get_by_role("button", name="Whole photo"))
    tb.shot(page, "vision_sees_region_chosen")
    page.screenshot(path=str(tb.SHOTS / "vision_sees_region_1280.png"))

    double.queue(Reply(text="The region shows a smooth gradient with fine grain."))
    tb.send_chat(page, "What is in this part?")
    expect(answers(page).filter(has_text="fine grain")).to_have_count(1)
    tb.settle(page)
    assert sent_image(double) == (width, height), "only the region, pixel for pixel from the original"
    assert questions_sent(double) == ["What is in this part?"], "an answer about the whole photo is not sent"
    asked = page.get_by_role("group", name="Chat message from user").last
    expect(asked).to_contain_text(f"Asked about a region: {width}×{height} px of the 4000×3000 original")
    page.screenshot(path=str(tb.SHOTS / "vision_sees_region_answer.png"))

    # Back to the whole photo: the next question sends the whole photo, with the whole-photo exchange only.
    page.get_by_role("button", name="Whole photo").click()
    tb.settle(page)
    expect(page.locator(f'{PICTURE} [data-testid="stImage"] img')).to_be_visible()
    tb.send_chat(page, "And the colours overall?")
    expect(answers(page)).to_have_count(3)
    tb.settle(page)
    assert sent_image(double) == (1120, 840)
    sent = questions_sent(double)
    assert sent[0].endswith("Describe it.") and sent[-1] == "And the colours overall?"
    assert "What is in this part?" not in " ".join(sent), "the region's exchange stays out of a whole-photo request"
    expect(page.locator(tb.EXCEPTION)).to_have_count(0)


@tb.explained
def test_dark_theme_and_presenter_mode_read_the_bakerys_sign(
        dark_page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    page = dark_page
    page.goto(f"{app.url}/vision?present=1")
    expect(page.get_by_role("heading", name=re.compile("Vision with"))).to_be_visible()
    tb.settle(page)
    pick_sample(page, "shopfront")
    chip(page, "What Llama sees").click()
    tb.settle(page)
    expect(page.locator(SLIDER).locator("img")).to_have_count(2)
    page.wait_for_timeout(500)
    page.screenshot(path=str(tb.SHOTS / "vision_sees_slider_dark_presenter.png"))
    chip(page, "Region").click()
    tb.settle(page)
    drag_box(page, 0.05, 0.02, 0.95, 0.17)  # the painted sign across the top
    width, height = region_size(page)
    assert width > 900 and height < 250, (width, height)
    page.screenshot(path=str(tb.SHOTS / "vision_sees_region_dark_presenter.png"))
    double.queue(Reply(text="The sign says THE LLAMA BAKERY."))
    tb.send_chat(page, "What does this sign say?")
    expect(answers(page).filter(has_text="THE LLAMA BAKERY")).to_have_count(1)
    tb.settle(page)
    assert sent_image(double) == (width, height)
    page.screenshot(path=str(tb.SHOTS / "vision_sees_region_answer_dark_presenter.png"))
    expect(page.locator(tb.EXCEPTION)).to_have_count(0)
