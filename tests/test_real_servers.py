"""The real-server tier: the library against real vLLM and LiteLLM servers, not our double.

vLLM's OpenAI server serves a tiny scripted Llama (tests/real_servers/: the real Llama 3 tokenizer, Meta's Llama 3.1
chat template, hand-set weights) with a 2048-token context; LiteLLM's proxy stands in front of it as a company
gateway. Each test checks something the real servers showed that our double did not (README "Testing").
Both servers start once per test session (vLLM ~40-60 s, LiteLLM ~10 s); the install is cached.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from lib import client
from lib.hosts.budget import estimate_tokens
from lib.hosts.config import Settings, load_settings
from lib.answers.cache import DEDUPE
from lib.hosts.errors import ErrorKind, explain
from lib.common.ticking import Tick, ticking
from lib.tool_calling.loop import Done, Note, Turn, run_turn
from lib.vision.answer import VisionAnswer
from tests import real_servers as rs
from tests.stubs import StubServer

pytestmark = [pytest.mark.real_server, pytest.mark.timeout(300),  # the first test waits for vLLM to start
              pytest.mark.skipif(not rs.enabled(), reason="LLAMA_HERD_REAL_SERVERS=0: real-server tier skipped")]

MODEL = rs.SERVED_MODEL
TODAY = dt.date(2026, 12, 1)
PNG_1PX = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
           "AAAABJRU5ErkJggg==")
KOREAN_TURNS = [
    ("서울의 오늘 날씨는 어떤가요? 우산을 챙겨야 할까요, 아니면 가벼운 옷차림으로 나가도 괜찮을까요?",
     "서울은 오늘 대체로 맑고 기온은 영상 12도 정도입니다. 오후에는 바람이 조금 불 수 있으니 가벼운 겉옷을 챙기세요. "
     "비 소식은 없어서 우산은 필요하지 않을 것 같습니다. 저녁에는 기온이 8도까지 내려갑니다. 내일은 구름이 많아지고 "
     "오후 늦게 비가 올 확률이 40퍼센트이니, 내일 외출하신다면 작은 우산을 가방에 넣어 두시는 것이 좋겠습니다. "
     "모레부터는 다시 맑아지고 주말까지 포근한 날씨가 이어질 것으로 보입니다."),
] * 12  # 12 turns: about 2,600 real Llama 3 tokens, more than the 2048 the server takes


def _settings(endpoint: str, key: str | None = None, **env: str) -> Settings:
    environ = {"MODELS_PROVIDER": "custom", "MODELS_ENDPOINT": endpoint, "REQUEST_TIMEOUT_S": "60", **env}
    if key:
        environ["MODELS_API_KEY"] = key
    return load_settings(environ=environ, probe=lambda url: False)


@pytest.fixture
def on_vllm(vllm: rs.RealServer) -> Settings:
    client.clear_models_cache()
    return _settings(vllm.url + "/v1")


@pytest.fixture
def on_litellm(litellm: rs.RealServer) -> Settings:
    client.clear_models_cache()
    return _settings(litellm.url + "/v1", rs.LITELLM_KEY)


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as s:
        yield s


def _turn(settings: Settings, stub: StubServer, question: str, **kw: Any) -> tuple[Turn, list[Any]]:
    kw.setdefault("today", TODAY)
    events = list(run_turn(settings, kw.pop("model", MODEL), kw.pop("history", []), question,
                           kw.pop("tools", ["brave_search", "wolfram_alpha"]), stub.tool_config(timeout_s=5), **kw))
    assert isinstance(events[-1], Done)
    return events[-1].turn, events


def _wait(condition: Any, timeout_s: float) -> float:
    """Seconds until `condition()` is true (fails the test after `timeout_s`)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, f"not within {timeout_s} s"
        time.sleep(0.05)
    return time.monotonic() - started


# --- vLLM -------------------------------------------------------------------------------------------------------


def test_the_listing_gives_the_context_size_and_the_server(on_vllm: Settings) -> None:
    listing = client.get_models(on_vllm)
    assert listing is not None and listing.available
    info = listing.find(MODEL)
    assert info is not None and info.context_length == rs.MAX_MODEL_LEN
    assert client.server_of(on_vllm, MODEL) == "vllm"


