"""Real-browser tests: the app as a person uses it — type, upload, click, read — in headless Chromium.

One `streamlit run app.py` per module (plus fresh ones where a test needs a newly started server), pointed at the
API double (tests/api_double.py, one preset per provider) and the tools stub (tests/stubs.py), both on 127.0.0.1;
Playwright's sync API drives Debian's chromium (/usr/bin/chromium). Nothing here reaches the internet: the app's
environment routes any non-local HTTP through a local trap that records and refuses every attempt.

    python -m pytest tests/test_browser.py -q -m browser

A full-page screenshot of each main state is left in /tmp/browser_shots/ (not asserted; for looking at).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Chromium not found at /usr/bin/chromium: install Debian's chromium: apt-get install chromium",
                allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="pip install playwright (the Python package)")

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from lib.vision.images import prepare_image  # noqa: E402
from scripts.screenshot import CHROMIUM_ARGS  # noqa: E402
from tests.api_double import ApiDouble  # noqa: E402
from tests.real_servers import stop_group  # noqa: E402
from tests.stubs import BRAVE_TOPICS, StubServer  # noqa: E402

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SHOTS = Path("/tmp/browser_shots")
FAKE_TOKEN = "sk-browser-test-custom-key"
# One fake key per provider: each must reach its own provider's preset and nothing else.
KEYS = {
    "NVIDIA_API_KEY": "nvapi-browser-test-nvidia",
    "OPENROUTER_API_KEY": "sk-or-browser-test-openrouter",
    "HF_TOKEN": "hf_browsertesthuggingface",
    "AZURE_AI_CHAT_KEY": "azure-browser-test-key",
}
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
EXCEPTION = '[data-testid="stException"]'
CHAT_INPUT = '[data-testid="stChatInputTextArea"]'
START_TIMEOUT_S = 30
RUN_TIMEOUT_MS = 20_000


# --- the app under test ------------------------------------------------------------------------------------------


class AppServer:
    """`streamlit run app.py` (or `script`) in its own process group, its stderr kept in a file; `started` is the
    launch time (time.perf_counter), for the cold-start benchmark."""

    def __init__(self, env: dict[str, str], log_path: Path, cwd: Path = ROOT, script: str = "app.py",
                 port: int | None = None, command: Sequence[str] = ("-m", "streamlit", "run")) -> None:
        self.port = port or _free_port()  # a port of its own, or the one a stopped server had (a restart)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, *command, *([script] if script else []),
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_healthy(self, timeout_s: float = START_TIMEOUT_S, poll_s: float = 0.2) -> None:
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
            time.sleep(poll_s)
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
        stop_group(self.proc, 10)
        self._log.close()


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 even if a proxy is set


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ProxyTrap:
    """A local 'proxy' that records every request line sent to it and refuses it: proof nothing tried to leave."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.settimeout(2)
                    self.lines.append(conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1"))
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


def app_env(trap: ProxyTrap, **extra: str) -> dict[str, str]:
    """The app's environment: no key from this machine, every outbound request to the trap, then `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("STREAMLIT_") and k not in (*KEYS, "GITHUB_TOKEN", "MODELS_PROVIDER", "MODELS_ENDPOINT",
                                                            "MODELS_API_KEY", "AZURE_AI_CHAT_ENDPOINT", "OLLAMA_HOST",
                                                            "TOOLS_MODEL", "VISION_MODEL")}
    env.update(
        OLLAMA_HOST="127.0.0.1:9",  # no Ollama unless a test says so
        REQUEST_TIMEOUT_S="15",
        TOOL_TIMEOUT_S="5",
        PYTHONUNBUFFERED="1",
        HTTP_PROXY=trap.url, HTTPS_PROXY=trap.url, http_proxy=trap.url, https_proxy=trap.url,
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


def start_app(env: dict[str, str], tmp: Path, cwd: Path = ROOT) -> AppServer:
    """`streamlit run app.py` in `cwd` (this checkout by default), once it answers its health check."""
    server = AppServer(env, tmp / "streamlit.log", cwd)
    try:
        server.wait_healthy()
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def running_app(tmp: Path, **env: str) -> Iterator[AppServer]:
    """A fresh `streamlit run app.py` with `env` (every outbound request trapped); stopped after, and a check that it
    tried to reach no outside host."""
    trap = ProxyTrap()
    server = start_app(app_env(trap, **env), tmp)
    try:
        yield server
    finally:
        server.stop()
        trap.close()
    assert trap.lines == [], f"the app tried to reach the internet: {trap.lines}"


def new_browser_page(browser: Browser, height: int = 720, **options: Any) -> Page:
    """A page in a new browser context (its own cookies: another browser, as far as the app can tell), 1280 wide."""
    context = browser.new_context(viewport={"width": 1280, "height": height}, locale="en-US", **options)
    context.set_default_timeout(RUN_TIMEOUT_MS)
    return context.new_page()


@contextlib.contextmanager
def browser_page(browser: Browser, height: int = 720, **options: Any) -> Iterator[Page]:
    """`new_browser_page`, closed after."""
    page = new_browser_page(browser, height, **options)
    try:
        yield page
    finally:
        page.context.close()


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
def trap() -> Iterator[ProxyTrap]:
    t = ProxyTrap()
    yield t
    t.close()


@pytest.fixture(scope="module")
def app(double: ApiDouble, stub: StubServer, trap: ProxyTrap,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    global _current_app
    env = app_env(trap, **stub.env(), **KEYS,
                  MODELS_PROVIDER="custom", MODELS_ENDPOINT=double.endpoint, MODELS_API_KEY=FAKE_TOKEN,
                  AZURE_AI_CHAT_ENDPOINT=double.endpoint_for("azure"))
    server = start_app(env, tmp_path_factory.mktemp("streamlit"))
    try:
        _current_app = server
        yield server
    finally:
        _current_app = None
        server.stop()
    tried = [line for line in trap.lines if not (line.startswith("CONNECT ") and line.split()[1] in LISTING_HOSTS)]
    assert tried == [], f"the app tried to reach the internet: {tried}"


@contextlib.contextmanager
def trapped_chromium() -> Iterator[Browser]:
    """Chromium that cannot reach beyond this machine, and a check that no page tried.

    Every request to another host goes through a local proxy trap that refuses it: Chromium's own background
    services (autofill, component updates) call Google even with --disable-background-networking, and are refused
    there. At the end, asserts that no page of any context made such a request (a font, an icon or a script from a
    CDN would break an offline demo and tell a third party about the visit)."""
    trap = ProxyTrap()
    outside: list[str] = []

    def watch(request: Any) -> None:
        url = request.url
        if url.startswith(("http:", "https:", "ws:", "wss:")) and urlsplit(url).hostname not in ("127.0.0.1",
                                                                                                 "localhost"):
            outside.append(url)

    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                  proxy={"server": trap.url, "bypass": "127.0.0.1,localhost"})
            new_context = b.new_context

            def watched_context(*args: Any, **kwargs: Any) -> Any:
                context = new_context(*args, **kwargs)
                context.on("request", watch)
                context.add_init_script(RUN_STATE_WATCH)  # for settle()
                return context

            b.new_context = watched_context  # type: ignore[method-assign]
            try:
                yield b
            finally:
                b.close()
    finally:
        trap.close()
    assert outside == [], f"a page tried to reach the internet: {outside}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with trapped_chromium() as b:
        yield b


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


# Every page of a test browser (`trapped_chromium`) counts the changes of Streamlit's run state as they happen
# (a MutationObserver on stApp's data-test-script-state: every record, so a run that starts and ends between two
# looks still counts), and when the last one was.
RUN_STATE_WATCH = """(() => {
  const s = window.__runState = {changes: 0, last: performance.now()};
  const watch = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app) return false;
    new MutationObserver(records => { s.changes += records.length; s.last = performance.now(); })
      .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
    s.changes += 1; s.last = performance.now();
    return true;
  };
  const start = () => { if (!watch()) { const mo = new MutationObserver(() => { if (watch()) mo.disconnect(); });
                                        mo.observe(document.documentElement, {childList: true, subtree: true}); } };
  if (document.documentElement) start(); else document.addEventListener('DOMContentLoaded', start);
})()"""

# Settled: idle, with no change of the run state for QUIET_MS (a turn ends with a rerun that redraws it from
# history: the next run starts within that), and either a run came and went since the call or START_MS passed
# without one (an action's rerun shows within that; some actions start none).
SETTLE_START_MS, SETTLE_QUIET_MS = 300, 350
_SETTLED = """([c0, t0, startMs, quietMs]) => {
  const s = window.__runState, app = document.querySelector('[data-testid="stApp"]');
  if (!s || !app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const now = performance.now();
  return (s.changes > c0 || now - t0 >= startMs) && now - s.last >= quietMs;
}"""


def settle(page: Page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Wait for the script run an action started to finish, and the rerun a turn ends with (see `_SETTLED`): as soon
    as it is so, not after fixed pauses (this is called about a thousand times a suite run)."""
    baseline = page.evaluate("() => window.__runState ? [window.__runState.changes, performance.now()] : null")
    if baseline is None:  # a page of a browser without the watch: idle twice, 400 ms apart
        page.wait_for_timeout(SETTLE_START_MS)
        page.locator(IDLE).wait_for(timeout=timeout_ms)
        page.wait_for_timeout(400)
        page.locator(IDLE).wait_for(timeout=timeout_ms)
        return
    page.wait_for_function(_SETTLED, arg=[*baseline, SETTLE_START_MS, SETTLE_QUIET_MS], timeout=timeout_ms,
                           polling=50)


DARK_BG, LIGHT_BG = "rgb(14, 17, 23)", "rgb(255, 255, 255)"  # stApp's background in Streamlit's two themes


def switch_theme(page: Page, theme: str) -> None:
    """The browser's preferred scheme changes while the page is open (the OS going dark at sunset): the app, on the
    ⋮ menu's "System" (its default), follows it without a reload."""
    page.emulate_media(color_scheme=theme)  # type: ignore[arg-type]
    expect(page.locator('[data-testid="stApp"]')).to_have_css("background-color",
                                                             DARK_BG if theme == "dark" else LIGHT_BG)
    settle(page)


def open_app(page: Page, app: AppServer, path: str = "") -> None:
    page.goto(f"{app.url}/{path}")
    page.locator('[data-testid="stTopNav"]').wait_for()
    settle(page)


def assert_healthy(page: Page) -> None:
    """No exception box on the page, and no configured key anywhere in its HTML."""
    expect(page.locator(EXCEPTION)).to_have_count(0)
    expect(page.get_by_text("Something went wrong on this page")).to_have_count(0)
    html = page.content()
    for key in (FAKE_TOKEN, *KEYS.values()):
        assert key not in html, f"a key is in the HTML of {page.url}"


def contrast(page: Page, selector: str) -> float:
    """WCAG contrast of the first match's text as seen: its colour blended with the first opaque background under
    it by its opacity (and its ancestors'), against that background."""
    return page.eval_on_selector(selector, """e => {
        const rgba = s => { const v = s.match(/[\\d.]+/g).map(Number);
            // color-mix() computes to `color(srgb r g b / a)`, channels 0..1 (ui/a11y.py fades captions so)
            const k = s.startsWith("color(srgb") ? 255 : 1;
            return [v[0] * k, v[1] * k, v[2] * k, v.length > 3 ? v[3] : 1]; };
        const lum = ([r, g, b]) => { const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92
            : Math.pow((c + 0.055) / 1.055, 2.4); }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
        let alpha = rgba(getComputedStyle(e).color)[3], bg = [255, 255, 255], n = e;
        while (n) {
            const s = getComputedStyle(n), b = rgba(s.backgroundColor);
            alpha *= Number(s.opacity);
            if (b[3] === 1) { bg = b; break; }
            n = n.parentElement;
        }
        const fg = rgba(getComputedStyle(e).color).slice(0, 3).map((c, i) => alpha * c + (1 - alpha) * bg[i]);
        const a = lum(fg), b = lum(bg);
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    }""")


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
    connection = page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"]').filter(
        has_text="Connection:")
    expect(connection).to_contain_text("tool calling uses Llama 3.1 405B, vision uses Llama 3.2 90B Vision")
    assert_healthy(page)
    sidebar_caption = '[data-testid="stSidebar"] [data-testid="stCaptionContainer"] p'
    assert contrast(page, sidebar_caption) >= 4.5  # the request meter, on every page
    shot(page, "home")

    for label, title, path in (
        ("Tool calling", "Tool calling with Llama 3.1 405B", "/tool_calling"),
        ("Vision", "Vision with Llama 3.2 90B Vision", "/vision"),
        ("Home", "Llama Herd Studio", ""),
    ):
        nav_link(page, label).click()
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        expect(page).to_have_url(re.compile(re.escape(app.url + path) + r"/?(\?.*)?$"))
        settle(page)
        assert_healthy(page)
        assert contrast(page, sidebar_caption) >= 4.5
        if path:
            shot(page, path.strip("/"))
    expect(connection).to_contain_text("tool calling uses Llama 3.1 405B")
    page.locator("summary").filter(has_text="Connection details").click()
    expect(page.get_by_text("lists 5 models")).to_be_visible()

    # A browser that prefers dark gets the dark theme, and its captions are as readable.
    assert page.context.browser is not None
    dark = page.context.browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme="dark")
    try:
        tab = dark.new_page()
        open_app(tab, app)
        assert tab.eval_on_selector('[data-testid="stApp"]', "e => getComputedStyle(e).backgroundColor") == \
            "rgb(14, 17, 23)"
        assert contrast(tab, sidebar_caption) >= 4.5
    finally:
        dark.close()


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

    # The tool step reads as a timeline, open by default and in the order it happened: the model decided to call
    # the tool (its raw output right there) -> the app ran Brave Search (the real source, not the fallback) ->
    # what the model received -> the answer.
    decided = answer.get_by_text('Llama 3.1 405B decided to call brave_search(query="current weather in Stockholm")')
    raw = answer.locator("pre").filter(
        has_text=re.compile(r'^<\|python_tag\|>brave_search\.call\(query="current weather in Stockholm"\)'))
    ran = answer.get_by_text("The app ran Web search (Brave):")
    weather = BRAVE_TOPICS["stockholm"][0]
    snippet = re.sub(r"<[^>]+>", "", weather[2])
    title = re.sub(r"<[^>]+>", "", weather[0])
    result = answer.locator("details").filter(has_text="What the model receives").locator("pre").filter(has_text=title)
    final = answer.get_by_role("paragraph").filter(has_text="(API double) Based on the tool result")
    for item in (decided, raw, ran, result, final):
        expect(item).to_be_visible()
    expect(raw).to_have_count(1)
    expect(result).to_contain_text(snippet)
    expect(answer).to_contain_text("Brave Search API")
    ys = [item.evaluate("e => e.getBoundingClientRect().top") for item in (decided, raw, ran, result, final)]
    assert ys == sorted(ys), f"the timeline is out of order: {ys}"
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


