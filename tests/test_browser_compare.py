"""Compare in a real browser at 1280×720: the same question to two Llamas at once, side by side (issue 23).

One `streamlit run app.py` for the module (tests/test_browser.py's fixtures: the API double, the tool stubs, the
proxy trap), the double listing Llama 3.1 405B and 8B, so Compare's default is 405B against 8B.

    python -m pytest tests/test_browser_compare.py -q
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests import test_browser as tb  # skips this module too when Chromium or Playwright is missing

from playwright.sync_api import Page, expect  # noqa: E402

from tests.api_double import ApiDouble, Reply, _m, demo_responder  # noqa: E402
from tests.test_browser import app, browser, double, page, stub, trap  # noqa: E402,F401 - the module's fixtures

pytestmark = pytest.mark.browser

BIG, SMALL = "meta-llama/Llama-3.1-405B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"
WORDS = " ".join(f"w{i}" for i in range(30))
LONG_WORDS = " ".join(f"w{i}" for i in range(60))


def both_columns_markdown(page: Page) -> str:
    """The "Transcript, both columns (Markdown)" download's text."""
    with page.expect_download() as info:
        page.locator("button").filter(has_text="Transcript, both columns (Markdown)").click()
    return Path(info.value.path()).read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _two_llamas(double: ApiDouble) -> Iterator[None]:
    """The double lists 405B and 8B (and the vision pair); its answers are set per test, by model."""
    double.models = [_m(BIG), _m(SMALL), _m("meta-llama/Llama-3.2-90B-Vision-Instruct", vision=True),
                     _m("meta-llama/Llama-3.2-11B-Vision-Instruct", vision=True)]
    yield
    double.responder = demo_responder


def open_compare(page: Page, app: tb.AppServer) -> None:
    tb.open_app(page, app, "tool_calling")  # a fresh server's first page view can take over 5 s on a busy machine
    expect(page.get_by_role("heading", name=re.compile("Tool calling with"))).to_be_visible()
    page.get_by_text("Compare", exact=True).click()
    tb.settle(page)
    expect(page.get_by_text("B: the same question to")).to_be_visible()


def columns(page: Page):
    return page.get_by_role("group", name="Chat message from assistant")