def test_a_whole_tool_turn_on_vllm_with_its_own_rendering(on_vllm: Settings, stub: StubServer) -> None:
    """vLLM strips <|python_tag|> and stops on <|eom_id|>: the call is still read, run, and answered; the built-in
    tools travel as chat_template_kwargs so Meta's template writes the one system prompt (one date line)."""
    opts = {"server_template": True, "count_tokens": client.token_counter(on_vllm, MODEL)}
    turn, events = _turn(on_vllm, stub, "What is the weather in Stockholm?", context_tokens=2048, **opts)
    assert turn.error is None, turn.error
    assert [s.call.name for s in turn.steps] == ["brave_search"]
    assert turn.steps[0].call.arguments == {"query": "weather in Stockholm"}
    assert "<|python_tag|>" not in turn.steps[0].raw_output  # the real server strips it
    assert [r.route for r in stub.requests if r.route == "brave"] == ["brave"]
    assert turn.answer.startswith("Sunny skies and mild temperatures today")
    assert turn.requests == 2 and turn.tokens > 50 and turn.served_model == MODEL
    assert turn.template_kwargs == {"chat_template_kwargs": {"builtin_tools": ["brave_search", "wolfram_alpha"],
                                                             "date_string": "01 December 2026"}}
    rendered = client.rendered_prompt(on_vllm, MODEL, turn.messages_sent, turn.template_kwargs)
    assert rendered is not None
    assert rendered.count("Today Date:") == 1 and "Today Date: 01 December 2026" in rendered
    assert "Environment: ipython\nTools: brave_search, wolfram_alpha" in rendered
    assert "<|start_header_id|>ipython<|end_header_id|>" in rendered  # the tool result, as Meta's format has it


def test_a_hand_written_system_prompt_gets_a_second_date_line_which_is_why_we_send_kwargs(on_vllm: Settings) -> None:
    from lib.tool_calling.llama_prompt import build_system_prompt

    messages = [{"role": "system", "content": build_system_prompt(["brave_search"], TODAY)},
                {"role": "user", "content": "Hi"}]
    rendered = client.rendered_prompt(on_vllm, MODEL, messages)
    assert rendered is not None and rendered.count("Today Date:") == 2  # the template adds its own


def test_stop_hangs_up_and_vllm_aborts_within_a_second(vllm: rs.RealServer, on_vllm: Settings) -> None:
    """Stop closes the connection: vLLM ends the request as aborted, not after all its tokens, and a stopped answer
    is never cached as if it were whole."""
    before, aborted_before = rs.finished_by_reason(vllm), rs.aborted(vllm)
    stream = DEDUPE.chat_stream(on_vllm, MODEL, [{"role": "user", "content": "Write a long essay about llamas"}],
                                max_tokens=1024, temperature=0.0)
    worker = ticking(iter(stream), interval_s=0.05)
    pieces = []
    for item in worker:
        if not isinstance(item, Tick):
            pieces.append(item)
        if len(pieces) >= 5:
            break
    assert rs.running_requests(vllm) == 1
    worker.close()  # what the page does on Stop
    took = _wait(lambda: rs.running_requests(vllm) == 0, 5)
    assert took < 1.0, f"vLLM still generating {took:.2f} s after Stop"
    _wait(lambda: rs.aborted(vllm) == aborted_before + 1, 5)  # "Request chatcmpl-… aborted." in its log
    after = rs.finished_by_reason(vllm)
    assert after.get("length", 0) == before.get("length", 0)  # it did not run to max_tokens
    assert DEDUPE.lookup_fp(stream.fingerprint) is None  # not cached