LLAMA_FACTS = (
    "Llamas are domesticated South American camelids, kept as pack animals by Andean cultures for centuries.",
    "They are social animals and live in herds. Their wool is soft and has only a little lanolin.",
    "A grown llama stands 1.7 to 1.8 m tall at the top of the head and weighs 130 to 200 kg. Finis.",
)


def pointer_events(page: Page, name: str) -> str:
    return page.get_by_role("checkbox", name=name).evaluate(
        "e => getComputedStyle(e.closest('[data-testid=\"stCheckbox\"]')).pointerEvents")


@explained
def test_a_typed_question_streams_paragraph_by_paragraph_and_ends_in_place(page: Page, app: AppServer,
                                                                          double: ApiDouble) -> None:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from tests.api_double import Reply

    runs: list[str] = []  # "page" or "fragment", from the "new_session" message that starts each script run

    def frame(payload: Any) -> None:
        msg = ForwardMsg()
        msg.ParseFromString(payload if isinstance(payload, bytes) else payload.encode())
        if msg.WhichOneof("type") == "new_session":
            runs.append("fragment" if msg.metadata.run.fragment_ids else "page")

    page.on("websocket", lambda ws: ws.on("framereceived", frame))
    open_app(page, app, "tool_calling")
    before = len(runs)
    double.queue(Reply(text="\n\n".join(LLAMA_FACTS), chunk_delay_s=0.08))
    send_chat(page, "Tell me three things about llamas")
    chat = page.locator('[data-testid="stChatMessage"]')
    # While it streams: the input and the tool choices can't be used, the first paragraph is already there.
    expect(chat.filter(has_text="social animals")).to_have_count(1, timeout=10_000)
    expect(page.locator(CHAT_INPUT)).to_be_disabled()
    assert pointer_events(page, "Local time (offline)") == "none"
    expect(chat.filter(has_text="Finis.")).to_have_count(1, timeout=20_000)
    settle(page)
    # Ended in place: one script run for the whole question, of the conversation alone (the title, the tool panel and
    # the sidebar's settings aren't drawn again: what a room asking at once can afford), everything usable again, the
    # turn complete, and the sidebar's request meter counting it.
    assert runs[before:] == ["fragment"], f"runs for one typed question: {runs[before:]}"
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("This session: 1")
    expect(page.locator(CHAT_INPUT)).to_be_enabled()
    assert pointer_events(page, "Local time (offline)") != "none"
    answer = chat.filter(has_text="Finis.")
    for fact in LLAMA_FACTS:  # three paragraphs, each once
        expect(answer.get_by_role("paragraph").filter(has_text=fact)).to_have_count(1)
    expect(answer).to_contain_text("1 model request")
    expect(answer.locator("details").filter(has_text="What the model sees")).to_have_count(1)
    expect(answer).not_to_contain_text("▌")
    layout = answer.evaluate("e => e.getBoundingClientRect().height")
    # The next page run draws the same turn from history: same text, same height. (A sidebar switch runs the whole
    # page; a tool checkbox only reruns its panel.)
    before = len(runs)
    reuse = page.locator('[data-testid="stSidebar"]').get_by_text("Reuse identical answers", exact=True)
    reuse.click()
    settle(page)
    assert len(runs) - before == 1, "the switch should run the whole page"
    answer = chat.filter(has_text="Finis.")
    for fact in LLAMA_FACTS:
        expect(answer).to_contain_text(fact)
    assert abs(answer.evaluate("e => e.getBoundingClientRect().height") - layout) < 2
    reuse.click()
    settle(page)
    assert_healthy(page)


