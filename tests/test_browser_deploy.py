"""Safe to deploy for a room, in a real browser (issue 19): a conversation belongs to its browser, "Share" makes a
read-only link that can be revoked, and the operator decides where the server sends requests.

Two browser contexts are two browsers (separate cookies). The app runs against the API double on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import re
import threading
from pathlib import Path
from typing import Iterator

import pytest

from tests import test_browser as tb  # skips this module too when Chromium or Playwright is missing

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from tests.api_double import ApiDouble, Reply  # noqa: E402
from tests.test_browser import browser, double  # noqa: E402,F401 - module-scoped Chromium and API double
from tests.test_browser_hosts import app_page  # noqa: E402

pytestmark = pytest.mark.browser

KEY = "sk-or-deploy-test-key"
CHAT = '[data-testid="stChatMessage"]'


@pytest.fixture(scope="module")
def app(double: ApiDouble, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tb.AppServer]:
    with tb.running_app(tmp_path_factory.mktemp("streamlit-deploy"), MODELS_PROVIDER="openrouter",
                        OPENROUTER_API_KEY=KEY, OPENROUTER_BASE_URL=double.endpoint_for("openrouter")) as server:
        yield server


_browser_page = tb.new_browser_page  # a new browser (its own cookies), 1280×720


def _ask(page: Page, question: str) -> None:
    tb.send_chat(page, question)
    expect(page.locator(CHAT).filter(has_text="Answer to: " + question)).to_have_count(1)
    tb.settle(page)


def test_a_copied_address_opens_a_fresh_page_and_share_gives_a_revocable_read_only_view(
        browser: Browser, app: tb.AppServer, double: ApiDouble) -> None:
    owner, other = _browser_page(browser), _browser_page(browser)
    try:
        owner.goto(f"{app.url}/tool_calling")
        tb.settle(owner)
        double.queue(Reply(text="Answer to: What is a llama?"))
        _ask(owner, "What is a llama?")
        address = owner.url
        assert "s=" in address
        owner.reload()
        tb.settle(owner)
        expect(owner.locator(CHAT).filter(has_text="Answer to: What is a llama?")).to_have_count(1)  # restored

        # The address pasted into the workshop chat: another browser gets a fresh page, and is told why.
        other.goto(address)
        tb.settle(other)
        expect(other.get_by_text("another browser's conversation")).to_be_visible()
        expect(other.locator(CHAT)).to_have_count(0)
        assert re.search(r"s=([\w-]+)", other.url).group(1) != re.search(r"s=([\w-]+)", address).group(1)
        # ...and writing there never reaches the owner's conversation.
        double.queue(Reply(text="Answer to: Intruder question"))
        _ask(other, "Intruder question")
        owner.reload()
        tb.settle(owner)
        expect(owner.get_by_text("Intruder question")).to_have_count(0)

        # Share, on purpose: a read-only link.
        share = owner.locator('[data-testid="stPopoverButton"]:visible').filter(has_text="Share")
        expect(share).to_have_count(1)
        share.click()
        owner.get_by_role("button", name="Make a read-only link").click()
        tb.settle(owner)
        code = owner.locator('[data-testid="stCode"]').filter(has_text="view=")
        expect(code).to_be_visible()  # the popover stays open with the link in it
        link = code.inner_text().strip()
        assert "view=" in link and link.startswith(app.url)
        owner.keyboard.press("Escape")
        other.goto(link)
        tb.settle(other)
        expect(other.get_by_role("heading", name="Shared conversation")).to_be_visible()
        expect(other.locator(CHAT).filter(has_text="Answer to: What is a llama?")).to_have_count(1)
        expect(other.locator('[data-testid="stChatInput"]')).to_have_count(0)  # read-only: nothing to type into
        tb.shot(other, "deploy_shared_view")

        # It follows the conversation, until the owner stops sharing.
        double.queue(Reply(text="Answer to: And an alpaca?"))
        _ask(owner, "And an alpaca?")
        other.reload()
        tb.settle(other)
        expect(other.locator(CHAT).filter(has_text="Answer to: And an alpaca?")).to_have_count(1)
        share.click()
        owner.get_by_role("button", name="Stop sharing").click()
        tb.settle(owner)
        other.reload()
        tb.settle(other)
        expect(other.get_by_text("This link no longer works")).to_be_visible()
        expect(other.locator(CHAT)).to_have_count(0)
    finally:
        owner.context.close()
        other.context.close()


class _Redirector:
    """A local server that answers every request with a 307 to `target`, counting what it got."""

    def __init__(self, target: str) -> None:
        outer = self
        self.hits: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _redirect(self) -> None:
                outer.hits.append(f"{self.command} {self.path}")
                self.send_response(307)
                self.send_header("Location", target + self.path.split("/v1", 1)[-1])
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _redirect

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


REMOTE = {"X-Forwarded-For": "203.0.113.9"}  # what a reverse proxy adds: this visitor is not on the server's machine


def _visitor(browser: Browser) -> Page:
    return tb.new_browser_page(browser, extra_http_headers=REMOTE)


def _sidebar_type(page: Page, label: re.Pattern[str], text: str) -> None:
    sidebar = page.locator('[data-testid="stSidebar"]')
    field = sidebar.get_by_role("textbox", name=label).first
    field.fill(text)
    field.press("Enter")
    tb.settle(page)


def test_a_visitor_of_a_deployed_server_can_type_no_endpoint_and_never_sees_the_operator_s(
        browser: Browser, double: ApiDouble, tmp_path: Path) -> None:
    trap = tb.ProxyTrap()
    server = tb.start_app(tb.app_env(trap, MODELS_PROVIDER="custom", MODELS_ENDPOINT=double.endpoint_for("vllm")),
                          tmp_path)
    page = _visitor(browser)
    try:
        page.goto(f"{server.url}/tool_calling")
        tb.settle(page)
        double.queue(Reply(text="Answer to: Hello from the room"))
        _ask(page, "Hello from the room")
        page.get_by_text("View code (Python, azure-ai-inference)").first.click()
        expect(page.locator('[data-testid="stCode"]').filter(has_text="YOUR-ENDPOINT")).to_have_count(1)
        tb.open_connection_settings(page)
        sidebar = page.locator('[data-testid="stSidebar"]')
        radios = sidebar.get_by_role("radiogroup", name="Provider")
        expect(radios).not_to_contain_text("Ollama")  # its address would be the server's own localhost
        expect(sidebar.get_by_role("textbox", name=re.compile("Base URL", re.IGNORECASE))).to_have_count(0)
        sidebar.locator("label").filter(has_text="OpenRouter").first.click()
        tb.settle(page)
        expect(sidebar.get_by_text("Gateway or proxy (optional)")).to_have_count(0)
        expect(sidebar.get_by_role("textbox", name=re.compile("OPENROUTER_API_KEY"))).to_have_count(1)  # own key: yes
        tb.shot(page, "deploy_visitor_sidebar")
        assert double.endpoint_for("vllm").split("/v1")[0].split("//")[1] not in page.content(), \
            "the operator's private endpoint is nowhere on the page"
    finally:
        page.context.close()
        server.stop()
        trap.close()


def test_typed_endpoints_turned_on_still_refuse_files_metadata_private_and_redirects(
        browser: Browser, double: ApiDouble, tmp_path: Path) -> None:
    trap = tb.ProxyTrap()
    target = double.endpoint_for("vllm")
    redirector = _Redirector(target)
    server = tb.start_app(tb.app_env(trap, MODELS_PROVIDER="openrouter", OPENROUTER_API_KEY=KEY,
                                     OPENROUTER_BASE_URL=double.endpoint_for("openrouter"),
                                     ALLOW_TYPED_ENDPOINTS="1"), tmp_path)
    page = _visitor(browser)
    before = len(double.requests_to("vllm"))
    try:
        page.goto(f"{server.url}/tool_calling")
        tb.settle(page)
        sidebar = page.locator('[data-testid="stSidebar"]')
        tb.open_connection_settings(page)
        sidebar.locator("label").filter(has_text="vLLM").first.click()
        tb.settle(page)
        base_url = re.compile("Base URL", re.IGNORECASE)
        for typed, why in (("file:///etc/passwd", "Only http:// and https://"),
                           ("http://169.254.169.254/latest/meta-data", "metadata"),
                           ("http://[fe80::1]:8000/v1", "Link-local"),
                           (redirector.url, "private or local")):
            _sidebar_type(page, base_url, typed)
            expect(sidebar.locator('[data-testid="stAlertContentError"]').filter(has_text=why)).to_be_visible()
        tb.shot(page, "deploy_refused_endpoint")
        expect(page.locator('[data-testid="stChatInput"] textarea')).to_be_disabled()  # nothing can be sent
        assert redirector.hits == [] and len(double.requests_to("vllm")) == before, "no target was reached"
    finally:
        page.context.close()
        server.stop()
        trap.close()

    # The operator allows private addresses: the redirecting server is asked, and its 307 is not followed.
    trap = tb.ProxyTrap()
    server = tb.start_app(tb.app_env(trap, MODELS_PROVIDER="openrouter", OPENROUTER_API_KEY=KEY,
                                     OPENROUTER_BASE_URL=double.endpoint_for("openrouter"),
                                     ALLOW_TYPED_ENDPOINTS="1", ALLOW_PRIVATE_ENDPOINTS="1"), tmp_path)
    page = _visitor(browser)
    try:
        page.goto(f"{server.url}/tool_calling")
        tb.settle(page)
        tb.open_connection_settings(page)
        page.locator('[data-testid="stSidebar"]').locator("label").filter(has_text="vLLM").first.click()
        tb.settle(page)
        _sidebar_type(page, re.compile("Base URL", re.IGNORECASE), redirector.url)
        _sidebar_type(page, re.compile("MODELS_API_KEY"), "sk-visitor-own-key")
        page.get_by_role("textbox", name=re.compile("Tools model")).fill("meta-llama/Llama-3.1-405B-Instruct")
        page.get_by_role("textbox", name=re.compile("Tools model")).press("Enter")
        tb.settle(page)
        tb.send_chat(page, "Where does this go?")
        tb.settle(page)
        expect(page.get_by_text("That address didn't answer as a model server")).to_be_visible()
        expect(page.get_by_text("Server said")).to_have_count(0)
        assert redirector.hits, "the typed server was asked"
        assert len(double.requests_to("vllm")) == before, "the redirect was not followed: the key stayed home"
        assert KEY not in page.content() and "sk-visitor-own-key" not in page.content()
    finally:
        page.context.close()
        server.stop()
        trap.close()
        redirector.close()


def _rss_peak_mb(pid: int) -> float:
    """The peak resident memory (VmHWM) of the app's process and its children, in MB."""
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        if match:
            total = max(total, int(match.group(1)) / 1024)
    return total


