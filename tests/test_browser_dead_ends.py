"""One clear way forward at every dead end (issue 20), in a real browser.

A venue without internet: web search can't reach Brave. The model asks for a search every time, as a model does when
its tool keeps failing. The app calls the tool twice, not a third time, sends no third model request, and says what
failed, why in words a presenter can act on, and offers "Retry this question".

The app's outbound HTTP goes to the local proxy trap (tests/test_browser.py), which refuses every connection: that is
the "no network" here, and the trap's log counts the tool's attempts (nothing leaves the machine).
"""

from __future__ import annotations

import re
from typing import Any, Iterator

import pytest

from tests import test_browser as tb  # skips this module too when Chromium or Playwright is missing

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from tests.api_double import ApiDouble, Reply  # noqa: E402
from tests.stubs import STUB_BRAVE_KEY, StubServer  # noqa: E402
from tests.test_browser import browser  # noqa: E402,F401 - the module-scoped Chromium fixture, shared

pytestmark = pytest.mark.browser

KEY = "sk-browser-dead-ends-custom-key"
BRAVE_HOST = "api.search.brave.com:443"
QUESTION = "Search the web: who won the 2024 Nobel Prize in Physics?"


def always_searching(body: dict[str, Any]) -> Reply:
    """A model that answers every request with another web search (a new query each round)."""
    n = len(body.get("messages") or [])
    return Reply(text=f'<|python_tag|>brave_search.call(query="Nobel Prize Physics 2024 winner {n}")<|eom_id|>')


@pytest.fixture(scope="module")
def double() -> Iterator[ApiDouble]:
    with ApiDouble(responder=always_searching) as d:
        yield d


@pytest.fixture(scope="module")
def trap() -> Iterator[tb.ProxyTrap]:
    t = tb.ProxyTrap()
    yield t
    t.close()


@pytest.fixture(scope="module")
def app(double: ApiDouble, trap: tb.ProxyTrap, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tb.AppServer]:
    with StubServer() as stub:
        env = {**stub.env(), "BRAVE_API_KEY": STUB_BRAVE_KEY}
        env.pop("BRAVE_SEARCH_URL")  # Brave's real address: through the trap, which refuses it (no network)
        server = tb.start_app(tb.app_env(trap, **env, MODELS_PROVIDER="custom", MODELS_ENDPOINT=double.endpoint,
                                         MODELS_API_KEY=KEY), tmp_path_factory.mktemp("streamlit-dead-ends"))
        try:
            yield server
        finally:
            server.stop()
    others = [line for line in trap.lines if BRAVE_HOST not in line]
    assert others == [], f"the app tried to reach something else than Brave Search: {others}"


@pytest.fixture
def page(browser: Browser, app: tb.AppServer) -> Iterator[Page]:
    with tb.browser_page(browser, height=900) as pg:
        yield pg


def brave_attempts(trap: tb.ProxyTrap) -> int:
    return sum(BRAVE_HOST in line for line in trap.lines)


@tb.explained
def test_a_search_failing_twice_stops_says_why_and_offers_retry(page: Page, app: tb.AppServer, double: ApiDouble,
                                                              trap: tb.ProxyTrap) -> None:
    tb.open_app(page, app, "tool_calling")
    expect(page.get_by_role("checkbox", name="Web search (Brave)")).to_be_checked()
    requests_before, searches_before = len(double.chat_requests), brave_attempts(trap)

    tb.send_chat(page, QUESTION)
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="Web search failed twice").first
    expect(alert).to_be_visible(timeout=15_000)
    tb.settle(page)
    page.wait_for_timeout(1_000)  # time for a third request, were one on its way

    # Two tool calls, two model requests: no third of either.
    assert len(double.chat_requests) - requests_before == 2
    assert brave_attempts(trap) - searches_before == 2
    answer = page.locator('[data-testid="stChatMessage"]').filter(has_text="Web search failed twice")
    expect(answer.get_by_text("decided to call brave_search(", exact=False)).to_have_count(2)
    expect(answer.get_by_text(re.compile(r"Web search \(Brave\) failed after [\d.]+ s \(Brave Search API\): could "
                                         r"not connect to Brave Search"))).to_have_count(2)
    # What failed, why (in words a presenter can act on), and the way forward.
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="Web search failed twice")
    expect(alert).to_have_count(1)
    expect(alert).to_contain_text("This machine can't reach the internet to use Brave Search (check the venue Wi-Fi")
    expect(alert).to_contain_text("The model was not asked again")
    expect(alert).to_contain_text("Retry this question")
    expect(answer).to_contain_text("2 model requests")
    expect(answer).to_contain_text("2 tool calls")
    expect(answer).not_to_contain_text("Stopped after")
    retry = page.get_by_role("button", name="Retry this question")
    expect(retry).to_be_visible()
    tb.assert_healthy(page)
    tb.shot(page, "tool_dead_end_no_network")

    # Retry asks the same question again: still no network, so it ends the same way after two more tries of the tool
    # (the model's identical replies may come from the app's replay cache: no quota, and never a third request).
    retry.click()
    expect(page.get_by_role("button", name="Retry this question")).to_be_visible(timeout=15_000)
    tb.settle(page)
    page.wait_for_timeout(1_000)
    assert brave_attempts(trap) - searches_before == 4
    assert len(double.chat_requests) - requests_before <= 4
    expect(page.locator('[data-testid="stAlert"]').filter(has_text="Web search failed twice")).to_have_count(1)
    expect(page.get_by_role("group", name="Chat message from user").filter(has_text=QUESTION)).to_have_count(1)
    tb.assert_healthy(page)


@tb.explained
def test_a_request_stopped_before_its_answer_still_counts_as_one(page: Page, app: tb.AppServer,
                                                                double: ApiDouble) -> None:
    """The footer of a turn stopped while the host was still thinking counts the request it sent: 1, not 0."""
    tb.open_app(page, app, "tool_calling")
    before = len(double.chat_requests)
    double.queue(Reply(text="A slow answer.", delay_s=4.0))
    tb.send_chat(page, "Tell me something slowly, please")
    for _ in range(50):  # the request reached the host
        if len(double.chat_requests) > before:
            break
        page.wait_for_timeout(100)
    assert len(double.chat_requests) == before + 1
    page.locator('[data-testid="stMainBlockContainer"]').get_by_role("button", name="Stop").click()
    tb.settle(page)
    stopped = page.locator('[data-testid="stChatMessage"]').filter(has_text="Stopped before the answer was complete")
    expect(stopped).to_have_count(1)
    expect(stopped).to_contain_text("1 model request")
    expect(stopped).not_to_contain_text("0 model requests")
    expect(page.get_by_role("button", name="Retry this question")).to_be_visible()
    tb.assert_healthy(page)