@explained
def test_a_tool_checkbox_reruns_only_its_panel_and_the_next_question_uses_the_choice(
        page: Page, app: AppServer, double: ApiDouble) -> None:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from tests.api_double import Reply

    runs: list[str] = []  # "page" or "fragment", from each run's "new_session" message
    received: list[int] = []

    def frame(payload: Any) -> None:
        data = payload if isinstance(payload, bytes) else payload.encode()
        received.append(len(data))
        msg = ForwardMsg()
        msg.ParseFromString(data)
        if msg.WhichOneof("type") == "new_session":
            runs.append("fragment" if msg.metadata.run.fragment_ids else "page")

    page.on("websocket", lambda ws: ws.on("framereceived", frame))
    open_app(page, app, "tool_calling")
    local_time = page.get_by_role("checkbox", name="Local time (offline)")
    if local_time.is_checked():
        page.get_by_text("Local time (offline)", exact=True).click()
        settle(page)
    for n in range(3):  # a conversation below the panel
        double.queue(Reply(text=f"Answer number {n}: " + " ".join(LLAMA_FACTS)))
        send_chat(page, f"Question number {n} about llamas")
        expect(page.locator('[data-testid="stChatMessage"]').filter(has_text=f"Answer number {n}:")).to_have_count(1)
        settle(page)
    runs.clear()
    received.clear()
    page.get_by_text("Local time (offline)", exact=True).click()
    settle(page)
    expect(local_time).to_be_checked()
    # Only the panel ran: no page run started, a fraction of what the conversation alone weighs came over.
    assert runs == ["fragment"], f"runs for a checkbox click: {runs}"
    assert sum(received) < 3000, f"{sum(received)} bytes for a checkbox click"
    expect(page.locator('[data-testid="stChatMessage"]').filter(has_text="Answer number 2:")).to_have_count(1)
    # The choice reaches the model with the next question.
    asked = len(double.requests)
    double.queue(Reply(text="Noted."))
    send_chat(page, "What time is it in Lima?")
    expect(page.locator('[data-testid="stChatMessage"]').filter(has_text="Noted.")).to_have_count(1)
    settle(page)
    chat_requests = [r for r in double.requests[asked:] if r.messages]
    assert chat_requests and "get_local_time" in json.dumps(chat_requests[0].body), "the new tool was not offered"
    page.get_by_text("Local time (offline)", exact=True).click()
    settle(page)
    assert_healthy(page)


