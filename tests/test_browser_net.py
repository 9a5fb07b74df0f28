"""The safety net holds on stage (issue 20): nothing is lost across page switches and reloads, presenter mode stays
on, nothing on stage speaks configuration, and the photo stays beside its answers on the projector.

The app runs against the API double on 127.0.0.1, in Chromium at 1280×720.
"""

from __future__ import annotations

import re
from typing import Iterator

import pytest

from tests import test_browser as tb  # skips this module too when Chromium or Playwright is missing

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from tests.api_double import ApiDouble, Reply  # noqa: E402
from tests.test_browser import browser, double  # noqa: E402,F401 - module-scoped Chromium and API double

pytestmark = pytest.mark.browser

KEY = "sk-or-net-test-key"
CHAT = '[data-testid="stChatMessage"]'
# Words that belong in the settings, not on a projector: setting names, addresses, file paths, upload fine print.
CONFIG_WORDS = re.compile(
    r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]*(KEY|TOKEN|ID|URL|ENDPOINT|INTERPRETER|PROVIDER|MODEL|HOST)\b|=1\b|https?://"
    r"|\b[\w.-]+/[\w./-]+\.(md|py|toml|json|txt)\b|MB per file|127\.0\.0\.1")


@pytest.fixture(scope="module")
def app(double: ApiDouble, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tb.AppServer]:
    with tb.running_app(tmp_path_factory.mktemp("streamlit-net"), MODELS_PROVIDER="openrouter",
                        OPENROUTER_API_KEY=KEY, OPENROUTER_BASE_URL=double.endpoint_for("openrouter")) as server:
        yield server


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with tb.browser_page(browser) as pg:
        yield pg


def _nav(page: Page, label: str) -> None:
    page.locator('[data-testid="stTopNavLink"]').filter(has_text=label).click()
    tb.settle(page)


def _stage_text(page: Page) -> str:
    """What the room can read: the page's visible text (the sidebar's boxes closed, as on stage)."""
    return page.evaluate("() => document.querySelector('[data-testid=\"stApp\"]').innerText")