def test_loading_a_49_mb_recording_keeps_the_server_under_300_mb(
        browser: Browser, app: tb.AppServer, tmp_path: Path) -> None:
    recording = tmp_path / "rehearsal.json"
    with recording.open("w") as f:  # the shape of a recording, 49 MB of many small values
        f.write('{"version": 1, "recordings": [')
        f.write(",".join('[0,""]' for _ in range(7_000_000)))
        f.write("]}")
    assert 45e6 < recording.stat().st_size < 50e6
    page = _browser_page(browser)
    try:
        page.goto(f"{app.url}/tool_calling")
        tb.settle(page)
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.locator("summary").filter(has_text="Rehearsal").click()
        tb.settle(page)
        sidebar.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(recording))
        page.wait_for_timeout(1_500)
        tb.settle(page)
        expect(sidebar.get_by_text(re.compile(r"(too large|must be \d+(\.\d+)?MB or smaller)", re.I)).first
               ).to_be_visible()
        peak = _rss_peak_mb(app.proc.pid)
        print(f"app peak RSS with a 49 MB recording offered: {peak:.0f} MB")
        assert 0 < peak < 300, f"the server's peak memory reached {peak:.0f} MB"
        tb.assert_healthy(page)
    finally:
        page.context.close()


CODE = ("import os, socket\\n"
        "print('ENV', sorted(os.environ))\\n"
        "s = socket.socket()\\n"
        "s.settimeout(2)\\n"
        "try:\\n"
        "    s.connect(('127.0.0.1', PORT)); print('NET reached')\\n"
        "except OSError as e:\\n"
        "    print('NET blocked', e.errno)\\n"
        "try:\\n"
        "    open(APP + '/pwned.txt', 'w').write('x'); print('FS wrote')\\n"
        "except OSError as e:\\n"
        "    print('FS blocked', e.errno)\\n"
        "os.system('sleep 300 &')\\n"
        "print('done')")


