"""Untrusted text fetches nothing, in a real browser (issue 19).

An imported transcript is someone else's file: a Markdown image in any of its strings (a tool's name or arguments,
an error's title, message or detail, the model, the provider, the served model, a note, a result's source or URL,
a footer, the image's name) would make every viewer's browser request that URL: a tracking pixel. So would one in
an upstream error's "Server said" line. Here every such string points at a local server that counts each request it
receives; the pages import the transcripts through their uploaders (every expander opened, so hidden parts draw
too) and must show the Markdown as text, with the counter at zero.

    python -m pytest tests/test_browser_untrusted.py -q -m browser
"""

from __future__ import annotations

import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from tests import test_browser as tb  # skips this module too when Chromium or Playwright is missing

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from lib.hosts.errors import ErrorKind, UserError  # noqa: E402
from lib.tool_calling.llama_prompt import ToolCall  # noqa: E402
from lib.tool_calling.loop import ToolStep, Turn  # noqa: E402
from lib.tools.base import ToolResult  # noqa: E402
from lib.answers.transcript import from_json, to_json, tool_transcript, vision_transcript  # noqa: E402
from tests.api_double import ApiDouble, Reply  # noqa: E402
from tests.test_browser import browser, double  # noqa: E402,F401 - module-scoped Chromium and API double

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/untrusted_tool.png")
MAIN = '[data-testid="stMainBlockContainer"]'


