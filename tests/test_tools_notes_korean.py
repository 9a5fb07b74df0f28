"""What lib/ says on the tool page, in Korean (issue 24): each tool's status line, a call's summary, source and
failure, a turn's footer and the tool loop's notes. English reads exactly as before; what the model reads stays
English (only the page reads it back in Korean)."""

from __future__ import annotations

import datetime as dt
import re
import string
from typing import Any, Iterator

import pytest

from lib.answers.cache import CACHED_TOOL_SOURCE
from lib.answers.rehearsal import Rehearsal
from lib.i18n import Msg, catalogue, say
from lib.tool_calling.llama_prompt import ToolCall
from lib.tool_calling.loop import Done, Note, ToolStep, Turn, _run_tool, error_line, run_turn
from lib.tools import (TOOLS, ToolConfig, ToolResult, description_msg, failure_msg, result_summary,
                       result_summary_msg, run, source_msg, status)
from lib.tools import brave_search, code_interpreter, local_time, registry, units, weather, wolfram_alpha
from tests.api_double import ApiDouble, Reply
from tests.stubs import StubServer

HANGUL = re.compile(r"[\uac00-\ud7a3]")
OFFLINE = ToolConfig()
KEYED = ToolConfig(brave_api_key="k" * 20, wolfram_app_id="APP-1")
CLOSED_PORT = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused at once


def korean(what: object) -> str:
    shown = say("ko", what)
    assert HANGUL.search(shown), shown
    return shown


def assert_said_in_korean(m: Msg | str, english: str) -> str:
    """`m` is a message whose English is exactly `english` and whose Korean has none of that sentence."""
    assert isinstance(m, Msg), m
    assert str(m) == english
    shown = korean(m)
    assert english not in shown
    return shown


# --- the status line under each tool's checkbox -----------------------------------------------------------------


@pytest.mark.parametrize("name, config, english", [
    ("brave_search", KEYED, "Brave API key found"),
    ("brave_search", OFFLINE, "No BRAVE_API_KEY: searches Wikipedia instead"),
    ("brave_search", ToolConfig(brave_api_key="k", brave_search_url="http://127.0.0.1:8080/search"),
     "Brave API key found (custom endpoint 127.0.0.1:8080)"),
    ("wolfram_alpha", KEYED, "Wolfram|Alpha App ID found"),
    ("wolfram_alpha", OFFLINE, "No WOLFRAM_ALPHA_APP_ID: maths is answered locally by SymPy, other questions fail"),
    ("code_interpreter", OFFLINE, "Disabled: set ALLOW_CODE_INTERPRETER=1 to let the model run Python in a sandbox"),
    ("get_weather", OFFLINE, "Open-Meteo: no key needed"),
    ("get_weather", ToolConfig(open_meteo_forecast_url="http://127.0.0.1:8081/v1/forecast"),
     "Open-Meteo: no key needed (custom endpoint 127.0.0.1:8081)"),
    ("get_local_time", OFFLINE, "Offline: uses the time-zone database, no network"),
    ("convert_units", OFFLINE, "Offline: built-in unit table"),
    ("no_such_tool", OFFLINE, "Unknown tool 'no_such_tool'"),
], ids=lambda v: v if isinstance(v, str) and " " not in v else None)
def test_every_status_line_reads_in_korean_and_as_before_in_english(name: str, config: ToolConfig,
                                                                    english: str) -> None:
    st = status(name, config)
    assert st.note == english
    shown = assert_said_in_korean(st.msg, english)
    if "custom endpoint" in english:
        assert "127.0.0.1:80" in shown and "사용자 지정 엔드포인트" in shown


def test_the_python_sandbox_status_reads_in_korean_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    allowed = ToolConfig(allow_code_interpreter=True)
    root = "the app does not run as root, which creating namespaces and an unprivileged user needs"
    monkeypatch.setattr(code_interpreter, "sandbox_problem", lambda probe=True: root)
    st = status("code_interpreter", allowed)
    shown = assert_said_in_korean(st.msg, f"Unavailable: ALLOW_CODE_INTERPRETER is set, but the Python sandbox cannot "
                                          f"be created here ({root}); code is never run without it")
    assert root not in shown and "root" in shown, "the reason is said in Korean too"
    monkeypatch.setattr(code_interpreter, "sandbox_problem", lambda probe=True: "EPERM: Operation not permitted")
    assert "EPERM: Operation not permitted" in korean(status("code_interpreter", allowed).msg), "the system's words"
    monkeypatch.setattr(code_interpreter, "sandbox_problem", lambda probe=True: None)
    shown = assert_said_in_korean(status("code_interpreter", allowed).msg, (
        "Enabled: runs model-written Python in an isolated sandbox — no network, no keys, only a private 64 MB "
        "folder writable, an unprivileged user with at most 32 processes, CPU (5 s), memory (512 MB) and time "
        "limits; everything it starts is killed when the call ends"))
    assert "64 MB" in shown and "512 MB" in shown and "32" in shown