def test_the_python_tool_sees_no_key_no_network_no_app_directory_and_leaves_nothing_running(
        browser: Browser, double: ApiDouble, tmp_path: Path) -> None:
    import socket
    import subprocess

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    trap = tb.ProxyTrap()
    server = tb.start_app(tb.app_env(trap, MODELS_PROVIDER="openrouter", OPENROUTER_API_KEY=KEY,
                                     OPENROUTER_BASE_URL=double.endpoint_for("openrouter"),
                                     ALLOW_CODE_INTERPRETER="1"), tmp_path)
    page = _browser_page(browser)
    code = CODE.replace("PORT", str(port)).replace("APP", repr(str(tb.ROOT)))
    try:
        page.goto(f"{server.url}/tool_calling")
        tb.settle(page)
        page.locator("label").filter(has_text="Python (sandboxed)").click()
        tb.settle(page)
        double.queue(Reply(text=f'<|python_tag|>code_interpreter.call(code="{code}")'))
        double.queue(Reply(text="Answer to: the sandbox ran."))
        tb.send_chat(page, "Run some Python for me")
        expect(page.locator(CHAT).filter(has_text="Answer to: the sandbox ran.")).to_have_count(1, timeout=30_000)
        tb.settle(page)
        messages = double.chat_requests[-1].body["messages"]
        sent = next((str(m.get("content")) for m in messages if str(m.get("content", "")).startswith("ENV")), "")
        assert "done" in sent, messages[-2:]  # what the sandboxed program printed, as the model received it
        assert "NET blocked" in sent and "NET reached" not in sent
        assert "FS blocked" in sent and not (tb.ROOT / "pwned.txt").exists()
        assert KEY not in str(messages) and "OPENROUTER_API_KEY" not in sent, "the model never saw the server's key"
        with pytest.raises(socket.timeout):
            listener.accept()  # nothing connected to the loopback service
        left = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, text=True).stdout.split()
        assert left == [], f"processes left behind: {left}"
        tb.assert_healthy(page)
        assert KEY not in page.content()
    finally:
        page.context.close()
        server.stop()
        trap.close()
        listener.close()
