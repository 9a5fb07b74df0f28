"""Issue 19: a turn ends even when a server sends keep-alives forever; a 1 MB question is refused before sending.

Against the API double's "heartbeat" mode (`: keep-alive` lines, `data: {"choices":[]}` chunks and deltas without
content, every 0.2 s, forever): the read timeout never fires there, so only the app's own deadlines end the turn.
Deadlines are short here: `Settings.timeout_s` (the no-progress limit) 1 s, a turn or request limit of 1 s.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace
from typing import Any, Iterator

import pytest

from lib import client
from lib.hosts.budget import MAX_QUESTION_CHARS, check_question
from lib.hosts.config import load_settings
from lib.answers.cache import DEDUPE
from lib.hosts.errors import ErrorKind, QuestionTooLong, StreamDeadline, explain
from lib.tool_calling.loop import Done, Waiting, run_turn
from lib.vision.answer import VisionAnswer
from tests.api_double import ApiDouble, Reply
from tests.conftest import TEST_TOKEN
from tests.stubs import StubServer

MSG = [{"role": "user", "content": "Hello"}]
MODEL = "meta/Meta-Llama-3.1-405B-Instruct"
TODAY = dt.date(2026, 11, 26)
CALL = '<|python_tag|>brave_search.call(query="Stockholm weather")<|eom_id|>'
PNG_1PX = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
           "AAAABJRU5ErkJggg==")
LONG_ANSWER = " ".join(f"word{i}" for i in range(60))  # 60 pieces: 6 s at 0.1 s a piece


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as s:
        yield s


@pytest.fixture
def quick(settings):
    """The test settings with a 1 s no-progress limit (REQUEST_TIMEOUT_S=1)."""
    return replace(settings, timeout_s=1.0)


def _hung_up(double: ApiDouble, n: int = 1, within_s: float = 2.0) -> list[str]:
    """The double's disconnect log once it has `n` entries (or after `within_s`)."""
    deadline = time.monotonic() + within_s
    while len(double.disconnects) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return list(double.disconnects)


def _read(stream: Any) -> BaseException:
    with pytest.raises(Exception) as info:
        for _ in stream:
            pass
    return info.value


# The client: every chunk is checked, keep-alives included ------------------------------------------------------------


def test_keepalives_and_empty_chunks_forever_end_at_the_no_progress_limit_and_hang_up(double: ApiDouble, quick) -> None:
    double.queue(Reply(stream_mode="heartbeat"))
    s = client.stream(quick, "m", MSG)
    started = time.monotonic()
    exc = _read(s)
    elapsed = time.monotonic() - started
    assert isinstance(exc, StreamDeadline) and exc.reason == "no_progress"
    assert 0.9 < elapsed < 2.5, f"took {elapsed:.1f} s"
    assert double.heartbeats >= 3, "the bytes kept coming: the read timeout alone would never have fired"
    err = explain(exc)
    assert err.kind is ErrorKind.NO_PROGRESS and err.retry_helps
    assert "kept the connection open for 1 s without sending any text; stopped waiting" in err.message
    assert s.text == "" and not s.done and s.sent
    assert _hung_up(double) == ["m"], "the server sees the client leave (a real one stops generating)"


def test_text_then_keepalives_keeps_the_text_and_says_no_more_arrived(double: ApiDouble, quick) -> None:
    double.queue(Reply(text="The answer begins here", stream_mode="heartbeat"))
    s = client.stream(quick, "m", MSG)
    err = explain(_read(s))
    assert s.text == "The answer begins here"
    assert err.kind is ErrorKind.NO_PROGRESS
    assert "without sending any more text" in err.message and "What arrived is kept" in err.message
    assert _hung_up(double) == ["m"]


def test_steady_text_still_ends_at_the_request_deadline(double: ApiDouble, quick,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "REQUEST_DEADLINE_S", 1.0)
    assert client.request_deadline_s(quick) == 2.0  # never under twice the no-progress limit (1 s here)
    double.queue(Reply(text=LONG_ANSWER, chunk_delay_s=0.1))
    s = client.stream(quick, "m", MSG)
    started = time.monotonic()
    exc = _read(s)
    assert 1.9 < time.monotonic() - started < 3.5
    assert isinstance(exc, StreamDeadline) and exc.reason == "request"
    err = explain(exc)
    assert err.kind is ErrorKind.DEADLINE and err.retry_helps
    assert "still answering after 2 s" in err.message and "What arrived is kept" in err.message
    assert s.text.startswith("word0 word1") and s.text != LONG_ANSWER
    assert _hung_up(double) == ["m"]


