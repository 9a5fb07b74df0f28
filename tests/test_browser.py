"""Real-browser tests: the app as a person uses it — type, upload, click, read — in headless Chromium.

One `streamlit run app.py` per module, pointed at the API double (tests/api_double.py) and the tools stub
(tests/stubs.py), both on 127.0.0.1; Playwright's sync API drives Debian's chromium (/usr/bin/chromium).
Nothing here reaches the internet: the app's environment routes any non-local HTTP through a dead proxy.

    python -m pytest tests/test_browser.py -q -m browser

A full-page screenshot of each main state is left in /tmp/browser_shots/ (not asserted; for looking at).
"""

from __future__ import annotations

import functools
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Chromium not found at /usr/bin/chromium: install Debian's chromium: apt-get install chromium",
                allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="pip install playwright (the Python package)")

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from lib.images import prepare_image  # noqa: E402
from scripts.screenshot import CHROMIUM_ARGS  # noqa: E402
from tests.api_double import ApiDouble  # noqa: E402
from tests.stubs import BRAVE_TOPICS, StubServer  # noqa: E402

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SHOTS = Path("/tmp/browser_shots")
FAKE_TOKEN = "ghp_browser_test_token"
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
EXCEPTION = '[data-testid="stException"]'
CHAT_INPUT = '[data-testid="stChatInputTextArea"]'
START_TIMEOUT_S = 30
RUN_TIMEOUT_MS = 20_000


# --- the app under test ------------------------------------------------------------------------------------------


class AppServer:
    """`streamlit run app.py` in its own process group, its stderr kept in a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py",
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_healthy(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}\n{self.log_tail()}")
            try:
                with _NO_PROXY.open(self.url + "/_stcore/health", timeout=2) as resp:
                    if resp.read().strip() == b"ok":
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"streamlit did not answer /_stcore/health within {timeout_s} s\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            self._log.flush()
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(log unreadable: {exc})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- streamlit output (last {lines} lines of {self.log_path}) ---\n{tail}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._log.close()


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 even if a proxy is set


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_current_app: AppServer | None = None


@pytest.fixture(scope="module")
def double() -> Iterator[ApiDouble]:
    with ApiDouble() as d:
        yield d


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with StubServer() as s:
        yield s


@pytest.fixture(scope="module")
def app(double: ApiDouble, stub: StubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    global _current_app
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_TOKEN" and not k.startswith("STREAMLIT_")}
    env.update(stub.env())
    env.update(
        MODELS_ENDPOINT=double.endpoint,
        MODELS_CATALOG_URL=double.catalog_url,
        GITHUB_TOKEN=FAKE_TOKEN,  # must never appear on a page
        REQUEST_TIMEOUT_S="15",
        TOOL_TIMEOUT_S="5",
        PYTHONUNBUFFERED="1",
        # Anything not on this machine goes to a dead proxy: no test request can leave it, and failures are fast.
        HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
        http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
    )
    server = AppServer(env, tmp_path_factory.mktemp("streamlit") / "streamlit.log")
    try:
        server.wait_healthy()
        _current_app = server
        yield server
    finally:
        _current_app = None
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser, app: AppServer) -> Iterator[Page]:
    """A fresh browser context (so a fresh Streamlit session) per test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    context.set_default_timeout(RUN_TIMEOUT_MS)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


def explained(test: Callable[..., Any]) -> Callable[..., Any]:
    """On failure: a screenshot in /tmp/browser_shots/FAILED-<test>.png and the app's output in the error."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return test(*args, **kwargs)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, pytest.skip.Exception)):
                raise
            pg = kwargs.get("page")
            if pg is not None:
                try:
                    SHOTS.mkdir(parents=True, exist_ok=True)
                    pg.screenshot(path=str(SHOTS / f"FAILED-{test.__name__}.png"), full_page=True)
                    exc.add_note(f"page URL: {pg.url}; screenshot: {SHOTS / f'FAILED-{test.__name__}.png'}")
                except Exception:  # noqa: BLE001 - the original failure matters more
                    pass
            if _current_app is not None:
                exc.add_note(_current_app.log_tail())
            raise

    return wrapper


# --- helpers -----------------------------------------------------------------------------------------------------


def settle(page: Page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Wait for the script run to finish (the state attribute may flip to "running" just after an action)."""
    page.wait_for_timeout(300)
    page.locator(IDLE).wait_for(timeout=timeout_ms)


def open_app(page: Page, app: AppServer, path: str = "") -> None:
    page.goto(f"{app.url}/{path}")
    page.locator('[data-testid="stTopNav"]').wait_for()
    settle(page)


def assert_healthy(page: Page) -> None:
    """No exception box on the page, and the configured token nowhere in its HTML."""
    expect(page.locator(EXCEPTION)).to_have_count(0)
    assert FAKE_TOKEN not in page.content(), f"the GitHub token is in the HTML of {page.url}"


