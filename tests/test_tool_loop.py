"""The tool loop end to end through the API double and the tool stubs, and the tool page in AppTest."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from streamlit.testing.v1 import AppTest

from lib import client
from lib.hosts.errors import ErrorKind
from lib.tool_calling.loop import Done, Note, Turn, run_turn
from tests.api_double import ApiDouble, Reply
from tests.conftest import TEST_TOKEN
from tests.stubs import StubServer

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 26)
CALL = '<|python_tag|>brave_search.call(query="Stockholm weather")<|eom_id|>'


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as s:
        yield s


def _turn(settings, stub: StubServer, question: str, tools=("brave_search", "wolfram_alpha"), history=(), **kw) -> tuple[Turn, list[Any]]:
    events = list(run_turn(settings, "meta/Meta-Llama-3.1-405B-Instruct", list(history), question, list(tools),
                           stub.tool_config(timeout_s=3), today=TODAY, **kw))
    assert isinstance(events[-1], Done)
    return events[-1].turn, events


def test_builtin_call_runs_brave_and_the_result_reaches_the_model(double: ApiDouble, settings, stub: StubServer) -> None:
    def second(body: dict) -> Reply:
        tool_msgs = [m for m in body["messages"] if m["role"] == "tool"]
        assert tool_msgs and "Stockholm" in tool_msgs[0]["content"], "the second request carries the tool result"
        return Reply(text="It is 3 °C and cloudy in Stockholm, according to the search results.")

    double.queue(Reply(text=CALL))
    double.responder = second
    turn, events = _turn(settings, stub, "What is the weather in Stockholm?")
    assert turn.error is None
    assert turn.answer.startswith("It is 3 °C")
    assert [s.call.name for s in turn.steps] == ["brave_search"]
    assert turn.requests == 2 and turn.tokens > 0
    assert "2 model requests" in turn.summary and "1 tool call" in turn.summary
    assert turn.steps[0].call.arguments == {"query": "Stockholm weather"}
    assert turn.steps[0].result.ok and turn.steps[0].result.source == "Brave Search API"
    assert stub.requests_to("brave")[0].query["q"] == "Stockholm weather"
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("CallStarted") < kinds.index("CallFinished") < kinds.index("AnswerText")
    first = double.chat_requests[0].body["messages"]
    assert first[0]["role"] == "system"
    assert first[0]["content"].startswith("Environment: ipython\nTools: brave_search, wolfram_alpha\n")
    assert "Today Date: 26 November 2026" in first[0]["content"]
    assert "<|start_header_id|>" not in json.dumps(double.chat_requests[0].body), "no raw header tokens sent"
    second_req = double.chat_requests[1].body["messages"]
    assert second_req[-2]["role"] == "assistant" and second_req[-2]["tool_calls"][0]["function"]["name"] == "brave_search"
    assert second_req[-1]["tool_call_id"] == second_req[-2]["tool_calls"][0]["id"]


def test_call_text_never_streams_as_answer(double: ApiDouble, settings, stub: StubServer) -> None:
    double.queue(Reply(text=CALL), Reply(text="Done."))
    _, events = _turn(settings, stub, "weather?")
    shown = "".join(e.text for e in events if type(e).__name__ == "AnswerText")
    assert "brave_search.call" not in shown and "python_tag" not in shown
    assert shown == "Done."


def test_custom_json_tool_definitions_go_in_the_first_user_message(double: ApiDouble, settings, stub: StubServer) -> None:
    double.queue(Reply(text='{"type": "function", "name": "get_weather", "parameters": {"city": "Stockholm"}}'),
                 Reply(text="Stockholm: 3 °C."))
    turn, _ = _turn(settings, stub, "What is the weather in Stockholm?", tools=("get_weather",))
    first_user = double.chat_requests[0].body["messages"][1]["content"]
    assert '"name": "get_weather"' in first_user and "Question: What is the weather in Stockholm?" in first_user
    assert "Tools:" not in double.chat_requests[0].body["messages"][0]["content"]
    assert turn.steps[0].result.ok and "Stockholm" in turn.steps[0].result.content
    assert turn.answer == "Stockholm: 3 °C."


def test_tool_message_rejected_falls_back_and_is_remembered(double: ApiDouble, settings, stub: StubServer) -> None:
    def strict(body: dict) -> Reply:
        if any(m["role"] == "tool" for m in body["messages"]):
            return Reply.bad_request("Invalid message role 'tool' for this model.")
        return Reply(text="Answer from the user-message fallback.")

    double.queue(Reply(text=CALL))
    double.responder = strict
    turn, events = _turn(settings, stub, "What is the weather in Stockholm?")
    assert turn.error is None and turn.answer == "Answer from the user-message fallback."
    assert turn.return_mode == "user"
    assert sum(isinstance(e, Note) for e in events) == 2  # tool_calls → tool_text → user
    last = double.chat_requests[-1].body["messages"]
    assert last[-1]["role"] == "user" and "Tool result from brave_search" in last[-1]["content"]
    # Next turn on the same endpoint goes straight to the mode that worked.
    before = len(double.chat_requests)
    double.queue(Reply(text=CALL))
    turn2, events2 = _turn(settings, stub, "And in Paris?", history=[turn])
    assert turn2.error is None and not any(isinstance(e, Note) for e in events2)
    assert len(double.chat_requests) - before == 2


def test_a_model_that_keeps_calling_tools_is_capped(double: ApiDouble, settings, stub: StubServer) -> None:
    double.responder = lambda body: Reply(text=CALL)
    turn, events = _turn(settings, stub, "loop forever", max_rounds=3)
    assert turn.capped and len(turn.steps) == 3
    assert len(double.chat_requests) == 4
    # The turn says what happened and what to do, and the page offers Retry (retry_helps).
    err = turn.error
    assert err is not None and err.kind is ErrorKind.TOOL_LOOP and err.retry_helps
    assert err.title == "Stopped after 3 rounds of tool calls"
    assert "kept asking for tools instead of answering" in err.message and "`brave_search` ×3" in err.message
    assert "Retry this question" in err.message and "switch off the tools" in err.message
    assert not any(isinstance(e, Note) and "Stopped after" in e.text for e in events), "said once, as the error"


def test_rate_limit_mid_turn_keeps_completed_steps(double: ApiDouble, settings, stub: StubServer) -> None:
    double.queue(Reply(text=CALL), Reply.rate_limit_minute(30))
    turn, _ = _turn(settings, stub, "What is the weather in Stockholm?")
    assert turn.error is not None and turn.error.kind is ErrorKind.RATE_LIMIT_MINUTE
    assert len(turn.steps) == 1 and turn.steps[0].result.ok


def test_unknown_or_disabled_tool_is_refused_to_the_model(double: ApiDouble, settings, stub: StubServer) -> None:
    double.queue(Reply(text='{"name": "launch_rockets", "parameters": {}}'), Reply(text="I can't do that."))
    turn, _ = _turn(settings, stub, "launch", tools=("get_weather",))
    result = turn.steps[0].result
    assert not result.ok and "unknown tool 'launch_rockets'" in result.content
    tool_msg = [m for m in double.chat_requests[1].body["messages"] if m["role"] == "tool"][0]
    assert "unknown tool" in tool_msg["content"]


def test_wolfram_without_app_id_uses_sympy_fallback(double: ApiDouble, settings) -> None:
    from lib import tools

    double.queue(Reply(text='<|python_tag|>wolfram_alpha.call(query="integral of x^2 sin x")<|eom_id|>'),
                 Reply(text="The integral is -x²cos x + 2x sin x + 2cos x + C."))
    events = list(run_turn(settings, "m", [], "What is the integral of x^2 sin x?", ["wolfram_alpha"],
                           tools.ToolConfig(timeout_s=10), today=TODAY))
    turn = events[-1].turn
    r = turn.steps[0].result
    assert r.ok and r.fallback and "SymPy" in r.source
    assert "cos(x)" in r.content


def _app(double: ApiDouble, stub: StubServer) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets["MODELS_PROVIDER"] = "custom"
    at.secrets["MODELS_API_KEY"] = TEST_TOKEN
    at.secrets["MODELS_ENDPOINT"] = double.endpoint
    for k, v in stub.env().items():
        at.secrets[k] = v
    at.run()
    at.switch_page("pages/tool_calling.py").run()
    return at


def test_page_shows_call_result_and_answer_and_keeps_history(double: ApiDouble, stub: StubServer) -> None:
    client.clear_models_cache()
    double.queue(Reply(text=CALL), Reply(text="Cloudy and 3 °C in Stockholm."))
    at = _app(double, stub)
    at.chat_input[0].set_value("What is the weather in Stockholm?").run()
    assert not at.exception
    text = [m.value for m in at.markdown]
    decided = [i for i, v in enumerate(text) if "decided to call `brave_search(query=" in v]
    ran = [i for i, v in enumerate(text) if v.startswith("**The app ran Web search (Brave):**") and "Brave Search API" in v]
    answer = [i for i, v in enumerate(text) if "Cloudy and 3 °C in Stockholm." in v]
    assert decided and ran and answer, text
    assert decided[0] < ran[0] < answer[0], "the timeline reads call → run → answer"
    assert "Llama 3.1 405B decided to call" in text[decided[0]]
    assert any(e.label.startswith("What the model sees") for e in at.expander)
    assert any(e.label.startswith("View code") for e in at.expander)
    closed = "\n".join(c.value for c in at.code)
    assert "<|start_header_id|>" not in closed and "os.environ" not in closed, "closed raw views send nothing"
    # Opening them (each reruns the page) shows the exchange in Llama tokens and the request as Python.
    at.session_state["tool_raw_prompt"] = True
    at.session_state["tool_raw_code"] = True
    at.run()
    raw = "\n".join(c.value for c in at.code)
    assert "<|python_tag|>brave_search.call" in raw and "<|start_header_id|>ipython<|end_header_id|>" in raw
    assert 'os.environ["MODELS_API_KEY"]' in raw and double.endpoint in raw
    # A rerun (any click) renders the same turn from the session's history.
    at.run()
    assert any("Cloudy and 3 °C in Stockholm." in m.value for m in at.markdown)
    assert TEST_TOKEN not in raw
    # New chat clears it.
    new_chat = [b for b in at.button if b.label == "New chat"][0]
    assert not new_chat.disabled
    assert not any(b.label == "What is the weather in Stockholm?" for b in at.button), "suggestions hide"
    new_chat.click().run()
    assert not any("Cloudy and 3 °C" in m.value for m in at.markdown)


def test_page_error_mid_turn_shows_message_and_keeps_steps(double: ApiDouble, stub: StubServer) -> None:
    client.clear_models_cache()
    double.queue(Reply(text=CALL), Reply.rate_limit_minute(wait=42))
    at = _app(double, stub)
    at.chat_input[0].set_value("What is the weather in Stockholm?").run()
    assert not at.exception
    assert any("Too many requests" in e.value for e in at.error)
    assert any("decided to call `brave_search" in m.value for m in at.markdown)
    at.run()
    assert any("Too many requests" in e.value for e in at.error), "the failed turn stays visible"
    # Retry sends the same question again and replaces the failed turn with the answered one. The call that
    # already succeeded comes from the replay cache (no quota), so only the refused request goes out again.
    sent = len(double.chat_requests)
    double.queue(Reply(text="Sunny now."))
    [b for b in at.button if b.label == "Retry this question"][0].click().run()
    assert not at.exception
    assert any(m.value == "Sunny now." for m in at.markdown)
    assert not at.error
    assert len(double.chat_requests) == sent + 1
    retried = double.chat_requests[-1].body["messages"]
    assert retried[1]["content"] == "What is the weather in Stockholm?" and retried[-1]["role"] == "tool"
    assert len([t for t in at.session_state["tool_turns"]]) == 1



def test_an_earlier_turns_step_is_one_line_and_its_details_are_drawn_only_when_opened(double: ApiDouble,
                                                                            stub: StubServer) -> None:
    client.clear_models_cache()
    double.queue(Reply(text=CALL), Reply(text="Cloudy in Stockholm."),
                 Reply(text='<|python_tag|>brave_search.call(query="Oslo weather")<|eom_id|>'), Reply(text="Rain in Oslo."))
    at = _app(double, stub)
    at.chat_input[0].set_value("What is the weather in Stockholm?").run()
    at.chat_input[0].set_value("And in Oslo?").run()
    assert not at.exception

    def shown(label: str) -> list[str]:
        return [c.value for e in at.expander if e.label == label for c in e.code]

    earlier = "Raw output and what the model received"
    assert "Oslo" in "".join(shown("What the model receives")), "the latest turn's result is open"
    assert [e.label for e in at.expander].count(earlier) == 1 and not shown(earlier), "the first turn's is closed"
    first = [m.value for m in at.markdown if "decided to call `brave_search(query=\"Stockholm weather\")`" in m.value]
    assert first and "→ The app ran Web search (Brave):" in first[0], "an earlier step reads as one line"
    at.session_state["tool_received_0_0"] = True  # the person opens it: the raw output and the result are drawn
    at.run()
    assert any("brave_search.call" in c for c in shown(earlier)) and any("Stockholm" in c for c in shown(earlier))


def test_retry_drawn_in_place_right_after_the_failure_asks_again(double: ApiDouble, stub: StubServer) -> None:
    client.clear_models_cache()
    double.queue(Reply(text=CALL), Reply.rate_limit_minute(wait=42))
    at = _app(double, stub)
    at.chat_input[0].set_value("What is the weather in Stockholm?").run()  # the turn ends in place, failed
    double.queue(Reply(text="Sunny now."))
    [b for b in at.button if b.label == "Retry this question"][0].click().run()  # no other run in between
    assert not at.exception and not at.error
    assert any(m.value == "Sunny now." for m in at.markdown)
    assert len(at.session_state["tool_turns"]) == 1


def test_retry_is_not_offered_for_a_spent_daily_quota(double: ApiDouble, stub: StubServer) -> None:
    client.clear_models_cache()
    double.queue(Reply.rate_limit_day())
    at = _app(double, stub)
    at.chat_input[0].set_value("Tell me a joke").run()
    assert any("Daily limit reached" in e.value for e in at.error)
    assert not [b for b in at.button if b.label == "Retry this question"]


def test_a_long_conversation_draws_its_latest_turns_and_the_rest_on_request(double: ApiDouble,
                                                                            stub: StubServer) -> None:
    """30 turns: the page draws the latest 10 under "Show 20 earlier turns"; a click draws all 30; a new chat is
    short again, so the next long one starts with the latest 10 again."""
    client.clear_models_cache()
    at = _app(double, stub)

    def asked() -> list[str]:
        return [m.value for m in at.markdown if m.value.startswith("Question number")]

    def long_chat(n: int) -> list[Turn]:
        return [Turn(question=f"Question number {i}?", answer=f"Answer number {i}.", model="m", provider="P",
                     requests=1) for i in range(n)]

    at.session_state["tool_turns"] = long_chat(30)
    at.run()
    assert not at.exception
    assert asked() == [f"Question number {i}?" for i in range(20, 30)]
    assert any(m.value == "Answer number 29." for m in at.markdown)
    assert not any(m.value == "Answer number 19." for m in at.markdown)
    assert sum(e.label.startswith("What the model sees") for e in at.expander) == 1, "the latest turn's raw view"
    [b for b in at.button if b.label == "Show 20 earlier turns"][0].click().run()
    assert asked() == [f"Question number {i}?" for i in range(30)]
    assert not [b for b in at.button if b.label.startswith("Show ")]
    [b for b in at.button if b.label == "New chat"][0].click().run()
    assert asked() == []
    at.session_state["tool_turns"] = long_chat(11)
    at.run()
    assert asked() == [f"Question number {i}?" for i in range(1, 11)]
    assert [b.label for b in at.button if b.label.startswith("Show ")] == ["Show 1 earlier turn"]


VLLM_OVERFLOW = {"error": {"message": "This model's maximum context length is 2048 tokens. However, your prompt "
                                      "contains at least 2049 input tokens, which exceeds this limit even without any "
                                      "output tokens. Please reduce the length of the input prompt. "
                                      "(parameter=input_tokens, value=2049)",
                           "type": "BadRequestError", "param": "input_tokens", "code": 400}}  # vLLM 0.32's own body


def test_a_tool_result_that_overflows_round_two_is_not_taken_for_a_refused_format(double: ApiDouble, settings,
                                                                                  stub: StubServer) -> None:
    """vLLM's 'maximum context length' 400 after a tool call: the app says the conversation is too long (no Retry),
    it does not try other ways of returning the result (they would all overflow the same)."""
    double.queue(Reply(text=CALL), *[Reply(status=400, body=VLLM_OVERFLOW)] * 4)
    turn, events = _turn(settings, stub, "What is the weather in Stockholm?")
    assert turn.error is not None and turn.error.kind is ErrorKind.CONTEXT_TOO_LONG
    assert not turn.error.retry_helps and "2048" in turn.error.message
    notes = [e.text for e in events if isinstance(e, Note)]
    assert not any("retrying with" in n for n in notes), notes
    assert len(double.chat_requests) <= 3  # the call, the round-2 request, at most one refitted resend


def test_an_overflow_drops_more_earlier_turns_and_sends_once_more(double: ApiDouble, settings,
                                                                  stub: StubServer) -> None:
    history = [Turn(question=f"question {i} " + "word " * 200, answer="answer " * 200,
                    model="meta/Meta-Llama-3.1-405B-Instruct") for i in range(6)]
    double.queue(Reply(status=400, body=VLLM_OVERFLOW), Reply(text="Short answer."))
    turn, events = _turn(settings, stub, "And now?", tools=(), history=history, context_tokens=8000)
    assert turn.error is None and turn.answer == "Short answer."
    first, second = [len(r.body["messages"]) for r in double.chat_requests]
    assert second < first  # fewer earlier turns the second time
    assert any("too long" in e.text for e in events if isinstance(e, Note))


# Several calls in one reply (Llama 4, issue 18) ------------------------------------------------------------------

LLAMA4 = "meta-llama/llama-4-maverick"
BOTH = '[get_weather(city="Tokyo"), get_local_time(city_or_timezone="Tokyo")]'
WEATHER_AND_TIME = ("get_weather", "get_local_time")


def _llama4_turn(settings, stub: StubServer, question: str = "What's the weather and the local time in Tokyo?",
                 tools=WEATHER_AND_TIME, history=(), **kw) -> tuple[Turn, list[Any]]:
    events = list(run_turn(settings, LLAMA4, list(history), question, list(tools), stub.tool_config(timeout_s=3),
                           today=TODAY, **kw))
    assert isinstance(events[-1], Done)
    return events[-1].turn, events


def _after_question(messages: list[dict]) -> list[dict]:
    """The messages after the (first) question: the calls and their results."""
    return messages[2:]


def test_demo_responder_asks_a_llama_4_model_for_both_tools_at_once() -> None:
    from lib import tools
    from lib.tool_calling.llama_prompt import custom_tools_message
    from tests.api_double import demo_responder

    question = "What's the weather and the local time in Seoul?"
    first = custom_tools_message(tools.meta_definitions(list(WEATHER_AND_TIME), include_builtin=True), question)
    body = {"messages": [{"role": "system", "content": "You are a helpful assistant."},
                         {"role": "user", "content": first}]}
    for model in ("meta-llama/llama-4-maverick", "meta-llama/Llama-4-Scout-17B-16E-Instruct", "LLAMA-4-x"):
        assert demo_responder({**body, "model": model}).text == (
            '[get_weather(city="Seoul"), get_local_time(city_or_timezone="Seoul")]')
    older = demo_responder({**body, "model": "meta-llama/Llama-3.3-70B-Instruct"}).text
    assert json.loads(older)["name"] == "get_weather", "other models keep the one JSON call"
    only_weather = custom_tools_message(tools.meta_definitions(["get_weather"], include_builtin=True), question)
    reply = demo_responder({"model": LLAMA4, "messages": [{"role": "user", "content": only_weather}]}).text
    assert json.loads(reply)["name"] == "get_weather", "both tools must have been offered"


def test_llama_4_calls_two_tools_in_one_reply_and_gets_both_results(double: ApiDouble, settings,
                                                                    stub: StubServer) -> None:
    turn, events = _llama4_turn(settings, stub)  # the double's demo responder plays Llama 4
    assert turn.error is None and turn.tool_format == "json"
    assert [(s.call.name, s.call.arguments) for s in turn.steps] == [
        ("get_weather", {"city": "Tokyo"}), ("get_local_time", {"city_or_timezone": "Tokyo"})]
    assert all(s.result.ok for s in turn.steps)
    assert turn.steps[0].raw_output == turn.steps[1].raw_output == BOTH
    assert turn.steps[0].call_id != turn.steps[1].call_id
    assert stub.requests_to("geocoding")[0].query["name"] == "Tokyo" and len(stub.requests_to("forecast")) == 1
    kinds = [type(e).__name__ for e in events]
    assert [k for k in kinds if k.startswith("Call")] == ["CallStarted", "CallFinished"] * 2
    assert [e.step for e in events if type(e).__name__ == "CallStarted"] == turn.steps
    assert kinds.index("AnswerText") > max(i for i, k in enumerate(kinds) if k == "CallFinished")
    # The tools went as JSON definitions; the results of both calls went back in ONE next request.
    assert len(double.chat_requests) == 2 and turn.requests == 2
    first = double.chat_requests[0].body["messages"]
    assert '"name": "get_local_time"' in first[1]["content"] and "Tools:" not in first[0]["content"]
    calls_msg, *tool_msgs = _after_question(double.chat_requests[1].body["messages"])
    assert calls_msg["role"] == "assistant" and calls_msg["content"] == ""
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls_msg["tool_calls"]] == [
        ("get_weather", {"city": "Tokyo"}), ("get_local_time", {"city_or_timezone": "Tokyo"})]
    assert [m["role"] for m in tool_msgs] == ["tool", "tool"]
    assert [m["tool_call_id"] for m in tool_msgs] == [c["id"] for c in calls_msg["tool_calls"]] == [
        s.call_id for s in turn.steps]
    assert [m["content"] for m in tool_msgs] == [s.result.content for s in turn.steps]
    # The answer uses both results.
    assert turn.answer.startswith("(API double) Based on the tool results: ")
    assert turn.steps[0].result.content[:40] in turn.answer and turn.steps[1].result.content[:40] in turn.answer
    assert turn.return_mode == "tool_calls"
    assert "2 model requests" in turn.summary and "2 tool calls" in turn.summary


@pytest.mark.parametrize("mode", ["tool_text", "user"])
def test_several_results_go_back_in_the_shape_of_each_return_mode(double: ApiDouble, settings, stub: StubServer,
                                                                  mode: str) -> None:
    client.remember(settings.endpoint, "tool_result_mode", mode)  # as if this server had refused the others
    turn, _ = _llama4_turn(settings, stub)
    assert turn.error is None and turn.return_mode == mode and len(turn.steps) == 2
    back = _after_question(double.chat_requests[1].body["messages"])
    weather, local = (s.result.content for s in turn.steps)
    assert back[0] == {"role": "assistant", "content": BOTH}, "the calls as text, once"
    if mode == "tool_text":
        assert back[1:] == [{"role": "tool", "tool_call_id": s.call_id, "content": s.result.content}
                            for s in turn.steps]
    else:
        assert back[1:] == [{"role": "user", "content": f"Tool result from get_weather:\n{weather}\n\n"
                                                        f"Tool result from get_local_time:\n{local}\n\n"
                                                        "Use these results to answer my question."}]
    assert weather[:40] in turn.answer and local[:40] in turn.answer


def test_two_calls_refused_as_tool_calls_fall_back_and_run_only_once(double: ApiDouble, settings,
                                                                     stub: StubServer) -> None:
    def no_structured_calls(body: dict) -> Reply:
        if any(m.get("tool_calls") for m in body["messages"]):
            return Reply.bad_request("'tool_calls' is not supported for this model.")
        return Reply(text="Tokyo: clear and 12 °C; it is just past midnight there.")

    double.queue(Reply(text=f"<|python_tag|>{BOTH}<|eom_id|>"))
    double.responder = no_structured_calls
    turn, events = _llama4_turn(settings, stub)
    assert turn.error is None and turn.answer == "Tokyo: clear and 12 °C; it is just past midnight there."
    assert turn.return_mode == "tool_text"
    notes = [e.text for e in events if isinstance(e, Note)]
    assert len(notes) == 1 and "retrying with “call as text + tool message”" in notes[0]
    assert [s.call.name for s in turn.steps] == list(WEATHER_AND_TIME)
    assert len(stub.requests_to("forecast")) == 1, "the fallback resends the results; it does not run the tools again"
    refused, accepted = (_after_question(r.body["messages"]) for r in double.chat_requests[1:])
    assert len(double.chat_requests) == 3
    assert [m["role"] for m in refused] == ["assistant", "tool", "tool"] and len(refused[0]["tool_calls"]) == 2
    assert [m["role"] for m in accepted] == ["assistant", "tool", "tool"]
    assert accepted[0] == {"role": "assistant", "content": BOTH}
    assert [m["tool_call_id"] for m in accepted[1:]] == [s.call_id for s in turn.steps]
    # The next turn on this endpoint goes straight to the mode that worked.
    double.queue(Reply(text=BOTH), Reply(text="Still clear."))
    turn2, events2 = _llama4_turn(settings, stub, "And now?", history=[turn])
    assert turn2.error is None and not any(isinstance(e, Note) for e in events2)
    earlier = double.chat_requests[-1].body["messages"][2:6]  # the first turn, as history, in the same shape
    assert earlier == [*accepted, {"role": "assistant", "content": turn.answer}]


def test_two_calls_fall_back_to_one_user_message_with_both_results(double: ApiDouble, settings,
                                                                   stub: StubServer) -> None:
    def no_tool_role(body: dict) -> Reply:
        if any(m["role"] == "tool" for m in body["messages"]):
            return Reply.bad_request("Invalid message role 'tool' for this model.")
        return Reply(text="Clear and 12 °C in Tokyo, just past midnight.")

    double.queue(Reply(text=BOTH))
    double.responder = no_tool_role
    turn, events = _llama4_turn(settings, stub)
    assert turn.error is None and turn.return_mode == "user"
    assert sum(isinstance(e, Note) for e in events) == 2  # tool_calls → tool_text → user
    back = _after_question(double.chat_requests[-1].body["messages"])
    assert [m["role"] for m in back] == ["assistant", "user"]
    assert back[1]["content"].startswith("Tool result from get_weather:\n")
    assert "\n\nTool result from get_local_time:\n" in back[1]["content"]


def test_a_reply_with_several_calls_is_one_round_and_the_cap_still_stops_the_loop(double: ApiDouble, settings,
                                                                                   stub: StubServer) -> None:
    double.responder = lambda body: Reply(text=BOTH)
    turn, events = _llama4_turn(settings, stub, max_rounds=2)
    assert turn.capped and len(turn.steps) == 4  # two rounds of two calls; the third reply's calls do not run
    assert len(double.chat_requests) == 3
    assert turn.error is not None and turn.error.title == "Stopped after 2 rounds of tool calls"
    assert "`get_weather` ×2, `get_local_time` ×2" in turn.error.message
    # The last request carried both rounds, each as one assistant message with its two calls.
    back = _after_question(double.chat_requests[-1].body["messages"])
    assert [m["role"] for m in back] == ["assistant", "tool", "tool"] * 2
    assert [len(m["tool_calls"]) for m in back if m["role"] == "assistant"] == [2, 2]


def test_a_disabled_tool_in_a_list_is_refused_and_the_other_still_runs(double: ApiDouble, settings,
                                                                       stub: StubServer) -> None:
    double.queue(Reply(text='[get_weather(city="Tokyo"), launch_rockets(n=3)]'), Reply(text="Only the weather."))
    turn, _ = _llama4_turn(settings, stub, tools=("get_weather",))
    assert [s.result.ok for s in turn.steps] == [True, False]
    assert "unknown tool 'launch_rockets'" in turn.steps[1].result.content
    back = _after_question(double.chat_requests[1].body["messages"])
    assert [m["role"] for m in back] == ["assistant", "tool", "tool"] and "unknown tool" in back[2]["content"]


def test_hostile_list_runs_nothing(double: ApiDouble, settings, stub: StubServer, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"[get_weather(city=__import__('os').system('touch {marker}')), get_local_time(city_or_timezone='Tokyo')]"
    double.queue(Reply(text=text))
    turn, _ = _llama4_turn(settings, stub)
    assert turn.steps == [] and turn.answer == text  # not a call: shown as the model's text, nothing ran
    assert not marker.exists() and not stub.requests_to("geocoding")


def test_reply_groups_and_transcripts_rebuild_the_same_messages(double: ApiDouble, settings,
                                                                stub: StubServer) -> None:
    from lib.tool_calling.llama_prompt import ToolCall
    from lib.tool_calling.loop import RETURN_MODES, ToolStep, build_messages, reply_groups
    from lib.answers.transcript import from_json, to_json, tool_transcript, tool_turns_from_transcript

    double.queue(Reply(text=BOTH), Reply(text=BOTH), Reply(text="Twice."))
    turn, _ = _llama4_turn(settings, stub)
    assert turn.error is None and len(turn.steps) == 4
    assert [[s.call.name for s in g] for g in reply_groups(turn.steps)] == [list(WEATHER_AND_TIME)] * 2
    # A reply that asked for one tool, asked twice the same way: two groups of one (as before).
    single = ToolCall("brave_search", {"query": "x"}, "builtin")
    assert [len(g) for g in reply_groups([ToolStep(CALL, single), ToolStep(CALL, single)])] == [1, 1]
    # An older turn that ran only the first call of a list, twice: not mistaken for one reply.
    first = ToolCall("get_weather", {"city": "Tokyo"}, "pythonic")
    assert [len(g) for g in reply_groups([ToolStep(BOTH, first), ToolStep(BOTH, first)])] == [1, 1]
    # Saved and loaded again (a reload, an imported transcript), the turn rebuilds exactly the same messages.
    back = tool_turns_from_transcript(from_json(to_json(tool_transcript([turn], provider="p", model=LLAMA4))))
    for mode in RETURN_MODES:
        rebuilt = build_messages(back, Turn(question="And now?"), list(WEATHER_AND_TIME), mode, TODAY, "json")
        assert rebuilt == build_messages([turn], Turn(question="And now?"), list(WEATHER_AND_TIME), mode, TODAY,
                                         "json")
        assert sum(m["role"] == "assistant" for m in rebuilt) == 3  # two replies with calls, then the answer


def test_page_shows_each_call_of_a_llama_4_reply_and_the_answer(double: ApiDouble, stub: StubServer) -> None:
    client.clear_models_cache()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets["MODELS_PROVIDER"] = "custom"
    at.secrets["MODELS_API_KEY"] = TEST_TOKEN
    at.secrets["MODELS_ENDPOINT"] = double.endpoint_for("openrouter")  # a host that lists Llama 4 Maverick
    for k, v in stub.env().items():
        at.secrets[k] = v
    at.run()
    at.switch_page("pages/tool_calling.py").run()
    at.selectbox[0].set_value(LLAMA4).run()
    for name in WEATHER_AND_TIME:
        at.checkbox(key=f"tool_{name}").check()
    at.run()
    at.chat_input[0].set_value("What's the weather and the local time in Tokyo?").run()
    assert not at.exception
    text = [m.value for m in at.markdown]
    decided = [i for i, v in enumerate(text) if "Llama 4 Maverick decided to call" in v]
    ran = [i for i, v in enumerate(text) if v.startswith("**The app ran ")]
    answer = [i for i, v in enumerate(text) if v.startswith("(API double) Based on the tool results:")]
    assert len(decided) == 2 and len(ran) == 2 and answer, text
    assert "`get_weather(city=" in text[decided[0]] and "`get_local_time(city_or_timezone=" in text[decided[1]]
    assert decided[0] < ran[0] < decided[1] < ran[1] < answer[0], "each call, then its run, then the answer"
    assert "2 tool calls" in "\n".join(c.value for c in at.caption)
    sent = double.chat_requests[-1].body["messages"]
    assert len(sent[-3]["tool_calls"]) == 2 and [m["role"] for m in sent[-2:]] == ["tool", "tool"]
    # A rerun draws the same turn from the session's history; the raw view renders the two calls once.
    at.session_state["tool_raw_prompt"] = True
    at.run()
    assert not at.exception
    assert sum("decided to call" in m.value for m in at.markdown) == 2
    raw = "\n".join(c.value for c in at.code)
    assert ('<|python_tag|>[{"name": "get_weather", "parameters": {"city": "Tokyo"}}, {"name": "get_local_time", '
            '"parameters": {"city_or_timezone": "Tokyo"}}]<|eom_id|>') in raw
    assert raw.count("<|start_header_id|>ipython<|end_header_id|>") == 2


# Dead ends (issue 20): a tool failing the same way twice ends the turn before another model request --------------


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once closed


def _searching(body: dict) -> Reply:
    """A model that asks for a web search every time, a different query each round."""
    n = sum(m["role"] == "user" for m in body["messages"]) + len(body["messages"])
    return Reply(text=f'<|python_tag|>brave_search.call(query="Stockholm weather {n}")<|eom_id|>')


def test_a_tool_that_cannot_connect_twice_is_not_called_a_third_time(double: ApiDouble, settings,
                                                                     stub: StubServer) -> None:
    port = _closed_port()
    double.responder = _searching
    config = stub.tool_config(timeout_s=3, brave_search_url=f"http://127.0.0.1:{port}/res/v1/web/search")
    events = list(run_turn(settings, "meta/Meta-Llama-3.1-405B-Instruct", [], "What is the weather in Stockholm?",
                           ["brave_search"], config, today=TODAY))
    turn = events[-1].turn
    assert [s.call.name for s in turn.steps] == ["brave_search", "brave_search"]
    assert turn.steps[0].call.arguments != turn.steps[1].call.arguments, "the arguments varied; the failure did not"
    assert len(double.chat_requests) == 2 and turn.requests == 2, "no third model request"
    assert "2 model requests" in turn.summary and "2 tool calls" in turn.summary
    err = turn.error
    assert err is not None and err.kind is ErrorKind.TOOL_FAILED and err.retry_helps
    assert err.title == "Web search failed twice"
    assert f"Nothing answers at 127.0.0.1:{port}, the address set for Brave Search" in err.message
    assert "Retry this question" in err.message and "switch the tool off" in err.message
    assert not turn.answer and not turn.capped


def _failing(*contents: str, source: str = "Brave Search API", fallback: bool = False):
    """A `run_tool` answering each call with the next error text (the last one repeats)."""
    from lib import tools

    texts = list(contents)

    def run(call, tool_names, config):
        text = texts.pop(0) if len(texts) > 1 else texts[0]
        return tools.ToolResult(call.name, dict(call.arguments), f"error: {text}", False, source, fallback, 0.01)

    return run


@pytest.mark.parametrize("failure, title, words", [
    ("could not connect to Brave Search (api.search.brave.com)", "Web search failed twice",
     "This machine can't reach the internet to use Brave Search (check the venue Wi-Fi"),
    ("Brave Search rejected the API key (401)", "Web search failed twice",
     "Brave Search refused the key (check `BRAVE_API_KEY`, or remove it to search Wikipedia instead)"),
    ("Brave Search rate limit reached (429): the plan's quota is used up, try again later", "Web search failed twice",
     "Brave Search's quota is used up for now"),
    ("Brave Search server error (503)", "Web search failed twice", "Brave Search is having problems (it answered 503)"),
    ("Brave Search did not answer within 5 s", "Web search failed twice", "Brave Search didn't answer within 5 s"),
])
def test_each_kind_of_failure_is_told_in_words_a_presenter_can_act_on(double: ApiDouble, settings, failure: str,
                                                                      title: str, words: str) -> None:
    from lib import tools

    double.responder = _searching
    events = list(run_turn(settings, "m", [], "Search the web", ["brave_search"], tools.ToolConfig(), today=TODAY,
                           run_tool=_failing(failure)))
    turn = events[-1].turn
    assert len(turn.steps) == 2 and len(double.chat_requests) == 2
    assert turn.error.title == title and words in turn.error.message, turn.error.message


def test_no_brave_key_and_no_network_says_both(double: ApiDouble, settings) -> None:
    from lib import tools

    double.responder = _searching
    events = list(run_turn(settings, "m", [], "Search the web", ["brave_search"], tools.ToolConfig(), today=TODAY,
                           run_tool=_failing("could not connect to Wikipedia search (en.wikipedia.org)",
                                             source="Wikipedia search (fallback)", fallback=True)))
    message = events[-1].turn.error.message
    assert "can't reach the internet to use Wikipedia" in message
    assert "with no Brave key set, web search uses Wikipedia" in message


def test_two_different_failures_are_not_a_dead_end(double: ApiDouble, settings) -> None:
    from lib import tools

    double.queue(Reply(text=CALL), Reply(text=CALL), Reply(text="I could not search, sorry."))
    events = list(run_turn(settings, "m", [], "Search the web", ["brave_search"], tools.ToolConfig(), today=TODAY,
                           run_tool=_failing("could not connect to Brave Search (api.search.brave.com)",
                                             "Brave Search rejected the API key (401)")))
    turn = events[-1].turn
    assert turn.error is None and turn.answer == "I could not search, sorry." and len(double.chat_requests) == 3


def test_a_place_not_found_is_the_models_to_fix_unless_it_asks_for_the_same_one_again(double: ApiDouble, settings,
                                                                                        stub: StubServer) -> None:
    def weather(city: str) -> Reply:
        return Reply(text=json.dumps({"name": "get_weather", "parameters": {"city": city}}))

    # Another place after "not found": the model may fix its own call, so the turn goes on.
    double.queue(weather("Atlantis"), weather("Stockholm"), Reply(text="3 °C in Stockholm."))
    turn, _ = _turn(settings, stub, "Weather?", tools=("get_weather",))
    assert turn.error is None and turn.answer == "3 °C in Stockholm." and len(double.chat_requests) == 3
    # The same place twice: the very same failure, so no third model request.
    sent = len(double.chat_requests)
    double.queue(weather("Atlantis"), weather("Atlantis"), Reply(text="never asked"))
    turn, _ = _turn(settings, stub, "Weather?", tools=("get_weather",))
    assert len(double.chat_requests) - sent == 2
    assert turn.error.kind is ErrorKind.TOOL_FAILED and turn.error.title == "Current weather failed twice"
    assert "couldn't answer what the model asked (no place called 'Atlantis'" in turn.error.message


def test_a_tool_switched_off_in_this_chat_asked_for_twice_ends_the_turn(double: ApiDouble, settings,
                                                                       stub: StubServer) -> None:
    double.responder = lambda body: Reply(text=CALL)  # brave_search, which is not ticked
    turn, _ = _turn(settings, stub, "Search", tools=("get_weather",))
    assert len(turn.steps) == 2 and len(double.chat_requests) == 2
    assert "switched off in this chat" in turn.error.message


def test_a_stopped_turn_counts_the_request_on_its_way(double: ApiDouble, settings, stub: StubServer) -> None:
    """The page may draw a stopped turn before the worker counted its request: it counts as one already."""
    turn = Turn(question="q", stopped=True, in_flight=True)
    assert turn.request_count == 1 and "1 model request ·" not in turn.summary and "1 model request" in turn.summary
    turn.in_flight, turn.requests = False, 1  # the worker then counts it: still one
    assert turn.request_count == 1
    assert Turn(question="q", stopped=True, in_flight=True, cached="cache").request_count == 0
    # A full turn that was answered: no request left in flight.
    double.queue(Reply(text="Hello."))
    done, _ = _turn(settings, stub, "Hi", tools=())
    assert done.requests == 1 and not done.in_flight


def test_page_shows_why_a_tool_failed_twice_and_offers_retry(double: ApiDouble, stub: StubServer) -> None:
    client.clear_models_cache()
    stub.script("brave", status=500, body='{"error": "boom"}', content_type="application/json")
    double.responder = _searching
    at = _app(double, stub)
    at.chat_input[0].set_value("What is the weather in Stockholm?").run()
    assert not at.exception
    assert len(double.chat_requests) == 2
    errors = [e.value for e in at.error]
    assert any("Web search failed twice" in e and "Brave Search is having problems (it answered 500)" in e
               for e in errors), errors
    steps = [m.value for m in at.markdown if "failed**" in m.value]
    assert len(steps) == 2 and "Brave Search server error (500)" in steps[0], steps
    assert [b for b in at.button if b.label == "Retry this question"]
    stub.clear()
    double.responder = lambda body: (Reply(text="Cloudy, 3 °C.") if any(m["role"] == "tool" for m in body["messages"])
                                     else Reply(text=CALL))
    [b for b in at.button if b.label == "Retry this question"][0].click().run()
    assert not at.exception and not at.error
    assert any(m.value == "Cloudy, 3 °C." for m in at.markdown)


def test_a_turn_with_no_provider_is_never_said_to_run_on_no_provider() -> None:
    turn = Turn(question="q", model="meta-llama/Llama-3.2-90B-Vision-Instruct", provider="no provider")
    assert turn.answered_by == "Llama 3.2 90B Vision"
    assert Turn(question="q", model="llama3.1:8b", provider="Ollama (on this machine)").answered_by == (
        "Llama 3.1 8B on Ollama (on this machine)")