@pytest.mark.parametrize("name", list(TOOLS))
def test_every_tools_description_reads_in_korean_and_the_model_keeps_the_english(name: str) -> None:
    assert_said_in_korean(description_msg(name), TOOLS[name].description)
    assert description_msg("no_such_tool") == ""


# --- a call's summary, source and failure --------------------------------------------------------------------------


def _result(content: str, ok: bool = True, source: str = "Brave Search API") -> ToolResult:
    return ToolResult("brave_search", {}, content, ok, source, False, 0.1)


@pytest.mark.parametrize("content, ok, english, korean_text", [
    ("1. A — https://a\n   x\n2. B — https://b\n3. C — https://c", True, "3 results", "결과 3개"),
    ("1. A — https://a", True, "1 result", "결과 1개"),
    ("Stockholm: 3.0 °C, overcast", True, "4 words", "4단어"),
    ("42", True, "1 word", "1단어"),
    ("error: could not connect to Brave Search (x:1)", False, "failed", "실패"),
])
def test_a_calls_summary_reads_in_korean(content: str, ok: bool, english: str, korean_text: str) -> None:
    r = _result(content, ok)
    assert result_summary(r) == english
    assert_said_in_korean(result_summary_msg(r), english)
    assert say("ko", result_summary_msg(r)) == korean_text


def _refused_source() -> str:
    return _run_tool(ToolCall("get_weather", {"city": "Oslo"}), ["brave_search"], OFFLINE).source


@pytest.mark.parametrize("source", [brave_search.WIKI, wolfram_alpha.SYMPY, code_interpreter.SOURCE,
                                    local_time.SOURCE, units.SOURCE, registry.REGISTRY_SOURCE, "refused"])
def test_a_sources_words_read_in_korean(source: str) -> None:
    source = _refused_source() if source == "refused" else source
    assert_said_in_korean(source_msg(source), source)


@pytest.mark.parametrize("name", [brave_search.BRAVE, wolfram_alpha.WOLFRAM, weather.SOURCE, "Some imported source"])
def test_a_source_that_is_a_name_shows_as_it_is(name: str) -> None:
    assert source_msg(name) == name and say("ko", source_msg(name)) == name


@pytest.mark.parametrize("suffix", [CACHED_TOOL_SOURCE, Rehearsal.tool_source_note])
@pytest.mark.parametrize("source", [brave_search.BRAVE, local_time.SOURCE])
def test_a_result_from_the_cache_or_a_rehearsal_says_so_in_korean(suffix: str, source: str) -> None:
    shown = assert_said_in_korean(source_msg(source + suffix), source + suffix)
    assert suffix.strip() not in shown
    assert ("캐시" if suffix == CACHED_TOOL_SOURCE else "리허설") in shown
    assert say("ko", source_msg(source)) in shown


def _failure(result: ToolResult) -> str:
    assert not result.ok, result.content
    return error_line(result)


@pytest.mark.parametrize("make, korean_words", [
    (lambda: run("convert_units", {"value": 3, "from_unit": "km", "to_unit": "kg"}), ("길이", "질량")),
    (lambda: run("convert_units", {"value": 3, "from_unit": "parsec", "to_unit": "km"}), ("알 수 없는 단위",)),
    (lambda: run("convert_units", {"value": -500, "from_unit": "°C", "to_unit": "K"}), ("절대 영도",)),
    (lambda: run("get_local_time", {"city_or_timezone": "Atlantis"}), ("'Atlantis'", "시간대")),
    (lambda: run("get_weather", {}), ("필수 인수", "'city'")),
    (lambda: run("convert_units", {"value": "ten", "from_unit": "km", "to_unit": "mi"}), ("숫자",)),
    (lambda: run("get_weather", {"city": "Oslo", "unit": "kelvin"}), ("celsius, fahrenheit", "중 하나")),
    (lambda: run("no_such_tool", {}), ("알 수 없는 도구",)),
    (lambda: run("code_interpreter", {"code": "print(1)"}, OFFLINE), ("ALLOW_CODE_INTERPRETER=1", "꺼져")),
    (lambda: run("wolfram_alpha", {"query": "capital of France"}, OFFLINE), ("WOLFRAM_ALPHA_APP_ID", "설정되지")),
    (lambda: _run_tool(ToolCall("get_weather", {"city": "Oslo"}), ["brave_search"], OFFLINE), ("켜져 있지",)),
    (lambda: _run_tool(ToolCall("teleport", {}), [], OFFLINE), ("알 수 없는 도구", "없음")),
    (lambda: run("brave_search", {"query": "llamas"}, ToolConfig(brave_api_key="k", brave_search_url=CLOSED_PORT)),
     ("Brave Search", "연결하지 못했습니다")),
    (lambda: run("brave_search", {"query": "llamas"}, ToolConfig(wikipedia_search_url=CLOSED_PORT + "/w/rest.php")),
     ("Wikipedia 검색", "연결하지 못했습니다")),
], ids=["dimensions", "unit", "absolute-zero", "place", "missing", "number", "choice", "unknown", "code-off",
        "no-wolfram", "not-enabled", "unknown-in-chat", "offline-brave", "offline-wikipedia"])