def shot(page: Page, name: str) -> None:
    """Side effect for people: a full-page screenshot (never asserted, never fails a test).

    Streamlit scrolls inside its main section, so the viewport is made as tall as that content for the shot.
    """
    size = page.viewport_size
    try:
        SHOTS.mkdir(parents=True, exist_ok=True)
        height = page.evaluate("() => Math.max(...[...document.querySelectorAll('body *')].map(e => e.scrollHeight))")
        if size and height > size["height"]:
            page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 6000)})
            page.wait_for_timeout(200)
        page.evaluate("() => document.querySelectorAll('body *').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    except Exception:  # noqa: BLE001
        pass
    finally:
        if size:
            page.set_viewport_size(size)


def send_chat(page: Page, text: str) -> None:
    box = page.locator(CHAT_INPUT)
    expect(box).to_be_enabled()
    box.fill(text)
    box.press("Enter")


def nav_link(page: Page, label: str):
    return page.locator('[data-testid="stTopNavLink"]').filter(has_text=label)


def plain_chat_text(page: Page) -> list[str]:
    """Text of the markdown shown as chat paragraphs: not inside expanders/status boxes or code blocks."""
    return page.eval_on_selector_all(
        '[data-testid="stChatMessage"] [data-testid="stMarkdownContainer"]',
        """els => els
            .filter(e => !e.closest('[data-testid="stExpander"], details, pre, code'))
            .map(e => e.innerText)""",
    )


WATCH_CHAT_PARAGRAPHS = """(needles) => {
    window.__chatLeaks = [];
    const check = () => document.querySelectorAll(
        '[data-testid="stChatMessage"] [data-testid="stMarkdownContainer"]').forEach(e => {
        if (e.closest('[data-testid="stExpander"], details, pre, code')) return;
        const text = e.innerText;
        if (needles.some(n => text.includes(n))) window.__chatLeaks.push(text);
    });
    new MutationObserver(check).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def photo_jpeg(path: Path, size: tuple[int, int] = (3000, 2000)) -> bytes:
    """A photo-like JPEG: colour gradients plus noise (so JPEG stays the natural format)."""
    from PIL import Image

    red = Image.linear_gradient("L").resize(size)
    green = Image.effect_noise(size, 64).point(lambda v: min(255, v + 40))
    blue = Image.linear_gradient("L").rotate(90).resize(size)
    img = Image.merge("RGB", (red, green, blue))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    path.write_bytes(data)
    return data


# --- tests -------------------------------------------------------------------------------------------------------


@explained
def test_every_page_via_navigation(page: Page, app: AppServer) -> None:
    open_app(page, app)
    expect(page.get_by_role("heading", name="Llama Herd Studio")).to_be_visible()
    expect(page.get_by_text("5 models listed")).to_be_visible()
    assert_healthy(page)
    shot(page, "home")

    for label, title, path in (
        ("Tool calling (Llama 3.1 405B)", "Tool calling with Llama 3.1 405B", "/tool_calling"),
        ("Vision (Llama 3.2 90B)", "Vision with Llama 3.2 90B", "/vision"),
        ("Home", "Llama Herd Studio", ""),
    ):
        nav_link(page, label).click()
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        expect(page).to_have_url(re.compile(re.escape(app.url + path) + r"/?$"))
        settle(page)
        assert_healthy(page)
        if path:
            shot(page, path.strip("/"))
    expect(page.get_by_text("5 models listed")).to_be_visible()


@explained
def test_tool_call_weather_in_stockholm(page: Page, app: AppServer, stub: StubServer) -> None:
    before = len(stub.requests_to("brave"))
    open_app(page, app, "tool_calling")
    expect(page.get_by_role("heading", name="Tool calling with Llama 3.1 405B")).to_be_visible()
    brave = page.get_by_role("checkbox", name="Web search (Brave)")
    expect(brave).to_be_checked()

    # Record any chat paragraph that shows the raw call, even for a moment while the answer streams.
    page.evaluate(WATCH_CHAT_PARAGRAPHS, ["brave_search.call", "python_tag", "eom_id"])
    send_chat(page, "What is the weather in Stockholm?")
    answer = page.locator('[data-testid="stChatMessage"]').filter(has_text="Based on the tool result")
    expect(answer.get_by_text("(API double) Based on the tool result", exact=False)).to_be_visible()
    settle(page)

    # The tool step: a status box whose label names the tool and the real source (not the Wikipedia fallback).
    step = page.locator('[data-testid="stExpander"]').filter(
        has=page.locator("summary").filter(has_text="brave_search").filter(has_text="Brave Search API"))
    expect(step).to_have_count(1)
    step.locator("summary").click()
    weather = BRAVE_TOPICS["stockholm"][0]
    snippet = re.sub(r"<[^>]+>", "", weather[2])
    title = re.sub(r"<[^>]+>", "", weather[0])
    result = step.locator("pre").filter(has_text=title)
    expect(result).to_be_visible()
    expect(result).to_contain_text(snippet)
    # The model's raw call is shown where it belongs: in the step's "Raw model output" code block...
    expect(step.locator("pre").filter(has_text='brave_search.call(query="current weather in Stockholm")')
           ).to_have_count(1)
    # ...and never as a chat answer paragraph.
    paragraphs = plain_chat_text(page)
    assert any("Based on the tool result" in p for p in paragraphs), paragraphs
    assert any(snippet[:30] in p for p in paragraphs), paragraphs  # the answer uses the result
    assert not [p for p in paragraphs if "brave_search.call" in p or "python_tag" in p], paragraphs
    assert page.evaluate("window.__chatLeaks") == [], "the raw tool call was shown as chat text while streaming"

    queries = [r.query.get("q", "") for r in stub.requests_to("brave")[before:]]
    assert any("Stockholm" in q for q in queries), queries
    assert_healthy(page)
    shot(page, "tool_weather_stockholm")


@explained
def test_vision_upload_and_describe(page: Page, app: AppServer, tmp_path: Path) -> None:
    photo = tmp_path / "gradient-photo.jpg"
    data = photo_jpeg(photo)
    prepared = prepare_image(data, photo.name)  # what the app will compute for the same bytes
    assert (prepared.width, prepared.height) == (1120, 747)
    assert prepared.summary.startswith("3000×2000 JPEG, ") and " → 1120×747 JPEG, " in prepared.summary

    open_app(page, app, "vision")
    expect(page.get_by_role("heading", name="Vision with Llama 3.2 90B")).to_be_visible()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo))
    caption = page.locator('[data-testid="stCaptionContainer"]').filter(has_text="Sent to the model:")
    expect(caption).to_be_visible()
    expect(caption).to_contain_text(prepared.summary)
    settle(page)
    assert_healthy(page)

    ask = page.get_by_role("button", name="Ask Llama")
    expect(ask).to_be_enabled()
    ask.click()
    description = page.locator('[data-testid="stChatMessage"]').filter(
        has_text="I received one JPEG image of 1120×747 pixels")
    expect(description).to_have_count(1)
    settle(page)
    assert_healthy(page)
    shot(page, "vision_described")

    send_chat(page, "What colour dominates?")
    follow_up = page.locator('[data-testid="stChatMessage"]').filter(has_text="About the same image")
    expect(follow_up).to_have_count(1)
    expect(follow_up).to_contain_text("What colour dominates?")
    expect(follow_up).to_contain_text("1120×747 pixels")
    settle(page)
    answers = page.get_by_role("group", name="Chat message from assistant")
    expect(answers).to_have_count(2)
    expect(answers.first).to_contain_text("I received one JPEG image of 1120×747 pixels")  # still there
    expect(answers.first).not_to_contain_text("About the same image")
    expect(page.get_by_role("group", name="Chat message from user")).to_have_count(2)
    assert_healthy(page)
    shot(page, "vision_follow_up")


@explained
def test_sidebar_provider_switch(page: Page, app: AppServer, double: ApiDouble) -> None:
    open_app(page, app)
    sidebar = page.locator('[data-testid="stSidebar"]')
    local = sidebar.get_by_role("radio", name="Local OpenAI-compatible server")
    github = sidebar.get_by_role("radio", name="GitHub Models")

    def endpoint_shown(url: str) -> re.Pattern[str]:
        return re.compile(r"Endpoint:\s*" + re.escape(url) + r"\s*Token:")

    # MODELS_ENDPOINT is the double on 127.0.0.1, so the app starts on the local provider.
    expect(local).to_be_checked()
    expect(sidebar).to_contain_text(endpoint_shown(double.endpoint))

    sidebar.locator("label").filter(has_text="GitHub Models").click()
    expect(github).to_be_checked()
    expect(sidebar).to_contain_text(endpoint_shown("https://models.github.ai/inference"))
    settle(page)
    expect(page.get_by_role("heading", name="Llama Herd Studio")).to_be_visible()
    expect(page.get_by_text("Catalog:")).to_be_visible()  # listed or "unavailable": either way no crash
    assert_healthy(page)
    shot(page, "home_github_provider")

    sidebar.locator("label").filter(has_text="Local OpenAI-compatible server").click()
    expect(local).to_be_checked()
    expect(sidebar).to_contain_text(endpoint_shown(double.endpoint))
    settle(page)
    expect(page.get_by_text("5 models listed")).to_be_visible()
    assert_healthy(page)


@explained
def test_error_state_daily_limit(page: Page, app: AppServer) -> None:
    open_app(page, app, "tool_calling")
    expect(page.get_by_role("heading", name="Tool calling with Llama 3.1 405B")).to_be_visible()
    started = time.monotonic()
    send_chat(page, "Tell me a joke #429day")
    # .first: while the page redraws the finished turn from history, the old and new copies briefly coexist.
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="Daily limit reached").first
    expect(alert).to_be_visible(timeout=5_000)
    expect(alert).to_contain_text("6 h 46 min", timeout=1_000)
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"the daily-limit message took {elapsed:.1f} s (a retry sleeping on Retry-After?)"
    settle(page)
    expect(page.locator('[data-testid="stAlert"]').filter(has_text="Daily limit reached")).to_have_count(1)
    assert_healthy(page)
    shot(page, "tool_daily_limit")