def test_default_deadlines_and_their_floors(settings) -> None:
    """10 min a request and 15 min a question by default; a REQUEST_TIMEOUT_S raised for a slow host raises both."""
    default = replace(settings, timeout_s=120.0)
    assert (client.request_deadline_s(default), client.turn_deadline_s(default)) == (600.0, 900.0)
    slow_host = replace(settings, timeout_s=900.0)
    assert (client.request_deadline_s(slow_host), client.turn_deadline_s(slow_host)) == (1800.0, 1800.0)


def test_a_steady_answer_within_the_limits_is_untouched(double: ApiDouble, quick) -> None:
    """Pieces 0.3 s apart with a 1 s no-progress limit: text is progress, the answer arrives whole."""
    double.queue(Reply(text="one two three four five six", chunk_delay_s=0.3))
    assert "".join(client.stream(quick, "m", MSG)) == "one two three four five six"
    assert double.disconnects == []


def test_a_stream_opened_after_the_turns_deadline_sends_nothing(double: ApiDouble, settings) -> None:
    past = time.monotonic() - 1
    exc = _read(client.under_deadline(client.stream(settings, "m", MSG), past, 30.0))
    assert isinstance(exc, StreamDeadline) and exc.reason == "turn"
    assert explain(exc).kind is ErrorKind.DEADLINE and "more than 30 s in all" in explain(exc).message
    assert double.chat_requests == []


def test_the_turns_deadline_holds_only_while_an_item_is_fetched() -> None:
    seen: list[Any] = []

    def items() -> Iterator[int]:
        seen.append(client._TURN_DEADLINE.get())
        yield 1
        seen.append(client._TURN_DEADLINE.get())
        yield 2

    for _ in client.under_deadline(items(), 123.0, 9.0):
        assert client._TURN_DEADLINE.get() is None  # the consumer's code runs without it
    assert seen == [(123.0, 9.0), (123.0, 9.0)]
    assert client._TURN_DEADLINE.get() is None


# The tool loop: a turn ends, says why, caches nothing -----------------------------------------------------------------


def _turn(settings, stub: StubServer, question: str, tools=("brave_search",), **kw):
    events = list(run_turn(settings, MODEL, [], question, list(tools), stub.tool_config(timeout_s=3), today=TODAY,
                           **kw))
    assert isinstance(events[-1], Done)
    return events[-1].turn, events


def test_a_tool_turn_against_keepalives_forever_ends_with_a_clear_error(double: ApiDouble, quick,
                                                                        stub: StubServer) -> None:
    DEDUPE.clear()
    double.queue(Reply(stream_mode="heartbeat"))
    started = time.monotonic()
    turn, _ = _turn(quick, stub, "What is the weather in Stockholm?", open_stream=DEDUPE.chat_stream)
    assert time.monotonic() - started < 3.0
    assert turn.error is not None and turn.error.kind is ErrorKind.NO_PROGRESS
    assert turn.error.title == "No answer is arriving" and turn.error.retry_helps  # the page offers Retry
    assert "The server kept the connection open for 1 s without sending any text; stopped waiting." in \
        turn.error.message
    assert turn.requests == 1 and turn.answer == ""
    assert _hung_up(double) == [MODEL]
    assert len(DEDUPE.store) == 0, "an answer that never came is not cached"


def test_a_partial_answer_cut_by_the_deadline_is_kept_but_never_replayed(double: ApiDouble, quick,
                                                                         stub: StubServer) -> None:
    DEDUPE.clear()
    double.queue(Reply(text="Stockholm is cloudy and", stream_mode="heartbeat"), Reply(text="Stockholm: 3 °C."))
    turn, _ = _turn(quick, stub, "How is Stockholm?", tools=(), open_stream=DEDUPE.chat_stream)
    assert turn.error is not None and turn.error.kind is ErrorKind.NO_PROGRESS
    assert turn.answer == "Stockholm is cloudy and"
    assert len(DEDUPE.store) == 0
    again, _ = _turn(quick, stub, "How is Stockholm?", tools=(), open_stream=DEDUPE.chat_stream)
    assert again.error is None and again.answer == "Stockholm: 3 °C." and again.cached == ""
    assert len(double.chat_requests) == 2