def test_a_real_failure_reads_in_korean_while_the_model_keeps_the_english(make: Any,
                                                                           korean_words: tuple[str, ...]) -> None:
    result = make()
    line = _failure(result)
    assert result.content.startswith("error: " + line), "the model is told the English"
    shown = assert_said_in_korean(failure_msg(line), line)
    for word in korean_words:
        assert word in shown, (word, shown)


SAMPLES = {
    "service": "Brave Search", "mb": "2", "seconds": "10", "host": "api.example.com:443", "error": "ConnectTimeout",
    "code": "503", "field": "pages", "place": "'Atlantis'", "from_unit": "'km'", "to_unit": "'kg'",
    "unit": "'parsec'", "from_dim": "length", "from_symbol": "km", "to_dim": "mass", "to_symbol": "kg",
    "hint": "Did you mean: pi", "reason": "the calculation failed", "formula": "'x^^2'",
    "problem": "a test run in the sandbox failed", "platform": "darwin", "signal": "9", "name": "'get_weather'",
    "tools": "brave_search, get_weather", "tool": "get_weather", "type": "list", "arg": "'city'",
    "choices": "celsius, fahrenheit", "value": "'ten'", "expected": "city, unit",
}
FAILURES = sorted(k for k in catalogue("en") if k.startswith("toolnotes.failure."))


@pytest.mark.parametrize("key", FAILURES, ids=lambda k: k.rsplit(".", 1)[-1])
def test_each_failure_the_tools_write_is_read_back_as_itself_and_said_in_korean(key: str) -> None:
    """No template shadows another: each failure, written with plausible values, is read back as its own."""
    template = catalogue("en")[key]
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    line = template.format(**{name: SAMPLES[name] for name in fields})
    found = failure_msg(line)
    assert isinstance(found, Msg) and found.key == key, (line, found)
    assert_said_in_korean(found, line)


def test_a_failure_in_a_servers_own_words_shows_as_it_came() -> None:
    for line in ("Quota exceeded for project 123", "", "x" * 5000):
        assert failure_msg(line) == line


# --- a turn's footer and the loop's notes --------------------------------------------------------------------------


def test_a_turns_footer_reads_in_korean() -> None:
    turn = Turn(question="q", elapsed_s=3.21, requests=2, tokens=1234,
                steps=[ToolStep(raw_output="", call=ToolCall("brave_search", {"query": "x"}))])
    assert turn.summary == "3.2 s · 2 model requests · 1,234 tokens · 1 tool call"
    assert turn.summary_in("ko") == "3.2초 · 모델 요청 2회 · 토큰 1,234개 · 도구 호출 1회"
    turn.requests, turn.tokens, turn.steps = 1, 0, []
    assert turn.summary == "3.2 s · 1 model request" and turn.summary_in("ko") == "3.2초 · 모델 요청 1회"


CALL = '<|python_tag|>brave_search.call(query="Stockholm weather")<|eom_id|>'
VLLM_OVERFLOW = {"error": {"message": "This model's maximum context length is 2048 tokens. However, your prompt "
                                      "contains at least 2049 input tokens. (parameter=input_tokens, value=2049)",
                           "type": "BadRequestError", "param": "input_tokens", "code": 400}}


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as s:
        yield s


def _notes(settings, stub: StubServer, question: str, tools=("brave_search",), history=(), **kw) -> list[Note]:
    events = list(run_turn(settings, "meta/Meta-Llama-3.1-405B-Instruct", list(history), question, list(tools),
                           stub.tool_config(timeout_s=3), today=dt.date(2026, 11, 26), **kw))
    assert isinstance(events[-1], Done) and events[-1].turn.error is None, events[-1]
    return [e for e in events if isinstance(e, Note)]


def test_the_note_on_a_refused_way_of_returning_results_reads_in_korean(double: ApiDouble, settings,
                                                                        stub: StubServer) -> None:
    def strict(body: dict) -> Reply:
        if any(m["role"] == "tool" for m in body["messages"]):
            return Reply.bad_request("Invalid message role 'tool' for this model.")
        return Reply(text="Answer.")

    double.queue(Reply(text=CALL))
    double.responder = strict
    first, second = _notes(settings, stub, "What is the weather in Stockholm?")
    english = ("The server refused tool results sent as “assistant tool_calls + tool message”; retrying with “call "
               "as text + tool message”.")
    assert first.text == english
    shown = assert_said_in_korean(first.msg, english)
    assert "tool_calls" in shown and "글로 쓴 호출" in shown
    assert_said_in_korean(second.msg, second.text)
    assert "user 메시지로 보낸 결과" in korean(second.msg)