def test_a_reload_after_switching_pages_brings_both_conversations_back_in_presenter_mode(
        page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    page.goto(f"{app.url}/tool_calling?present=1")
    tb.settle(page)
    double.queue(Reply(text="Llamas hum to each other."))
    tb.send_chat(page, "Do llamas make sounds?")
    expect(page.locator(CHAT).filter(has_text="Llamas hum to each other.")).to_have_count(1)
    tb.settle(page)
    _nav(page, "Vision")
    double.queue(Reply(text="A tabby cat looking at the camera."))
    page.locator(".st-key-vision_scenario_cat button").click()
    expect(page.locator(CHAT).filter(has_text="A tabby cat looking at the camera.")).to_have_count(1)
    tb.settle(page)
    _nav(page, "Tool calling")
    assert "present=1" in page.url and "s=" in page.url, page.url
    page.reload()
    tb.settle(page)
    # Presenter mode's 20 px text after the reload. Waited for, as a user's eye would: Streamlit puts style-only
    # st.html in its event container, whose stylesheet can land a frame after the messages on a loaded machine.
    expect(page.locator(CHAT).filter(has_text="Llamas hum").locator("p").first).to_have_css("font-size", "20px")
    expect(page.locator(CHAT).filter(has_text="Llamas hum to each other.")).to_have_count(1)
    _nav(page, "Vision")
    expect(page.locator(CHAT).filter(has_text="A tabby cat looking at the camera.")).to_have_count(1)
    expect(page.locator(".st-key-vision_image_area img")).to_be_visible()  # the photo too
    assert "present=1" in page.url
    tb.shot(page, "net_vision_after_reload")


def test_nothing_on_stage_speaks_configuration(page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    for path in ("", "tool_calling", "vision"):
        page.goto(f"{app.url}/{path}?present=1")
        tb.settle(page)
        found = CONFIG_WORDS.findall(_stage_text(page))
        assert not found, f"/{path} on stage shows {found}"
        if path:  # a demo page without a conversation opens at its top, not scrolled down to its chat box
            page.wait_for_timeout(1_500)
            expect(page.locator("h1").first).to_be_in_viewport()
        if path == "vision":
            page.locator('[data-testid="stButtonGroup"] button').filter(has_text="Sample").first.click()
            tb.settle(page)
        cut = page.evaluate("""() => [...document.body.querySelectorAll('*')].filter(e =>
            !e.closest('[data-testid="stSidebar"]') && e.textContent.trim() && e.offsetParent !== null
            && getComputedStyle(e).textOverflow === 'ellipsis' && e.scrollWidth > e.clientWidth + 1
            ).map(e => e.textContent.trim())""")
        assert not cut, f"/{path} on stage cuts labels short: {cut}"
    double.queue(Reply(text="The sign says: Bakery."))
    page.locator(".st-key-vision_scenario_shopfront button").click()
    expect(page.locator(CHAT).filter(has_text="The sign says: Bakery.")).to_have_count(1)
    tb.settle(page)
    text = _stage_text(page)
    assert not CONFIG_WORDS.search(text), CONFIG_WORDS.findall(text)
    page.goto(f"{app.url}/vision")  # outside presenter mode the details are all there
    tb.settle(page)


def test_on_the_projector_the_photo_stays_beside_a_follow_up_s_answer(
        page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    words = " ".join(f"word{i}" for i in range(150))
    page.goto(f"{app.url}/vision?present=1")
    tb.settle(page)
    double.queue(Reply(text="First: " + words))
    page.locator(".st-key-vision_scenario_astronaut button").click()
    expect(page.locator(CHAT).filter(has_text="First: word0")).to_have_count(1)
    tb.settle(page)
    double.queue(Reply(text="Second: " + words, chunk_delay_s=0.01))
    box = page.locator('[data-testid="stChatInput"] textarea')
    box.fill("What is the astronaut holding?")
    box.press("Enter")
    expect(page.locator(CHAT).filter(has_text="Second: word0")).to_have_count(1)
    tb.settle(page)
    page.wait_for_timeout(2_000)  # the page brings the question to the top shortly after drawing it
    question = page.locator(CHAT).filter(has_text="What is the astronaut holding?")
    photo = page.locator(".st-key-vision_image_area img")
    box_q, box_p = question.bounding_box(), photo.bounding_box()
    assert box_q and box_p
    assert 0 <= box_q["y"] <= 720 - box_q["height"], "the follow-up is on screen"
    assert box_p["y"] >= 0 and box_p["y"] + box_p["height"] / 2 <= 720, "and the photo stays in view beside it"
    expect(page.locator('[data-testid="stStatusWidget"]')).to_be_hidden()  # one Stop on stage: the page's own
    tb.shot(page, "net_vision_follow_up")


def test_new_chat_while_an_answer_runs_can_be_undone(page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    page.goto(f"{app.url}/tool_calling")
    tb.settle(page)
    double.queue(Reply(text="Alpacas are smaller than llamas."))
    tb.send_chat(page, "Alpaca or llama?")
    expect(page.locator(CHAT).filter(has_text="Alpacas are smaller")).to_have_count(1)
    tb.settle(page)
    words = " ".join(f"w{i}" for i in range(300))
    double.queue(Reply(text="Slowly: " + words, chunk_delay_s=0.05))
    tb.send_chat(page, "Tell me slowly about guanacos")
    expect(page.locator(CHAT).filter(has_text="Slowly: w0")).to_have_count(1)
    page.get_by_role("button", name=re.compile("New chat")).click()
    tb.settle(page)
    expect(page.locator(CHAT)).to_have_count(0)
    page.get_by_role("button", name=re.compile("Undo new chat")).click()
    tb.settle(page)
    expect(page.locator(CHAT).filter(has_text="Alpacas are smaller")).to_have_count(1)
    expect(page.locator(CHAT).filter(has_text="Tell me slowly about guanacos")).to_have_count(1)  # kept, stopped
    page.reload()
    tb.settle(page)
    expect(page.locator(CHAT).filter(has_text="Alpacas are smaller")).to_have_count(1)  # and saved for a reload


def test_a_connection_typed_in_the_sidebar_survives_a_reload_but_not_its_key(
        page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    page.goto(f"{app.url}/tool_calling")
    tb.settle(page)
    tb.pick_provider(page, "vLLM", double.endpoint_for("vllm"), key="sk-typed-secret-key")
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_role("textbox", name=re.compile("Tools model")).fill("my-tools-model")
    sidebar.get_by_role("textbox", name=re.compile("Tools model")).press("Enter")
    tb.settle(page)
    page.reload()
    tb.settle(page)
    expect(sidebar.get_by_text("vLLM or another server you run").first).to_be_visible()
    tb.open_connection_settings(page)
    expect(sidebar.get_by_role("textbox", name=re.compile("base url", re.I))).to_have_value(
        double.endpoint_for("vllm"))
    expect(sidebar.get_by_role("textbox", name=re.compile("Tools model"))).to_have_value("my-tools-model")
    assert "sk-typed-secret-key" not in page.content()
    expect(sidebar.get_by_role("button", name="Forget this key")).to_have_count(0)  # the key was not kept


def test_on_the_projector_a_tool_turn_s_question_and_the_start_of_its_answer_are_on_screen_together(
        page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    page.goto(f"{app.url}/tool_calling?present=1")
    tb.settle(page)
    for n in range(2):  # a conversation already longer than the screen
        double.queue(Reply(text=f"Answer {n}: " + " ".join(f"w{i}" for i in range(200))))
        tb.send_chat(page, f"Question number {n}?")
        expect(page.locator(CHAT).filter(has_text=f"Answer {n}: w0")).to_have_count(1)
        tb.settle(page)
    page.wait_for_timeout(2_000)
    question = page.locator(CHAT).filter(has_text="Question number 1?").bounding_box()
    answer = page.locator(CHAT).filter(has_text="Answer 1: w0").get_by_text("Answer 1: w0").bounding_box()
    assert question and answer
    assert 40 <= question["y"] and answer["y"] + 30 <= 720, (question, answer)
    tb.shot(page, "net_tools_question_in_view")


def test_a_reload_while_a_tool_turn_runs_keeps_its_question_with_retry(
        page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    page.goto(f"{app.url}/tool_calling")
    tb.settle(page)
    double.queue(Reply(text="Slowly: " + " ".join(f"v{i}" for i in range(400)), chunk_delay_s=0.05))
    tb.send_chat(page, "Tell me slowly about vicuñas")
    expect(page.locator(CHAT).filter(has_text="Slowly: v0")).to_have_count(1)
    page.reload()
    tb.settle(page)
    expect(page.locator(CHAT).filter(has_text="Tell me slowly about vicuñas")).to_have_count(1)
    expect(page.get_by_role("button", name=re.compile("Retry this question"))).to_be_visible()


def test_a_question_typed_right_after_the_server_restarted_is_answered_at_the_first_try(
        browser: Browser, double: ApiDouble, tmp_path) -> None:
    """The tab reconnects by itself to the restarted server (or, in a room, to another process): the question typed
    then is the new session's very first run, and used to be cleared from the box without being asked."""
    trap = tb.ProxyTrap()
    env = tb.app_env(trap, MODELS_PROVIDER="custom", MODELS_ENDPOINT=double.endpoint)
    server = tb.start_app(env, tmp_path)
    try:
        with tb.browser_page(browser) as page:
            page.goto(server.url + "/tool_calling")
            tb.settle(page)
            tb.send_chat(page, "What time is it in Tokyo right now?")
            tb.settle(page)
            server.stop()
            server = tb.AppServer(env, tmp_path / "restarted.log", port=server.port)
            server.wait_healthy()
            expect(page.locator(tb.CHAT_INPUT)).to_be_enabled(timeout=60_000)
            page.wait_for_timeout(1500)  # the tab has reconnected; nothing has run in its new session yet
            before = len(double.chat_requests)
            tb.send_chat(page, "And what time is it in Seoul?")
            # the question's message (the double's answer may quote it too)
            expect(page.locator(CHAT).filter(has_text="And what time is it in Seoul?").first).to_be_visible(
                timeout=30_000)
            tb.settle(page, 30_000)
            assert len(double.chat_requests) > before, "the first question after the restart reached the model"
            assert "Seoul" in str(double.chat_requests[-1].body["messages"])
    finally:
        server.stop()
        trap.close()
    assert trap.lines == []


def test_a_question_that_is_a_new_sessions_very_first_message_is_asked(app: tb.AppServer,
                                                                        double: ApiDouble) -> None:
    """The same moment, made exact with the browser's own protocol (bench/bench_room.py `Session`): a tab whose
    server restarted, or whose room process failed over, sends its typed question as a rerun of the conversation
    fragment before its new session has run anything. Streamlit skips a fragment the session does not know, and the
    question was gone (the box stayed disabled): it is now asked, and the page is drawn around it."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from bench.bench_room import Session, endpoint_of

    async def go() -> tuple[bool, int, str]:
        ws, page = endpoint_of(app.url + "/tool_calling")
        first, restarted = Session(ws, page), Session(ws, page)
        try:
            await first.connect()
            await first.load()  # what the tab learnt before: the chat box's id, its fragment, the page
            assert first.chat_fragment, "the chat box is drawn by the conversation fragment"
            await restarted.connect()  # a new session: nothing has run in it
            restarted.chat_id, restarted.chat_fragment = first.chat_id, first.chat_fragment
            restarted.page_hash = first.page_hash
            answer = await restarted.ask("And what time is it in Seoul?", 30, mark="Seoul")
            return answer.ok, answer.text_frames, answer.error
        finally:
            await asyncio.gather(first.close(), restarted.close())

    before = len(double.chat_requests)
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API may hold this thread's event loop
        ok, text_frames, error = pool.submit(lambda: asyncio.run(go())).result(120)
    assert ok, error
    asked = [str(r.body["messages"]) for r in double.chat_requests[before:]]
    assert any("Seoul" in m for m in asked), "the new session's first question reached the model"
    assert text_frames >= 1, "the question and its answer were drawn"


def test_a_brand_new_room_process_asks_a_question_that_is_its_very_first_message(app: tb.AppServer,
                                                                                double: ApiDouble, tmp_path) -> None:
    """A room process restarted (or a tab failing over to a fresh one): the first thing it ever receives is a tab's
    typed question, a rerun of the conversation fragment. `deploy.room` starts its processes with `deploy.serve`,
    which has ui/reconnect.py in place before any run: the question is asked. Plain `streamlit run app.py` installs
    it only when app.py first runs, so there the question is dropped (the control)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from bench.bench_room import Session, endpoint_of

    async def first_message(url: str, wait_s: float) -> tuple[bool, int]:
        ws, page = endpoint_of(app.url + "/tool_calling")
        known = Session(ws, page)  # what the tab learnt before: the chat box's id, its fragment, the page
        await known.connect()
        await known.load()
        await known.close()
        ws, page = endpoint_of(url + "/tool_calling")
        fresh = Session(ws, page)
        fresh.chat_id, fresh.chat_fragment, fresh.page_hash = known.chat_id, known.chat_fragment, known.page_hash
        await fresh.connect()
        try:
            answer = await fresh.ask("And what time is it in Seoul?", wait_s, mark="Seoul")
            return answer.ok, answer.text_frames
        finally:
            await fresh.close()

    trap = tb.ProxyTrap()
    env = tb.app_env(trap, MODELS_PROVIDER="custom", MODELS_ENDPOINT=double.endpoint)
    asked: dict[str, bool] = {}
    try:
        for name, command in (("deploy.serve", ("-m", "deploy.serve")), ("streamlit run", ("-m", "streamlit", "run"))):
            server = tb.AppServer(env, tmp_path / f"{name}.log", script="" if name == "deploy.serve" else "app.py",
                                  command=command)
            try:
                server.wait_healthy()
                before = len(double.chat_requests)
                with ThreadPoolExecutor(1) as pool:  # Playwright's sync API may hold this thread's event loop
                    # Streamlit drops the control's question at once: a few seconds tell
                    wait_s = 30.0 if name == "deploy.serve" else 6.0
                    ok, text_frames = pool.submit(lambda: asyncio.run(first_message(server.url, wait_s))).result(120)
                asked[name] = any("Seoul" in str(r.body["messages"]) for r in double.chat_requests[before:])
                if name == "deploy.serve":
                    assert ok and text_frames >= 1, "the question and its answer were drawn"
            finally:
                server.stop()
    finally:
        trap.close()
    assert asked == {"deploy.serve": True, "streamlit run": False}, asked
    assert trap.lines == []


def test_a_typed_question_takes_the_page_down_to_its_answer_as_it_streams(
        page: Page, app: tb.AppServer, double: ApiDouble) -> None:
    """The chat box is drawn by the conversation's fragment (st.bottom), where Streamlit doesn't keep the page at its
    bottom: ui/a11y.py's script does, from the question shown until the answer's run ends (1280×720, a projector)."""
    page.goto(f"{app.url}/tool_calling")
    tb.settle(page)
    words = " ".join(f"w{i}" for i in range(120))
    double.queue(Reply(text="Slow start. " + words + " The end of the llama answer.", chunk_delay_s=0.04))
    tb.send_chat(page, "Tell me slowly about vicuñas")
    streaming = page.locator(CHAT).filter(has_text="Slow start.")
    expect(streaming).to_have_count(1)
    expect(page.locator(CHAT).filter(has_text="Tell me slowly about vicuñas")).to_be_in_viewport()
    expect(streaming).to_contain_text("The end of the llama answer.", timeout=20_000)
    tb.settle(page)
    # Its footer, the answer's last line, is on screen.
    expect(streaming.get_by_text(re.compile(r"model request"))).to_be_in_viewport()
    # Scrolled up by the reader, the page stays there while the next answer streams.
    double.queue(Reply(text="Second answer. " + words + " Second end.", chunk_delay_s=0.04))
    tb.send_chat(page, "And alpacas?")
    expect(page.locator(CHAT).filter(has_text="Second answer.")).to_have_count(1)
    page.mouse.move(700, 300)
    page.mouse.wheel(0, -3000)
    expect(page.locator(CHAT).filter(has_text="Second end.")).to_have_count(1, timeout=20_000)
    tb.settle(page)
    expect(page.get_by_role("heading", name=re.compile("Tool calling with"))).to_be_in_viewport()