def test_an_answer_cut_at_max_tokens_says_so_and_is_not_cached(on_vllm: Settings, stub: StubServer) -> None:
    turn, _ = _turn(on_vllm, stub, "Write an essay about llamas", tools=[], max_tokens=24,
                    open_stream=DEDUPE.chat_stream)  # through the replay cache, as the page asks
    assert turn.error is None and turn.cut is True and turn.answer
    question_again = DEDUPE.chat_stream(on_vllm, MODEL, turn.messages_sent, max_tokens=24, temperature=0.2)
    assert "".join(question_again) and question_again.cached is False  # asked live again: nothing was stored
    assert question_again.finish_reason == "length"


def test_a_korean_12_turn_conversation_on_a_2048_token_server_gets_an_answer(on_vllm: Settings,
                                                                              stub: StubServer) -> None:
    history = [Turn(question=q, answer=a, model=MODEL) for q, a in KOREAN_TURNS]
    counter = client.token_counter(on_vllm, MODEL)
    assert counter is not None
    everything = [{"role": "user" if i % 2 == 0 else "assistant", "content": text}
                  for q, a in KOREAN_TURNS for i, text in enumerate((q, a))]
    assert counter(everything, None) > rs.MAX_MODEL_LEN  # the whole conversation would not fit
    turn, events = _turn(on_vllm, stub, "오늘 스톡홀름 날씨는 어때요?", history=history, context_tokens=2048,
                         server_template=True, count_tokens=counter)
    assert turn.error is None, turn.error
    assert turn.answer.startswith("Sunny skies")
    notes = [e.text for e in events if isinstance(e, Note)]
    assert any("earlier turns were left out" in n for n in notes)
    # The estimate alone (no /tokenize) must also keep a Korean conversation inside the server's limit.
    DEDUPE.clear()
    turn, _ = _turn(on_vllm, stub, "오늘 스톡홀름 날씨는 어때요?", history=history, context_tokens=2048)
    assert turn.error is None, turn.error


def test_when_the_server_still_says_too_long_the_app_drops_more_and_sends_again(vllm: rs.RealServer,
                                                                                on_vllm: Settings,
                                                                                stub: StubServer) -> None:
    """A wrong context figure (8k claimed, 2k real): the first request is refused with vLLM's own 400, the app
    leaves out more turns and the second one is answered; nothing reads as "the request was refused"."""
    history = [Turn(question=q, answer=a, model=MODEL) for q, a in KOREAN_TURNS]
    turn, events = _turn(on_vllm, stub, "오늘 스톡홀름 날씨는 어때요?", history=history, context_tokens=8000)
    assert turn.error is None, turn.error
    assert any("too long" in e.text for e in events if isinstance(e, Note))


def test_context_overflow_with_nothing_left_to_drop_says_so_plainly(on_vllm: Settings, stub: StubServer) -> None:
    turn, _ = _turn(on_vllm, stub, "날씨 " * 3000, tools=[], context_tokens=2048)
    assert turn.error is not None and turn.error.kind is ErrorKind.CONTEXT_TOO_LONG
    assert not turn.error.retry_helps and "2048" in turn.error.message


def test_the_estimate_never_undercounts_the_real_tokenizer(on_vllm: Settings) -> None:
    counter = client.token_counter(on_vllm, MODEL)
    assert counter is not None
    texts = ["서울의 오늘 날씨는 어떤가요? 우산을 챙겨야 할까요?", "東京の今日の天気はどうですか。傘を持っていくべきですか。",
             "北京今天的天气怎么样？我需要带伞吗？", "3.14159265358979323846 2026-12-01 +82-10-1234-5678 1,234,567.89",
             "The weather in Stockholm is mild today, with light winds from the west."]
    for text in texts:
        messages = [{"role": "user", "content": text * 40}]  # long enough that the template's ~35 tokens are noise
        real = counter(messages, None)
        assert estimate_tokens(messages) >= real * 0.95, (text, estimate_tokens(messages), real)


def test_an_image_to_a_text_only_model_is_explained_and_not_retried(vllm: rs.RealServer, on_vllm: Settings) -> None:
    log_before = vllm.log_text().count("POST /v1/chat/completions")
    answer = VisionAnswer(on_vllm, MODEL, PNG_1PX, [("user", "What is in this picture?")])
    with pytest.raises(Exception) as caught:
        list(answer)
    err = explain(caught.value)
    assert err.kind is ErrorKind.IMAGE_NOT_SUPPORTED and not err.retry_helps
    assert "does not read images" in err.title
    assert vllm.log_text().count("POST /v1/chat/completions") - log_before == 1  # no retries