@explained
def test_vision_upload_and_describe(page: Page, app: AppServer, tmp_path: Path) -> None:
    photo = tmp_path / "gradient-photo.jpg"
    data = photo_jpeg(photo)
    prepared = prepare_image(data, photo.name)  # what the app will compute for the same bytes
    assert (prepared.width, prepared.height) == (1120, 747)
    assert prepared.summary.startswith("3000×2000 JPEG, ") and " → 1120×747 JPEG, " in prepared.summary

    open_app(page, app, "vision")
    expect(page.get_by_role("heading", name="Vision with Llama 3.2 90B Vision")).to_be_visible()
    page.locator('[data-testid="stMainBlockContainer"] [data-testid="stFileUploader"]').first.locator(
        '[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo))
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


PROVIDER_CASES = [
    # preset, sidebar label, title model, answering model (after a retired one is skipped), vision model, why, key
    ("ollama", "Ollama (on this machine)", "Llama 3.1 8B", "Llama 3.1 8B", "Llama 3.2 11B Vision",
     "isn't served by Ollama", None),
    ("vllm", "vLLM or another server you run", "Llama 3.1 405B", "Llama 3.1 405B", "Llama 3.2 90B Vision",
     "built for", None),
    # NVIDIA still lists 3.1 405B but answers 410: the turn moves to Llama 3.3 70B and says so.
    ("nvidia", "NVIDIA API catalog", "Llama 3.1 405B", "Llama 3.3 70B", "Llama 3.2 90B Vision", "built for",
     "NVIDIA_API_KEY"),
    ("openrouter", "OpenRouter", "Llama 3.3 70B", "Llama 3.3 70B", "Llama 3.2 11B Vision",
     "isn't offered by OpenRouter any more", "OPENROUTER_API_KEY"),
    ("huggingface", "Hugging Face Inference Providers", "Llama 3.3 70B", "Llama 3.3 70B", "Llama 4 Maverick",
     "reads the same tool format", "HF_TOKEN"),
    ("azure", "Azure AI Foundry", "Llama 3.3 70B", "Llama 3.3 70B", "Llama 4 Maverick", "deployment",
     "AZURE_AI_CHAT_KEY"),
]
# Picking a hosted provider in the sidebar lists its models at its real address before the test points it at the
# double: those listings go to the trap (a local proxy that refuses them), never out. Nothing else may try.
LISTING_HOSTS = {"integrate.api.nvidia.com:443", "openrouter.ai:443", "router.huggingface.co:443"}


def open_connection_settings(page: Page) -> None:
    """Open the sidebar's "Connection settings" (closed at first when the app can already send)."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    if not sidebar.get_by_role("radiogroup", name="Provider").count():
        sidebar.locator("summary").filter(has_text="Connection settings").click()
        sidebar.get_by_role("radiogroup", name="Provider").wait_for()
        settle(page)


def pick_provider(page: Page, label: str, base_url: str | None, key: str | None = None) -> None:
    """Choose a provider in the sidebar and, for the test, point it at the double's preset (with its key)."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    open_connection_settings(page)
    sidebar.locator("label").filter(has_text=label).first.click()
    settle(page)
    if base_url:
        field = sidebar.get_by_role("textbox", name=re.compile("base url", re.IGNORECASE))
        if not field.first.is_visible():
            sidebar.get_by_text("Gateway or proxy (optional)").click()
        field.first.fill(base_url)
        field.first.press("Enter")
        settle(page)
    if key:
        # A URL typed in the sidebar gets no configured key: the person types the key for it too.
        box = sidebar.get_by_role("textbox", name=re.compile(r"_(API_KEY|TOKEN)"))
        box.first.fill(key)
        box.first.press("Enter")
        settle(page)


@explained
def test_choices_in_the_sidebar_boxes_are_kept_while_the_boxes_are_closed(
        page: Page, app: AppServer, double: ApiDouble) -> None:
    """"Connection settings" and "Rehearsal" draw their fields only while open (a lighter first page view):
    closing either must not undo what was chosen in it, over later page runs and requests."""
    open_app(page, app)
    sidebar = page.locator('[data-testid="stSidebar"]')
    provider_radio = sidebar.get_by_role("radiogroup", name="Provider")
    # A server is configured, so the app can send: the fields start folded away and the summary says where.
    expect(provider_radio).to_have_count(0)
    expect(sidebar).to_contain_text("vLLM or another server you run")
    endpoint = double.endpoint_for("openrouter")
    pick_provider(page, "OpenRouter", endpoint, KEYS["OPENROUTER_API_KEY"])
    sidebar.locator("summary").filter(has_text="Connection settings").click()
    settle(page)
    expect(provider_radio).to_have_count(0)
    sidebar.locator("summary").filter(has_text="Rehearsal").click()
    sidebar.locator('[data-testid="stRadioOption"]').filter(has_text=re.compile("^Record$")).click()
    settle(page)
    sidebar.locator("summary").filter(has_text="Rehearsal").click()
    settle(page)
    expect(sidebar.locator('.st-key-rehearsal_mode [data-testid="stRadioOption"]')).to_have_count(0)

    nav_link(page, "Tool calling").click()
    settle(page)
    expect(sidebar).to_contain_text("OpenRouter")
    expect(sidebar).to_contain_text(f"Endpoint: {endpoint}")
    send_chat(page, "What is the weather in Stockholm?")
    expect(page.locator('[data-testid="stChatMessage"]').filter(has_text="Based on the tool result")).to_have_count(1)
    settle(page)
    sent = [r for r in double.requests_to("openrouter") if r.method == "POST"]
    auth = [{k.lower(): v for k, v in r.headers.items()}.get("authorization") for r in sent]
    assert auth and set(auth) == {f"Bearer {KEYS['OPENROUTER_API_KEY']}"}, auth
    # Still recording: the turn was kept while the box was closed. (The sidebar is drawn before the page, so the
    # count shows from the next run; Streamlit may reopen the box on a page switch.)
    nav_link(page, "Home").click()
    settle(page)
    if not sidebar.locator('.st-key-rehearsal_mode [data-testid="stRadioOption"]').count():
        sidebar.locator("summary").filter(has_text="Rehearsal").click()
        settle(page)
    expect(sidebar.locator('[data-testid="stRadioOption"]').filter(has_text=re.compile("^Record$"))
           .locator("input")).to_be_checked()
    expect(sidebar).to_contain_text("exchanges recorded")
    assert_healthy(page)


@explained
@pytest.mark.parametrize("preset, label, tools_name, answered_by, vision_name, why, key_var", PROVIDER_CASES,
                         ids=[c[0] for c in PROVIDER_CASES])
def test_each_provider_picks_its_best_model_runs_a_tool_turn_and_a_vision_answer(
        page: Page, app: AppServer, double: ApiDouble, stub: StubServer, preset: str, label: str, tools_name: str,
        answered_by: str, vision_name: str, why: str, key_var: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ollama 0.29 still runs Llama 3.2 Vision (0.30+ cannot: tests/test_pages.py covers that case).
    monkeypatch.setattr(double, "ollama_version", "0.29.2")
    open_app(page, app)
    if preset == "azure":  # AZURE_AI_CHAT_ENDPOINT and its key are configured: nothing to type
        pick_provider(page, label, None)
    else:
        pick_provider(page, label, double.endpoint_for(preset), KEYS[key_var] if key_var else None)
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar).to_contain_text(f"Endpoint: {double.endpoint_for(preset)}")
    # Home: the model chosen for each page in one line; opened, the details say why, in one table row each.
    line = page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"]').filter(has_text="Connection:")
    expect(line).to_contain_text(f"tool calling uses {tools_name}")
    page.locator("summary").filter(has_text="Connection details").click()
    table = page.locator("table").filter(has_text="Built for")
    expect(table).to_contain_text(tools_name)
    expect(table).to_contain_text(vision_name)
    expect(table).to_contain_text(why)
    assert_healthy(page)
    shot(page, f"home_{preset}")

    nav_link(page, "Tool calling").click()
    expect(page.get_by_role("heading", name=f"Tool calling with {tools_name}")).to_be_visible()
    settle(page)
    send_chat(page, "What is the weather in Stockholm?")
    answer = page.locator('[data-testid="stChatMessage"]').filter(has_text="Based on the tool result")
    expect(answer).to_have_count(1)
    settle(page)
    expect(answer).to_contain_text(f"{answered_by} on {label}")  # the turn names who answered
    if answered_by != tools_name:
        expect(answer).to_contain_text("retired")
        expect(page.get_by_role("heading", name=f"Tool calling with {answered_by}")).to_be_visible()
    assert_healthy(page)
    shot(page, f"tools_{preset}")

    nav_link(page, "Vision").click()
    expect(page.get_by_role("heading", name=f"Vision with {vision_name}")).to_be_visible()
    settle(page)
    page.locator('[data-testid="stButtonGroup"]').get_by_text("Sample").first.click()
    settle(page)
    page.locator('[data-testid="stButtonGroup"]').get_by_text("Cat", exact=True).click()
    settle(page)
    expect(page.locator('[data-testid="stCaptionContainer"]').filter(has_text="Sent to the model:")).to_be_visible()
    page.get_by_role("button", name="Ask Llama").click()
    described = page.locator('[data-testid="stChatMessage"]').filter(has_text="I received one")
    expect(described).to_have_count(1)
    settle(page)
    expect(described).to_contain_text(f"{vision_name} on {label}")
    assert_healthy(page)
    shot(page, f"vision_{preset}")

    # Keys: this provider's requests carried its own key (or none), and no request anywhere carried another's.
    sent = [r for r in double.requests_to(preset) if r.method == "POST"]
    assert len(sent) >= 3, [r.path for r in double.requests_to(preset)]
    for r in sent:
        auth = {k.lower(): v for k, v in r.headers.items()}.get("authorization")
        assert auth == (f"Bearer {KEYS[key_var]}" if key_var else None), (preset, auth)
    others = [v for k, v in KEYS.items() if k != key_var] + [FAKE_TOKEN]
    for r in double.requests_to(preset):
        assert not any(v in repr(r.headers) for v in others), f"another provider's key reached {preset}"
    if preset == "nvidia":
        image_requests = [r for r in sent if "image_url" in json.dumps(r.body)]
        assert image_requests and all(m["role"] != "system" for r in image_requests for m in r.messages)
        urls = [p["image_url"]["url"] for r in image_requests for m in r.messages if isinstance(m["content"], list)
                for p in m["content"] if p.get("type") == "image_url"]
        assert all(len(u.split(",", 1)[1]) <= 180_000 for u in urls)


@explained
def test_only_a_github_token_is_told_the_truth_and_nothing_is_sent(
        page: Page, browser: Browser, trap: ProxyTrap, double: ApiDouble,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    before = len(double.requests)
    lines = len(trap.lines)
    server = start_app(app_env(trap, GITHUB_TOKEN="ghp_only_a_github_token_1234"), tmp_path_factory.mktemp("gh"))
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        pg.goto(server.url)
        settle(pg)
        alert = pg.locator('[data-testid="stAlert"]').filter(has_text="GitHub Models was retired on 30 July 2026")
        expect(alert).to_have_count(1)
        shot(pg, "home_github_only")
        nav_link(pg, "Tool calling").click()
        settle(pg)
        expect(pg.locator(CHAT_INPUT)).to_be_disabled()
        assert "ghp_only_a_github_token_1234" not in pg.content()
        context.close()
    finally:
        server.stop()
    assert len(double.requests) == before
    assert trap.lines[lines:] == [], f"a request tried to leave the machine: {trap.lines[lines:]}"


@explained
@pytest.mark.parametrize("path, title", [("tool_calling", "Tool calling with"), ("vision", "Vision with")])
def test_a_deep_link_on_a_freshly_started_server_gets_the_whole_app(
        browser: Browser, trap: ProxyTrap, double: ApiDouble, tmp_path_factory: pytest.TempPathFactory,
        path: str, title: str) -> None:
    server = start_app(app_env(trap, MODELS_PROVIDER="custom", MODELS_ENDPOINT=double.endpoint),
                       tmp_path_factory.mktemp("fresh"))
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        pg.goto(f"{server.url}/{path}")  # the very first visitor of this server
        pg.locator('[data-testid="stTopNav"]').wait_for(timeout=RUN_TIMEOUT_MS)
        settle(pg)
        expect(pg.get_by_role("heading", name=re.compile(title))).to_be_visible()
        expect(pg.locator('[data-testid="stSidebar"]')).to_contain_text("Where Llama runs")
        expect(pg).to_have_url(re.compile(re.escape(f"{server.url}/{path}") + r"/?(\?.*)?$"))
        expect(pg.locator(EXCEPTION)).to_have_count(0)
        context.close()
    finally:
        server.stop()


def test_the_llama_favicon_comes_with_the_second_run_of_a_fresh_server(
        browser: Browser, trap: ProxyTrap, double: ApiDouble, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A fresh server's first page view doesn't wait ~35 ms for Streamlit's emoji table (it loads in the
    background): that tab gets the 🦙 icon with its next run, and every later visitor at once."""
    server = start_app(app_env(trap, MODELS_PROVIDER="custom", MODELS_ENDPOINT=double.endpoint),
                       tmp_path_factory.mktemp("favicon"))
    llama = re.compile(r"^data:image/svg\+xml,.*(🦙|%F0%9F%A6%99)")  # Streamlit's emoji favicon, an SVG
    icon = 'link[rel~="icon"]'
    try:
        first = browser.new_context(viewport={"width": 1280, "height": 900})
        pg = first.new_page()
        pg.goto(server.url)
        settle(pg)
        expect(pg.get_by_role("heading", name=re.compile("Llama Herd Studio"))).to_be_visible()
        expect(pg.locator(icon).first).not_to_have_attribute("href", llama)
        pg.get_by_text("Presenter mode").click()  # any rerun
        settle(pg)
        expect(pg.locator(icon).first).to_have_attribute("href", llama)
        later = browser.new_context(viewport={"width": 1280, "height": 900})
        other = later.new_page()
        other.goto(server.url)
        settle(other)
        expect(other.locator(icon).first).to_have_attribute("href", llama)
        for context in (first, later):
            context.close()
    finally:
        server.stop()


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