class Pixel:
    """A local HTTP server that counts every request it receives (and answers each with a 1×1 GIF)."""

    GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def _count(self) -> None:
                hits.append(f"{self.command} {self.path}")
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.send_header("Content-Length", str(len(Pixel.GIF)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(Pixel.GIF)

            do_GET = do_POST = do_HEAD = do_OPTIONS = _count

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def image(self, field: str) -> str:
        """The Markdown image whose literal text must show on the page."""
        return f"![pixel]({self.url}/{field}.png)"

    def hostile(self, field: str, lines: bool = False) -> str:
        """A Markdown image, a link, an autolink and raw HTML for `field`; with `lines`, a reference-style image."""
        text = (f"{self.image(field)} [link]({self.url}/{field}/link) <{self.url}/{field}/auto> "
                f'<img src="{self.url}/{field}/html.png">')
        return text + (f" ![ref][{field}]\n\n[{field}]: {self.url}/{field}/ref.png" if lines else "")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def pixel() -> Iterator[Pixel]:
    p = Pixel()
    yield p
    p.close()


@pytest.fixture(scope="module")
def app(double: ApiDouble, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tb.AppServer]:
    with tb.running_app(tmp_path_factory.mktemp("streamlit-untrusted"), MODELS_PROVIDER="custom",
                        MODELS_ENDPOINT=double.endpoint, MODELS_API_KEY=tb.FAKE_TOKEN) as server:
        yield server


@pytest.fixture
def page(browser: Browser, app: tb.AppServer) -> Iterator[Page]:
    with tb.browser_page(browser) as pg:
        yield pg


# --- the hostile transcripts ---------------------------------------------------------------------------------------

TOOL_FIELDS = ("tool-name", "tool-arguments", "error-title", "error-message", "error-detail", "model", "provider",
               "served-model", "note", "result-source", "result-url")


def tool_turn(p: Pixel, n: int) -> Turn:
    """A turn with every field hostile (the `n` tells two turns' fields apart). Beyond the question and the answer,
    each also tries to close a code span around it with a backtick."""
    def f(name: str, lines: bool = False) -> str:
        text = p.hostile(f"{name}-{n}", lines)
        return text if name in ("question", "answer") else f"x` {text} `y"

    call = ToolCall(f("tool-name"), {"query": f("tool-arguments")}, "json")
    result = ToolResult(call.name, call.arguments, f("result-content", True), True, f("result-source"), False, 0.42,
                        f("result-url"))
    error = UserError(ErrorKind.UNKNOWN, f("error-title"), f("error-message", True), detail=f("error-detail", True),
                      status=400)
    return Turn(question=f("question", True), steps=[ToolStep(f("raw-output", True), call, result)],
                answer=f("answer", True), error=error, notes=[f("note", True)], model=f("model"),
                provider=f("provider"), served_model=f("served-model"), elapsed_s=1.5, requests=2, tokens=1234,
                messages_sent=[{"role": "user", "content": f("messages-sent", True)}])  # for "View code"


def tool_json(p: Pixel) -> bytes:
    data = tool_transcript([tool_turn(p, 1), tool_turn(p, 2)], provider=p.hostile("top-provider"),
                           model=p.hostile("top-model"))
    text = to_json(data)
    from_json(text, kind="tools")  # the page accepts it
    return text.encode()


def thumbnail_jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (96, 64), (200, 120, 40)).save(buf, "JPEG")
    return buf.getvalue()


def vision_json(p: Pixel) -> bytes:
    turns = [("user", p.hostile("vision-question", True)), ("assistant", p.hostile("vision-answer", True))]
    data = vision_transcript(turns, {1: p.hostile("vision-footer")}, provider=p.hostile("vision-provider"),
                             model=p.hostile("vision-model"), image_name=p.hostile("vision-image-name"),
                             image_thumbnail_jpeg=thumbnail_jpeg())
    text = to_json(data)
    from_json(text, kind="vision")
    return text.encode()


# --- helpers -------------------------------------------------------------------------------------------------------


def upload(page: Page, uploader: str, name: str, data: bytes) -> None:
    """Open the page's "Open a transcript" popover and drop `data` into its uploader."""
    page.get_by_role("button", name="Open a transcript").click()
    box = page.locator(f"{uploader} [data-testid='stFileUploaderDropzoneInput']")
    box.set_input_files({"name": name, "mimeType": "application/json", "buffer": data})
    tb.settle(page)
    page.keyboard.press("Escape")  # close the popover
    tb.settle(page)


def open_every_expander(page: Page) -> None:
    """Open each closed expander (some redraw the page when opened: one at a time, settling in between)."""
    for _ in range(10):
        closed = page.locator(f"{MAIN} details:not([open]) > summary")
        if closed.count() == 0:
            return
        closed.first.click()
        tb.settle(page)


def assert_nothing_fetched(page: Page, p: Pixel, shown: list[str]) -> None:
    """The counter saw nothing; no image or frame points at it; no link from untrusted text hides its URL or runs
    script; and each of `shown` is on the page as text."""
    page.wait_for_timeout(500)  # an image request, had one been made, would be in by now
    assert p.hits == [], f"the browser fetched: {p.hits}"
    main = page.locator(MAIN)
    # Text-only attributes never load anything (an image's alt text is the photo's name, shown as written).
    pointing = page.evaluate("""url => [...document.querySelectorAll('*')].flatMap(e => [...e.attributes]
        .filter(a => a.value.includes(url) && !(e.tagName === 'A' && a.name === 'href')
                     && !['alt', 'title', 'aria-label', 'aria-description'].includes(a.name))
        .map(a => `<${e.tagName.toLowerCase()} ${a.name}=${a.value}>`))""", p.url)
    assert pointing == [], f"elements that load from the counter: {pointing}"  # an image, a frame, a style…
    links = page.eval_on_selector_all(f"{MAIN} a[href]", "els => els.map(e => [e.getAttribute('href'), e.innerText])")
    for href, text in links:
        assert not href.lower().startswith(("javascript:", "data:", "vbscript:")), href
        field = href.removeprefix(p.url + "/").split("/")[0]
        if p.url in href and not re.fullmatch(r"(vision-)?(question|answer)(-\d)?", field):
            # Links stay links in the question and the answer (Markdown by design); elsewhere only a bare URL may
            # be one, showing its own address.
            assert text == href, f"a link hides its address: {text!r} -> {href}"
    seen = main.inner_text()
    missing = [s for s in shown if s not in seen]
    assert missing == [], f"not shown as text: {missing}"


# --- tests ---------------------------------------------------------------------------------------------------------


@tb.explained
def test_an_imported_tool_transcript_full_of_markdown_images_fetches_nothing(page: Page, app: tb.AppServer,
                                                                             pixel: Pixel) -> None:
    pixel.hits.clear()
    tb.open_app(page, app, "tool_calling")  # its first run, however long a busy machine takes (the navigation drawn)
    expect(page.get_by_role("heading", name="Tool calling with Llama 3.1 405B")).to_be_visible()
    tb.settle(page)
    upload(page, ".st-key-tool_import", "hostile.json", tool_json(pixel))
    turns = page.locator('[data-testid="stChatMessage"]')
    expect(turns.filter(has_text="decided to call").first).to_be_visible()
    expect(page.locator('[data-testid="stAlert"]').filter(has_text=pixel.image("error-title-2"))).to_be_visible()
    open_every_expander(page)
    expect(page.get_by_text("Source:", exact=False).first).to_be_visible()

    shown = [pixel.image(f"{field}-{n}") for n in (1, 2) for field in (*TOOL_FIELDS, "question", "answer")]
    assert_nothing_fetched(page, pixel, shown)
    # The fields read as the sentences they sit in, not as Markdown.
    seen = page.locator(MAIN).inner_text()
    assert f"decided to call x` {pixel.image('tool-name-2')}" in seen  # one code span: the backtick stays in it
    assert f"Server said: x` {pixel.image('error-detail-2')}" in seen
    assert f"<img src=\"{pixel.url}/note-2/html.png\">" in seen
    tb.assert_healthy(page)

    # A look for people: the latest turn, at 1280×720.
    page.locator('[data-testid="stChatMessage"]').filter(has_text="decided to call").last.scroll_into_view_if_needed()
    page.get_by_text("decided to call", exact=False).last.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOT))
    tb.shot(page, "untrusted_tool")
    assert pixel.hits == []