def test_the_turns_deadline_covers_every_round_and_tool(double: ApiDouble, settings, stub: StubServer) -> None:
    """The first reply asks for a tool that takes 1.2 s; the turn may take 1 s: no second request goes out."""
    from lib.tool_calling.loop import _run_tool

    def slow_tool(*args: Any) -> Any:
        time.sleep(1.2)
        return _run_tool(*args)

    double.queue(Reply(text=CALL), Reply(text="never asked for"))
    turn, events = _turn(settings, stub, "What is the weather in Stockholm?", run_tool=slow_tool, deadline_s=1.0)
    assert turn.error is not None and turn.error.kind is ErrorKind.DEADLINE
    assert turn.error.title == "This question took too long" and "more than 1 s in all" in turn.error.message
    assert len(double.chat_requests) == 1 and len(turn.steps) == 1
    assert sum(isinstance(e, Waiting) for e in events) == 1


def test_the_turns_deadline_ends_a_stream_that_keeps_sending_text(double: ApiDouble, settings,
                                                                  stub: StubServer) -> None:
    double.queue(Reply(text=LONG_ANSWER, chunk_delay_s=0.1))
    started = time.monotonic()
    turn, _ = _turn(settings, stub, "Tell me a long story.", tools=(), deadline_s=1.0)
    assert time.monotonic() - started < 2.5
    assert turn.error is not None and turn.error.kind is ErrorKind.DEADLINE
    assert turn.answer.startswith("word0") and turn.answer != LONG_ANSWER
    assert "What arrived is kept" in turn.error.message
    assert _hung_up(double) == [MODEL]


def test_a_turn_in_a_ticking_worker_ends_too(double: ApiDouble, quick, stub: StubServer) -> None:
    """As the page runs it: in `ticking()`'s worker thread."""
    from lib.common.ticking import Tick, ticking

    double.queue(Reply(stream_mode="heartbeat"))
    events = [e for e in ticking(run_turn(quick, MODEL, [], "Hi?", [], stub.tool_config(timeout_s=3), today=TODAY),
                                 interval_s=0.2) if not isinstance(e, Tick)]
    assert isinstance(events[-1], Done) and events[-1].turn.error.kind is ErrorKind.NO_PROGRESS
    assert _hung_up(double) == [MODEL]


# The vision answer ------------------------------------------------------------------------------------------------


def test_a_vision_answer_against_keepalives_forever_ends_and_is_not_cached(double: ApiDouble, quick) -> None:
    DEDUPE.clear()
    double.queue(Reply(stream_mode="heartbeat"))
    answer = VisionAnswer(quick, "m", PNG_1PX, [("user", "Describe it.")], open_stream=DEDUPE.chat_stream)
    started = time.monotonic()
    exc = _read(answer)
    assert time.monotonic() - started < 3.0
    err = explain(exc)  # what the page shows, with Retry
    assert err.kind is ErrorKind.NO_PROGRESS and err.retry_helps
    assert "without sending any text" in err.message
    assert answer.requests == 1 and len(DEDUPE.store) == 0
    assert _hung_up(double) == ["m"]


# Huge questions: refused before anything is sent --------------------------------------------------------------------


def test_check_question_allows_the_limit_and_refuses_one_more() -> None:
    check_question("x" * MAX_QUESTION_CHARS)
    with pytest.raises(QuestionTooLong) as info:
        check_question("x" * (MAX_QUESTION_CHARS + 1))
    assert (info.value.length, info.value.limit) == (MAX_QUESTION_CHARS + 1, MAX_QUESTION_CHARS)


def test_a_1mb_question_in_the_tool_chat_is_refused_before_any_request(double: ApiDouble, settings,
                                                                        stub: StubServer) -> None:
    turn, events = _turn(settings, stub, "x" * 1_000_000)
    assert [type(e) for e in events] == [Done]
    assert turn.error is not None and turn.error.kind is ErrorKind.QUESTION_TOO_LONG
    assert "This question is 1,000,000 characters; the limit is 32,000." in turn.error.message
    assert "Nothing was sent" in turn.error.message and not turn.error.retry_helps
    assert turn.requests == 0 and double.requests == []


def test_a_1mb_vision_follow_up_is_refused_before_any_request(double: ApiDouble, settings) -> None:
    turns = [("user", "Describe it."), ("assistant", "A cat."), ("user", "y" * 1_000_000)]
    answer = VisionAnswer(settings, "m", PNG_1PX, turns)
    err = explain(_read(answer))
    assert err.kind is ErrorKind.QUESTION_TOO_LONG and not err.retry_helps
    assert "This question is 1,000,000 characters; the limit is 32,000." in err.message
    assert answer.requests == 0 and double.requests == []