@tb.explained
def test_a_compared_tool_turn_streams_both_answers_at_once_with_footers_and_one_transcript(
        page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    """405B calls the search tool and answers with its result; 8B answers from what it knows. Both stream at the
    same moment (two requests in flight at the double), each ends with its footer, a line states the difference,
    and one Markdown transcript holds both columns (and no key)."""

    def by_model(body: dict[str, Any]) -> Reply:
        if body.get("model") == SMALL:  # twice as long: still streaming while 405B runs its tool and answers
            return Reply(text="Small llama guesses: mild and grey. " + LONG_WORDS, chunk_delay_s=0.1)
        last = (body.get("messages") or [{}])[-1]
        if last.get("role") in ("tool", "ipython"):
            return Reply(text="Big llama read the search result: 4 degrees. " + WORDS, chunk_delay_s=0.08)
        return demo_responder(body)  # the brave_search call

    double.responder = by_model
    before = len(double.chat_requests)
    double.max_in_flight = 0
    open_compare(page, app)
    tb.shot(page, "compare_tools_empty")
    tb.send_chat(page, "What is the weather in Stockholm?")
    a, b = columns(page).nth(0), columns(page).nth(1)
    # Mid-stream, both columns show words and neither is finished: they run at once, not one after the other.
    expect(a).to_contain_text("Big llama read the search result", timeout=10_000)
    expect(b).to_contain_text("Small llama guesses")
    assert "w29" not in a.inner_text() and "w59" not in b.inner_text(), "one side finished before the other began"
    expect(a).to_contain_text("decided to call")
    page.screenshot(path=str(tb.SHOTS / "compare_tools_streaming.png"))
    tb.settle(page)
    assert double.max_in_flight >= 2, "the two sides were asked one after the other"
    models = [r.body.get("model") for r in double.chat_requests[before:]]
    assert sorted(set(models)) == sorted({BIG, SMALL}) and models.count(BIG) == 2  # the call, then the answer
    a, b = columns(page).nth(0), columns(page).nth(1)
    expect(a).to_contain_text("w29")
    expect(b).to_contain_text("w59")
    expect(a).to_contain_text(re.compile(r"Llama 3\.1 405B on .* · first words \d+\.\d s · \d+\.\d s in all · "
                                         r"\d+ tokens · 1 tool call"))
    expect(b).to_contain_text(re.compile(r"Llama 3\.1 8B on .* · first words \d+\.\d s · .* · no tool call"))
    expect(page.get_by_text("Llama 3.1 8B called no tool and answered from what it knows; "
                            "Llama 3.1 405B called brave_search.")).to_be_visible()
    expect(page.locator(tb.CHAT_INPUT)).to_be_enabled()
    tb.shot(page, "compare_tools_done")
    page.screenshot(path=str(tb.SHOTS / "compare_tools_1280.png"))
    md = both_columns_markdown(page)
    assert "### A · Llama 3.1 405B" in md and "### B · Llama 3.1 8B" in md
    assert "Big llama read the search result" in md and "Small llama guesses" in md
    assert "What is the weather in Stockholm?" in md and "**Difference:**" in md
    assert tb.FAKE_TOKEN not in md
    with page.expect_download() as info:
        page.locator("button").filter(has_text="Transcript, both columns (JSON)").click()
    data = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert [s["model"] for s in data["pairs"][0]["sides"]] == [BIG, SMALL]
    assert data["pairs"][0]["turns"][0]["steps"][0]["call"]["name"] == "brave_search"
    # A reload brings the compared conversation back (the server keeps it for this tab).
    page.reload()
    tb.settle(page)
    expect(page.get_by_text("Small llama guesses").first).to_be_visible()
    tb.assert_healthy(page)


@tb.explained
def test_one_stop_stops_both_sides_and_hangs_up_both_requests(
        page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    """Two slow answers: one Stop ends both at once; what arrived is kept on each side, both connections close."""

    def slow(body: dict[str, Any]) -> Reply:
        who = "Big" if body.get("model") == BIG else "Small"
        return Reply(text=f"{who} llama starts slowly. " + " ".join(f"s{i}" for i in range(100)), chunk_delay_s=0.3)

    double.responder = slow
    gone = len(double.disconnects)
    open_compare(page, app)
    tb.send_chat(page, "Tell me a long story about llamas")
    a, b = columns(page).nth(0), columns(page).nth(1)
    expect(a).to_contain_text("Big llama starts slowly.", timeout=10_000)
    expect(b).to_contain_text("Small llama starts slowly.")
    page.locator(".st-key-tool_stop button:visible").first.click()
    started = time.monotonic()
    expect(page.get_by_text("Stopped before the answer was complete: what arrived is kept.")).to_have_count(
        2, timeout=5_000)
    while len(double.disconnects) < gone + 2:
        assert time.monotonic() - started < 3, f"still connected after Stop: {double.disconnects[gone:]}"
        time.sleep(0.05)
    for side in (columns(page).nth(0), columns(page).nth(1)):
        expect(side).to_contain_text("llama starts slowly.")
        expect(side).not_to_contain_text("s99")
        expect(side).not_to_contain_text("▌")
    expect(page.locator(tb.CHAT_INPUT)).to_be_enabled()
    tb.shot(page, "compare_tools_stopped")


# --- the vision page --------------------------------------------------------------------------------------------


VISION_BIG, VISION_SMALL = "meta-llama/Llama-3.2-90B-Vision-Instruct", "meta-llama/Llama-3.2-11B-Vision-Instruct"


def _image_sent(body: dict[str, Any]) -> bool:
    return any(isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"])
               for m in body.get("messages") or [])


@tb.explained
def test_a_compared_photo_question_streams_both_answers_and_one_stop_stops_both(
        page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    """The same sample photo and task to 90B and 11B at once: both stream side by side (both requests carry the
    image, both in flight together), each ends with its footer, the difference is stated, one transcript holds
    both; then a second question is stopped on both sides by one Stop."""
    from tests import test_browser_vision as tv

    slow = {"on": False}

    def by_model(body: dict[str, Any]) -> Reply:
        assert _image_sent(body), "each side's request carries the photo"
        who = "Ninety" if body.get("model") == VISION_BIG else "Eleven"
        n = 40 if who == "Ninety" else 12
        words = " ".join(f"v{i}" for i in range(n))
        if slow["on"]:
            return Reply(text=f"{who} looks slowly. " + " ".join(f"s{i}" for i in range(100)), chunk_delay_s=0.3)
        return Reply(text=f"{who} sees a shopfront with a sign. " + words, chunk_delay_s=0.06)

    double.responder = by_model
    double.max_in_flight = 0
    page.goto(f"{app.url}/vision")
    tb.settle(page)
    tv.pick_sample(page, "shopfront")
    page.get_by_text("Compare", exact=True).click()
    tb.settle(page)
    expect(page.get_by_text("B: the same question to")).to_be_visible()
    expect(page.get_by_role("combobox", name="B: the same question to")).to_have_value(
        re.compile("Llama 3.2 11B Vision"))  # the default other side: the smallest of the family
    tb.send_chat(page, "What does the sign say?")
    a, b = columns(page).nth(0), columns(page).nth(1)
    expect(a).to_contain_text("Ninety sees a shopfront", timeout=10_000)
    expect(b).to_contain_text("Eleven sees a shopfront")
    page.screenshot(path=str(tb.SHOTS / "compare_vision_streaming.png"))
    tb.settle(page)
    assert double.max_in_flight >= 2, "the two sides were asked one after the other"
    a, b = columns(page).nth(0), columns(page).nth(1)
    expect(a).to_contain_text(re.compile(r"Llama 3\.2 90B Vision on .* · first words \d+\.\d s · \d+\.\d s in all"))
    expect(b).to_contain_text(re.compile(r"Llama 3\.2 11B Vision on .* · first words \d+\.\d s · \d+\.\d s in all"))
    expect(page.get_by_text(re.compile(r"Llama 3\.2 90B Vision's answer is \d\.\d× longer"))).to_be_visible()
    tb.shot(page, "compare_vision_done")
    page.screenshot(path=str(tb.SHOTS / "compare_vision_1280.png"))
    md = both_columns_markdown(page)
    assert "### A · Llama 3.2 90B Vision" in md and "### B · Llama 3.2 11B Vision" in md
    assert "Ninety sees a shopfront" in md and "Eleven sees a shopfront" in md and tb.FAKE_TOKEN not in md
    # A follow-up, stopped on both sides at once.
    slow["on"] = True
    gone = len(double.disconnects)
    tb.send_chat(page, "And the colour of the door?")
    expect(columns(page).nth(2)).to_contain_text("Ninety looks slowly.", timeout=10_000)
    expect(columns(page).nth(3)).to_contain_text("Eleven looks slowly.")
    page.locator(".st-key-vision_stop button:visible").first.click()
    started = time.monotonic()
    expect(page.get_by_text("Stopped before the answer was complete: what arrived is kept.")).to_have_count(
        2, timeout=5_000)
    while len(double.disconnects) < gone + 2:
        assert time.monotonic() - started < 3, "still connected after Stop"
        time.sleep(0.05)
    # Each side's follow-up carried its own earlier answer, not the other side's.
    follow = [r for r in double.chat_requests if "colour of the door" in json.dumps(r.body)]
    for r in follow:
        text = json.dumps(r.body)
        mine, theirs = ("Ninety", "Eleven") if r.body.get("model") == VISION_BIG else ("Eleven", "Ninety")
        assert f"{mine} sees a shopfront" in text and f"{theirs} sees a shopfront" not in text
    tb.assert_healthy(page)
