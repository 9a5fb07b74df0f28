"""Each demo on the best host a person has, in a real browser (issue 18).

The exact models live apart now: Llama 3.2 90B Vision only on NVIDIA's catalog, no hosted 405B anywhere. A person
with an NVIDIA key and an OpenRouter key gets vision on NVIDIA's 90B and tool calling on OpenRouter's Llama 3.3 70B,
each page saying so, and each key reaching only its own host. NVIDIA_BASE_URL / OPENROUTER_BASE_URL point both
providers at the API double's presets on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Iterator

import pytest

from tests import test_browser as tb  # skips this module too when Chromium or Playwright is missing

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from tests.api_double import ApiDouble  # noqa: E402
from tests.test_browser import browser, double  # noqa: E402,F401 - module-scoped Chromium and API double
from tests.test_browser_vision import pick_sample  # noqa: E402
from tests.stubs import StubServer  # noqa: E402

pytestmark = pytest.mark.browser

NVIDIA_KEY = "nvapi-browser-hosts-test-nvidia"
OPENROUTER_KEY = "sk-or-browser-hosts-test-openrouter"


@pytest.fixture(scope="module")
def app(double: ApiDouble, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tb.AppServer]:
    with StubServer() as stub, tb.running_app(
            tmp_path_factory.mktemp("streamlit-hosts"), **stub.env(), NVIDIA_API_KEY=NVIDIA_KEY,
            OPENROUTER_API_KEY=OPENROUTER_KEY, NVIDIA_BASE_URL=double.endpoint_for("nvidia"),
            OPENROUTER_BASE_URL=double.endpoint_for("openrouter")) as server:
        yield server


@pytest.fixture
def page(browser: Browser, app: tb.AppServer) -> Iterator[Page]:
    with tb.browser_page(browser) as pg:
        yield pg


@contextlib.contextmanager
def app_page(browser: Browser, tmp: Path, path: str, **env: str) -> Iterator[Page]:
    """A fresh `streamlit run app.py` with `env` (outbound requests trapped and checked none), one 1280×720 page."""
    with tb.running_app(tmp, **env) as server, tb.browser_page(browser) as page:
        page.goto(f"{server.url}/{path}")
        tb.settle(page)
        yield page


def _keys_stay_home(double: ApiDouble) -> None:
    """Every request to a preset carried that provider's key and no other."""
    own = {"nvidia": NVIDIA_KEY, "openrouter": OPENROUTER_KEY}
    for request in double.requests:
        preset = request.path.strip("/").split("/")[0]
        sent = " ".join(v for k, v in request.headers.items() if k.lower() in ("authorization", "api-key"))
        for name, key in own.items():
            assert (key in sent) == (name == preset), f"{request.path} carried {sent!r}"