def test_a_long_but_allowed_question_over_the_context_takes_the_budget_path(double: ApiDouble,
                                                                             stub: StubServer) -> None:
    """15,000 characters (under the limit) to a vLLM server with a 2048-token context: sent, refused by the server
    as too long (CONTEXT_TOO_LONG, no Retry), the same way the budget tests expect."""
    double.contexts["vllm"] = 2048
    on_vllm = load_settings(environ={"MODELS_PROVIDER": "custom", "MODELS_ENDPOINT": double.endpoint_for("vllm"),
                                     "MODELS_API_KEY": TEST_TOKEN}, probe=lambda url: False)
    question = "word " * 3000
    check_question(question)
    events = list(run_turn(on_vllm, "meta-llama/Llama-3.1-405B-Instruct-FP8", [], question, [],
                           stub.tool_config(timeout_s=3), today=TODAY, context_tokens=2048))
    turn = events[-1].turn
    assert turn.error is not None and turn.error.kind is ErrorKind.CONTEXT_TOO_LONG
    assert not turn.error.retry_helps and "2048" in turn.error.message
    assert 1 <= len(double.chat_requests) <= 2  # the request, at most one refitted resend
    answer = VisionAnswer(on_vllm, "meta-llama/Llama-3.2-90B-Vision-Instruct", PNG_1PX, [("user", question)],
                          context_tokens=2048)
    assert explain(_read(answer)).kind is ErrorKind.CONTEXT_TOO_LONG


# What a person sees on the pages (AppTest) ----------------------------------------------------------------------------


def _page(double: ApiDouble, page: str, timeout_s: str = "5", stub: StubServer | None = None):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    client.clear_models_cache()
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=60)
    at.secrets["MODELS_PROVIDER"] = "custom"
    at.secrets["MODELS_API_KEY"] = TEST_TOKEN
    at.secrets["MODELS_ENDPOINT"] = double.endpoint
    at.secrets["REQUEST_TIMEOUT_S"] = timeout_s
    for k, v in (stub.env() if stub else {}).items():
        at.secrets[k] = v
    at.run()
    at.switch_page(page).run()
    return at


def test_the_tool_page_cuts_a_1mb_paste_at_the_box_limit(double: ApiDouble, stub: StubServer) -> None:
    """The chat box stops at MAX_QUESTION_CHARS (what the browser does with a pasted megabyte): never 1 MB sent."""
    at = _page(double, "pages/tool_calling.py", stub=stub)
    double.queue(Reply(text="That was long."))
    at.chat_input[0].set_value("z" * 1_000_000).run()
    assert not at.exception
    sent = [m["content"] for r in double.chat_requests for m in r.body["messages"] if m["role"] == "user"]
    assert sent and max(len(str(c)) for c in sent) <= 32_000, "the question was cut at the box, not sent whole"


def test_the_tool_page_stops_waiting_on_keepalives_and_offers_retry(double: ApiDouble, stub: StubServer) -> None:
    at = _page(double, "pages/tool_calling.py", timeout_s="1", stub=stub)
    double.queue(Reply(stream_mode="heartbeat"))
    started = time.monotonic()
    at.chat_input[0].set_value("Anything new?").run()
    assert time.monotonic() - started < 10
    assert not at.exception
    shown = [e.value for e in at.error]
    assert any("No answer is arriving" in v and "without sending any text; stopped waiting" in v for v in shown), shown
    assert [b for b in at.button if b.label == "Retry this question"]
    assert _hung_up(double) == [double.chat_requests[0].body["model"]]


def test_the_vision_page_cuts_a_1mb_follow_up_and_stops_waiting_on_keepalives(double: ApiDouble) -> None:
    import io

    from PIL import Image

    at = _page(double, "pages/vision.py", timeout_s="1")
    photo = io.BytesIO()
    Image.new("RGB", (320, 240), (20, 90, 200)).save(photo, "JPEG")
    at.file_uploader(key="vision_upload").set_value(("photo.jpg", photo.getvalue(), "image/jpeg")).run()
    double.queue(Reply(text="Long indeed."))
    at.chat_input(key="vision_chat").set_value("w" * 1_000_000).run()
    assert not at.exception
    texts = [part.get("text", "") for r in double.chat_requests for m in r.body["messages"] if m["role"] == "user"
             for part in (m["content"] if isinstance(m["content"], list) else [{"text": m["content"]}])]
    assert texts and max(len(t) for t in texts) <= 32_000, "the follow-up was cut at the box, not sent whole"
    before = len(double.chat_requests)
    double.queue(Reply(stream_mode="heartbeat"))
    at.chat_input(key="vision_chat").set_value("What is it?").run()
    assert not at.exception
    assert any("without sending any text; stopped waiting" in e.value for e in at.error)
    assert [b for b in at.button if b.label == "Retry"] and len(double.chat_requests) == before + 1
    assert len(_hung_up(double)) == 1