def test_a_model_the_server_does_not_have_is_skipped_for_a_while_and_the_next_one_answers(
        on_vllm: Settings, stub: StubServer) -> None:
    turn, events = _turn(on_vllm, stub, "What is the weather in Stockholm?", model="meta-llama/Llama-3.1-8B-Instruct",
                         next_model=lambda current: MODEL if current != MODEL else None)
    assert turn.error is None and turn.model == MODEL
    assert "meta-llama/Llama-3.1-8B-Instruct" in client.skipped_models(on_vllm.endpoint)


# --- LiteLLM's proxy in front of vLLM -----------------------------------------------------------------------------


def test_litellm_lists_the_context_size_and_a_tool_turn_goes_through(on_litellm: Settings, stub: StubServer) -> None:
    listing = client.get_models(on_litellm)
    assert listing is not None and listing.find(MODEL) is not None
    assert listing.find(MODEL).context_length == rs.MAX_MODEL_LEN  # max_input_tokens
    turn, _ = _turn(on_litellm, stub, "What is the weather in Stockholm?", context_tokens=2048)
    assert turn.error is None, turn.error
    assert [s.call.name for s in turn.steps] == ["brave_search"] and turn.answer.startswith("Sunny skies")


def test_litellm_unknown_model_takes_the_not_found_path_and_the_fallback(on_litellm: Settings,
                                                                         stub: StubServer) -> None:
    turn, events = _turn(on_litellm, stub, "What is the weather in Stockholm?", model="meta-llama/nope",
                         next_model=lambda current: MODEL if current != MODEL else None)
    assert turn.error is None, turn.error
    assert turn.model == MODEL and any("skipped" in e.text for e in events if isinstance(e, Note))


def test_litellm_without_a_key_says_the_server_needs_one(litellm: rs.RealServer, stub: StubServer) -> None:
    no_key = _settings(litellm.url + "/v1")
    turn, _ = _turn(no_key, stub, "What is the weather in Stockholm?")
    assert turn.error is not None and turn.error.kind is ErrorKind.NEEDS_KEY
    assert "MODELS_API_KEY" in turn.error.message and not turn.error.retry_helps


def test_litellm_context_overflow_is_unwrapped_and_refitted(on_litellm: Settings, stub: StubServer) -> None:
    history = [Turn(question=q, answer=a, model=MODEL) for q, a in KOREAN_TURNS]
    turn, events = _turn(on_litellm, stub, "오늘 스톡홀름 날씨는 어때요?", history=history, context_tokens=16000)
    assert turn.error is None, turn.error
    overflow = _turn(on_litellm, stub, "날씨 " * 3000, tools=[], context_tokens=16000)[0].error
    assert overflow is not None and overflow.kind is ErrorKind.CONTEXT_TOO_LONG
    assert "litellm" not in overflow.detail.lower() and "maximum context length is 2048" in overflow.detail


def test_litellm_stop_reaches_vllm_through_the_gateway(vllm: rs.RealServer, on_litellm: Settings) -> None:
    stream = client.stream(on_litellm, MODEL, [{"role": "user", "content": "Write a long essay about llamas"}],
                           max_tokens=1024, temperature=0.0)
    worker = ticking(iter(stream), interval_s=0.05)
    got = 0
    for item in worker:
        got += 0 if isinstance(item, Tick) else 1
        if got >= 5:
            break
    worker.close()
    took = _wait(lambda: rs.running_requests(vllm) == 0, 10)
    assert took < 2.0, f"vLLM still generating {took:.2f} s after Stop through LiteLLM"


def test_litellm_mock_model_answers_with_the_master_key(on_litellm: Settings) -> None:
    reply = client.complete(on_litellm, "meta-llama/Llama-3.3-70B-Instruct", [{"role": "user", "content": "Hi"}])
    assert reply.text.startswith("Mock answer from the LiteLLM gateway")