@tb.explained
def test_an_imported_vision_transcript_full_of_markdown_images_fetches_nothing(page: Page, app: tb.AppServer,
                                                                               pixel: Pixel) -> None:
    pixel.hits.clear()
    tb.open_app(page, app, "vision")  # its first run, however long a busy machine takes (the navigation drawn)
    expect(page.get_by_role("heading", name="Vision with")).to_be_visible()
    tb.settle(page)
    upload(page, ".st-key-vision_import", "hostile.json", vision_json(pixel))
    expect(page.get_by_role("group", name="Chat message from assistant").first).to_be_visible()
    expect(page.get_by_text(pixel.image("vision-footer"), exact=False).first).to_be_visible()
    open_every_expander(page)
    assert_nothing_fetched(page, pixel, [pixel.image(f) for f in ("vision-question", "vision-answer", "vision-footer",
                                                                  "vision-image-name")])

    # A damaged transcript's reason quotes the file (its unknown role): that shows as text too.
    port = pixel.url.rsplit(":", 1)[1]
    role = f"![](//127.1:{port})"  # 20 characters at most are quoted; 127.1 is 127.0.0.1
    bad = json.loads(vision_json(pixel))
    bad["turns"][0]["role"] = role
    upload(page, ".st-key-vision_import", "damaged.json", json.dumps(bad).encode())
    expect(page.get_by_text("unknown role", exact=False).first).to_be_visible()
    assert_nothing_fetched(page, pixel, [role])
    tb.assert_healthy(page)
    tb.shot(page, "untrusted_vision")


@tb.explained
def test_an_upstream_errors_server_said_line_with_a_markdown_image_fetches_nothing(
        page: Page, app: tb.AppServer, double: ApiDouble, pixel: Pixel) -> None:
    pixel.hits.clear()
    tb.open_app(page, app, "tool_calling")  # its first run, however long a busy machine takes (the navigation drawn)
    expect(page.get_by_role("heading", name="Tool calling with Llama 3.1 405B")).to_be_visible()
    tb.settle(page)
    words = f"Refused {pixel.image('server-said')} see [here]({pixel.url}/server-said/link) <img src={pixel.url}/x.png>"
    double.queue(Reply.bad_request(words))
    tb.send_chat(page, "Hello there")
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="The request was refused").first
    expect(alert).to_be_visible()
    tb.settle(page)
    expect(page.get_by_text("Server said:", exact=False).first).to_be_visible()
    assert_nothing_fetched(page, pixel, [f"Server said: {words}"])
    tb.assert_healthy(page)