@tb.explained
def test_vision_on_nvidias_90b_and_tools_on_openrouter_each_page_saying_so(
        page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    tb.open_app(page, app)
    expect(page.get_by_text(re.compile(
        r"each demo on its best host · tool calling uses Llama 3\.3 70B .*on OpenRouter, vision uses Llama 3\.2 "
        r"90B Vision on NVIDIA API catalog"))).to_be_visible()
    tb.shot(page, "hosts_home")

    tb.nav_link(page, "Tool calling").click()
    tb.settle(page)
    expect(page.get_by_role("heading", name="Tool calling with Llama 3.3 70B")).to_be_visible()
    expect(page.locator('[data-testid="stSidebar"]').get_by_text("OpenRouter", exact=True)).to_be_visible()
    tb.send_chat(page, "What is the weather in Stockholm?")
    answer = page.locator('[data-testid="stChatMessage"]').filter(has_text="Based on the tool result")
    expect(answer.get_by_text("Llama 3.3 70B on OpenRouter", exact=False)).to_be_visible()
    tb.settle(page)
    tools_requests = [r for r in double.chat_requests if r.path.startswith("/openrouter/")]
    assert tools_requests and not [r for r in double.chat_requests if r.path.startswith("/nvidia/")]
    tb.shot(page, "hosts_tools")

    tb.nav_link(page, "Vision").click()
    tb.settle(page)
    expect(page.get_by_role("heading", name="Vision with Llama 3.2 90B Vision")).to_be_visible()
    expect(page.get_by_text("the model this page was built for", exact=False)).to_be_visible()
    pick_sample(page, "shopfront")
    tb.send_chat(page, "What does the sign say?")
    vision = page.get_by_role("group", name="Chat message from assistant").last
    expect(vision).to_contain_text("Llama 3.2 90B Vision on NVIDIA API catalog", timeout=20_000)
    vision_requests = [r for r in double.chat_requests if r.path.startswith("/nvidia/")]
    assert [r.body["model"] for r in vision_requests] == ["meta/llama-3.2-90b-vision-instruct"]
    _keys_stay_home(double)
    tb.assert_healthy(page)
    html = page.content()
    assert NVIDIA_KEY not in html and OPENROUTER_KEY not in html
    tb.shot(page, "hosts_vision")


@tb.explained
def test_an_ollama_that_cannot_run_llama_3_2_vision_gets_no_such_request_and_the_page_says_why(
        browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> None:
    with ApiDouble() as d:
        d.follow_ollama_version = True  # Ollama 0.34.1: llama3.2-vision answers 500 'mllama'
        with app_page(browser, tmp_path_factory.mktemp("streamlit-ollama"), "vision", MODELS_PROVIDER="ollama",
                      MODELS_ENDPOINT=d.endpoint_for("ollama")) as page:
            expect(page.get_by_role("heading", level=1)).to_contain_text("Vision: no vision model here")
            expect(page.get_by_text("can't run Llama 3.2 Vision", exact=False).first).to_be_visible()
            expect(page.get_by_text("llama4:scout", exact=False).first).to_be_visible()
            tb.shot(page, "hosts_ollama_no_mllama")
        assert not [r for r in d.chat_requests if "llama3.2-vision" in str(r.body.get("model"))]


@tb.explained
def test_a_llama_4_model_calls_two_tools_in_one_reply_and_answers_with_both(
        browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> None:
    with ApiDouble() as d, StubServer() as stub, app_page(
            browser, tmp_path_factory.mktemp("streamlit-llama4"), "tool_calling", **stub.env(),
            MODELS_PROVIDER="custom", MODELS_ENDPOINT=d.endpoint, TOOLS_MODEL="meta-llama/llama-4-maverick") as page:
        expect(page.get_by_role("heading", name="Tool calling with Llama 4 Maverick")).to_be_visible()
        for name in ("Current weather (Open-Meteo)", "Local time (offline)"):
            if not page.get_by_role("checkbox", name=name).is_checked():
                page.get_by_text(name, exact=True).click()  # the label: Streamlit's box sits under it
                tb.settle(page)
            expect(page.get_by_role("checkbox", name=name)).to_be_checked()
        tb.send_chat(page, "What's the weather and the local time in Tokyo?")
        answer = page.locator('[data-testid="stChatMessage"]').filter(has_text="Based on the tool results")
        expect(answer.get_by_text("Based on the tool results", exact=False)).to_be_visible(timeout=20_000)
        tb.settle(page)
        expect(answer.get_by_text("decided to call get_weather", exact=False)).to_be_visible()
        expect(answer.get_by_text("decided to call get_local_time", exact=False)).to_be_visible()
        assert stub.requests_to("forecast"), "the weather tool ran against the stub"
        second = d.chat_requests[-1].body["messages"]
        assert len([m for m in second if m.get("role") == "tool"]) == 2  # both results went back at once
        tb.assert_healthy(page)
        tb.shot(page, "hosts_llama4_two_calls")


@tb.explained
def test_the_sidebar_moves_one_page_to_another_host_and_leaves_the_other_page_alone(
        page: Page, app: tb.AppServer) -> None:
    page.goto(f"{app.url}/vision")
    tb.settle(page)
    expect(page.get_by_role("heading", name="Vision with Llama 3.2 90B Vision")).to_be_visible()
    sidebar = page.locator('[data-testid="stSidebar"]')
    picker = sidebar.locator('[data-testid="stSelectbox"]').filter(has_text="Host for this page")
    picker.get_by_role("combobox").click()
    expect(page.get_by_role("option", name="Best: NVIDIA API catalog")).to_be_visible()
    page.get_by_role("option", name="OpenRouter").click()
    tb.settle(page)
    expect(page.get_by_role("heading", name="Vision with Llama 3.2 11B Vision")).to_be_visible()
    expect(sidebar).to_contain_text("OpenRouter")
    tb.nav_link(page, "Tool calling").click()
    tb.settle(page)
    expect(page.get_by_role("heading", name="Tool calling with Llama 3.3 70B")).to_be_visible()
    tb.nav_link(page, "Vision").click()
    tb.settle(page)
    expect(page.get_by_role("heading", name="Vision with Llama 3.2 11B Vision")).to_be_visible()  # kept