def test_the_note_on_a_conversation_too_long_reads_in_korean(double: ApiDouble, settings, stub: StubServer) -> None:
    history = [Turn(question=f"question {i} " + "word " * 200, answer="answer " * 200,
                    model="meta/Meta-Llama-3.1-405B-Instruct") for i in range(6)]
    double.queue(Reply(status=400, body=VLLM_OVERFLOW), Reply(text="Short answer."))
    notes = [n for n in _notes(settings, stub, "And now?", tools=(), history=history, context_tokens=8000)
             if n.msg is not None and n.msg.key == "toolnotes.note.too_long"]
    assert [n.text for n in notes] == ["The server said the conversation is too long for Llama 3.1 405B; sending it "
                                       "again with fewer earlier turns."]
    assert "Llama 3.1 405B" in assert_said_in_korean(notes[0].msg, notes[0].text)


# --- the page's lines, in a Korean session ---------------------------------------------------------------------------


@pytest.fixture
def korean_page(monkeypatch: pytest.MonkeyPatch) -> Any:
    import ui.i18n
    import ui.tool_views

    monkeypatch.setattr(ui.i18n, "language", lambda: "ko")
    monkeypatch.setattr(ui.tool_views, "language", lambda: "ko")
    return ui.tool_views


def test_the_line_under_a_failed_call_reads_in_korean(korean_page: Any) -> None:
    result = run("convert_units", {"value": 3, "from_unit": "km", "to_unit": "kg"})
    line = korean_page.ran_line(ToolStep(raw_output="", call=ToolCall("convert_units", {}), result=result))
    assert "cannot convert" not in line and "local unit table" not in line
    assert "길이 (km) → 질량 (kg)" in line and "내장 단위표" in line


def test_the_line_under_a_cached_call_and_the_turns_footer_read_in_korean(korean_page: Any) -> None:
    result = ToolResult("brave_search", {}, "1. A — https://a\n2. B — https://b", True,
                        brave_search.BRAVE + CACHED_TOOL_SOURCE, False, 0.0)
    step = ToolStep(raw_output="", call=ToolCall("brave_search", {"query": "x"}), result=result)
    line = korean_page.ran_line(step)
    assert "결과 2개" in line and "Brave Search API (캐시에서)" in line and "results" not in line
    turn = Turn(question="q", steps=[step], elapsed_s=1.0, requests=1, model="meta/Meta-Llama-3.1-405B-Instruct",
                provider="OpenRouter", cached="cache")
    footer = korean_page.footer(turn)
    assert "모델 요청 1회" in footer and "캐시" in footer and "model request" not in footer and "quota" not in footer


def test_the_korean_tool_page_says_the_tools_status_the_call_and_the_footer_in_korean(double: ApiDouble,
                                                                                      stub: StubServer) -> None:
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from lib import client
    from tests.conftest import TEST_TOKEN

    client.clear_models_cache()
    double.queue(Reply(text=CALL), Reply(text="Cloudy and 3 °C in Stockholm."))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60)
    at.secrets["MODELS_PROVIDER"] = "custom"
    at.secrets["MODELS_API_KEY"] = TEST_TOKEN
    at.secrets["MODELS_ENDPOINT"] = double.endpoint
    for k, v in stub.env().items():
        at.secrets[k] = v
    at.session_state["lang"] = "ko"
    at.run()
    at.switch_page("pages/tool_calling.py").run()
    captions = " ".join(c.value for c in at.caption)
    assert "Brave API 키가 있습니다 (사용자 지정 엔드포인트 127.0.0.1:" in captions, captions
    assert "오프라인: 내장 단위표" in captions and "API key found" not in captions and "Offline:" not in captions
    tips = {box.label: box.help for box in at.checkbox}
    assert tips["웹 검색 (Brave)"].startswith("웹에서 최신 정보를 검색합니다.") and "Search the web" not in tips["웹 검색 (Brave)"]
    at.chat_input[0].set_value("스톡홀름 날씨 검색해 줘").run()
    assert not at.exception, at.exception
    ran = [m.value for m in at.markdown if "Brave Search API" in m.value]
    assert ran and "결과" in ran[0] and " result" not in ran[0], ran
    footer = " ".join(c.value for c in at.caption)
    assert "모델 요청 2회" in footer and "도구 호출 1회" in footer and "model requests" not in footer
