"""Issue 24: every error explanation reads in Korean on a Korean page, while its English (`title`, `message`, what
logs, transcripts and the existing tests read) stays exactly as it was.

Each failure `explain()` can report is built the way the other error tests build it (an SDK exception around a
server's answer, or the app's own exception), then shown in both languages; so are the tool page's dead ends and the
note that says a model was passed over.
"""

from __future__ import annotations

import json
import re

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)

from lib import tools
from lib.answers.compare import side_of_turn
from lib.answers.transcript import from_json, to_json, tool_transcript, tool_turns_from_transcript
from lib.common.safe_text import error_as_text
from lib.hosts.errors import (ErrorKind, NoProviderError, NoTokenError, QuestionTooLong, StreamDeadline, UserError,
                              explain)
from lib.hosts.limits import SlotTimeout
from lib.i18n import say
from lib.tool_calling.llama_prompt import ToolCall
from lib.tool_calling.loop import Done, Note, ToolStep, Turn, capped_error, failure_reason, failure_reason_msg, \
    run_turn, tool_dead_end
from tests import test_errors_catalog as catalog_tests
from tests.api_double import ApiDouble, Reply

HANGUL = re.compile("[\uac00-\ud7a3]")
# Three English words in a row: a sentence (or part of one) left in English. Names the Korean keeps ("Llama 3.2
# Vision", "Open-Meteo", `MODELS_API_KEY`) are never three plain words.
ENGLISH_RUN = re.compile(r"\b[A-Za-z']+ [A-Za-z']+ [A-Za-z']+\b")


_Resp = catalog_tests._Resp  # a minimal azure-core response (tests/test_errors_catalog.py)


def _http(status: int, body: object, headers: dict[str, str] | None = None, request_headers: dict[str, str] | None
          = None, cls: type = HttpResponseError, url: str = "http://127.0.0.1/v1/chat/completions") -> Exception:
    return cls(response=_Resp(status, body, headers, request_headers, url))


def _e(code: object, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


CASES = {
    "no_token": lambda: NoTokenError(),
    "no_provider": lambda: NoProviderError(),
    "question_too_long": lambda: QuestionTooLong(1_048_576, 20_000),
    "no_progress": lambda: StreamDeadline("no_progress", 120),
    "no_progress_kept": lambda: StreamDeadline("no_progress", 120, got_text=True),
    "turn_deadline": lambda: StreamDeadline("turn", 900),
    "turn_deadline_kept": lambda: StreamDeadline("turn", 900, got_text=True),
    "request_deadline": lambda: StreamDeadline("request", 300),
    "request_deadline_kept": lambda: StreamDeadline("request", 0.5, got_text=True),
    "slot_timeout": lambda: SlotTimeout(3, "k", 120),
    "timeout": lambda: ServiceResponseTimeoutError("Read timed out"),
    "offline": lambda: ServiceRequestError("Connection refused"),
    "offline_os": lambda: ConnectionRefusedError(111, "Connection refused"),
    "cut_off": lambda: ServiceResponseError("Connection broken: IncompleteRead"),
    "cut_off_200": lambda: _http(200, {}),
    "bad_sse": lambda: ValueError("SSE event not supported (line `b': keep-alive'`)"),
    "unknown": lambda: RuntimeError("boom"),
    "redirected": lambda: _http(307, {}),
    "mllama": lambda: _http(500, _e(500, "unknown model architecture: 'mllama'")),
    "retired_route": lambda: _http(404, _e("NotFound", "The /models route has been retired."),
                                   url="https://res.services.ai.azure.com/models/chat/completions"),
    "retired_date": lambda: _http(410, {"detail": "The model has reached its end of life on 2026-04-15."}),
    "retired": lambda: _http(410, _e("gone", "Gone")),
    "payment": lambda: _http(402, _e(402, "Insufficient credits")),
    "concurrent": lambda: _http(429, _e("x", "Too many concurrent requests")),
    "daily": lambda: _http(429, _e("RateLimitReached", "limit"),
                           {"retry-after": "24367", "x-ratelimit-type": "UserByModelByDay"}),
    "per_minute": lambda: _http(429, _e("RateLimitReached", "limit"), {"retry-after": "30"}),
    "content_filter": lambda: _http(400, _e("content_filter", "The response was filtered")),
    "context_limit": lambda: _http(400, _e(400, "This model's maximum context length is 2048 tokens. However, your "
                                                "prompt contains at least 2049 input tokens")),
    "context": lambda: _http(400, _e("context_length_exceeded", "too many tokens")),
    "image": lambda: _http(400, _e(400, "x is not a multimodal model")),
    "too_large": lambda: _http(413, _e("tokens_limit_reached", "Request body too large")),
    "needs_key": lambda: _http(401, {"error": "Unauthorized"}, request_headers={}),
    "auth": lambda: _http(401, _e("unauthorized", "Bad credentials"), cls=ClientAuthenticationError),
    "permission": lambda: _http(403, _e("no_access", "No access to model")),
    "model_not_found": lambda: _http(404, _e("unknown_model", "Unknown model: x"), cls=ResourceNotFoundError),
    "server": lambda: _http(503, _e("service_unavailable", "busy")),
    "bad_request": lambda: _http(400, _e("invalid_request", "Something else")),
    "unexpected": lambda: _http(422, {"code": "x", "message": "Unprocessable"}),
}

# What each case said before issue 24, to the character (kind, title, message).
ENGLISH = {
    'no_token': ('NO_TOKEN', 'No key for this provider',
        "Add the provider's key in the sidebar or in .streamlit/secrets.toml (see Home), or pick Ollama."),
    'no_provider': ('NO_PROVIDER', 'No provider configured',
        'Pick where Llama runs in the sidebar (see Home for how to set one up).'),
    'question_too_long': ('QUESTION_TOO_LONG', 'The question is too long',
        'This question is 1,048,576 characters; the limit is 20,000. Shorten it (send the part that matters), then '
        'ask again. Nothing was sent.'),
    'no_progress': ('NO_PROGRESS', 'No answer is arriving',
        'The server kept the connection open for 120 s without sending any text; stopped waiting. It may be '
        'overloaded or stuck: send again, or pick another model or provider in the sidebar.'),
    'no_progress_kept': ('NO_PROGRESS', 'The answer stopped arriving',
        'The server kept the connection open for 120 s without sending any more text; stopped waiting. What arrived '
        'is kept; send again to retry.'),
    'turn_deadline': ('DEADLINE', 'This question took too long',
        'Answering it took more than 15 min in all (every model request and tool call together), the most one '
        'question may take; stopped waiting. Send again, or ask something simpler.'),
    'turn_deadline_kept': ('DEADLINE', 'This question took too long',
        'Answering it took more than 15 min in all (every model request and tool call together), the most one '
        'question may take; stopped waiting. What arrived is kept; send again to retry.'),
    'request_deadline': ('DEADLINE', 'The answer took too long',
        'The model was still answering after 300 s, the most one request may take; stopped waiting. Send again, or '
        'pick a faster model or provider.'),
    'request_deadline_kept': ('DEADLINE', 'The answer took too long',
        'The model was still answering after 0.5 s, the most one request may take; stopped waiting. What arrived is '
        'kept; send again to retry.'),
    'slot_timeout': ('RATE_LIMIT_CONCURRENT', 'Everyone is asking at once',
        'Every slot for this model stayed busy for 120 s (you were 3rd in line). Send again in a moment, or pick '
        'another model or provider in the sidebar.'),
    'timeout': ('TIMEOUT', 'The model took too long',
        'No answer arrived in time. The service may be busy: try again, or try a smaller model.'),
    'offline': ('OFFLINE', 'Cannot reach the endpoint',
        'The connection failed. Check the network and the endpoint URL in the sidebar.'),
    'offline_os': ('OFFLINE', 'Cannot reach the endpoint',
        'The connection failed. Check the network and the endpoint URL in the sidebar.'),
    'cut_off': ('BAD_STREAM', 'The answer was cut off',
        'The connection dropped while the answer was arriving. What arrived is kept; send again to retry.'),
    'cut_off_200': ('BAD_STREAM', 'The answer was cut off',
        'The connection dropped while the answer was arriving. What arrived is kept; send again to retry.'),
    'bad_sse': ('BAD_STREAM', 'The stream could not be read',
        "The server's streamed answer was not in a format the client understands."),
    'unknown': ('UNKNOWN', 'Something went wrong',
        'An unexpected error happened. Details below; your conversation is kept.'),
    'redirected': ('REDIRECTED', 'The server answered with a redirect',
        'It pointed the request to another address. The app does not follow redirects, so your key stays with the '
        'host it was given for: check the endpoint URL (a trailing /v1, http or https).'),
    'mllama': ('MODEL_NOT_FOUND', "Ollama can't run Llama 3.2 Vision",
        "Ollama 0.30+ can't run Llama 3.2 Vision: add an NVIDIA key for the exact 90B, pull llama4:scout if the "
        'machine has the memory, or use Ollama 0.29 or older.'),
    'retired_route': ('RETIRED', "This endpoint's route was retired",
        'This Azure endpoint uses the retired /models route: use https://<resource>.openai.azure.com/openai/v1'),
    'retired_date': ('RETIRED', 'This service or model was retired',
        'It reached its end of life on 2026-04-15. Pick another model or provider in the sidebar.'),
    'retired': ('RETIRED', 'This service or model was retired',
        'The server says it is gone for good. Pick another model or provider in the sidebar.'),
    'payment': ('PAYMENT', 'This model needs credits',
        'The provider refused the request for lack of credits on this key. Add credits, or pick a free model (on '
        'OpenRouter the ones ending in `:free`).'),
    'concurrent': ('RATE_LIMIT_CONCURRENT', 'Too many requests at once',
        'The provider lets only a few requests to this model run at the same time, and they are all taken (perhaps '
        'by other apps using the same key). Send again in a few seconds.'),
    'daily': ('RATE_LIMIT_DAY', 'Daily limit reached',
        "This model's daily quota is used up. It resets in about 6 h 46 min. Switch to another model or provider in "
        'the sidebar, or use a paid endpoint.'),
    'per_minute': ('RATE_LIMIT_MINUTE', 'Too many requests',
        'The per-minute limit was reached. Wait 30 s and send again.'),
    'content_filter': ('CONTENT_FILTER', 'Blocked by the content filter',
        "The provider's content filter refused this prompt or its answer. Rephrase it and try again."),
    'context_limit': ('CONTEXT_TOO_LONG', 'This conversation is too long for the model',
        'The conversation no longer fits in what this model can read at once (2048 tokens). Start a New chat, or ask '
        'a shorter question.'),
    'context': ('CONTEXT_TOO_LONG', 'This conversation is too long for the model',
        'The conversation no longer fits in what this model can read at once. Start a New chat, or ask a shorter '
        'question.'),
    'image': ('IMAGE_NOT_SUPPORTED', 'This model does not read images',
        "The model you picked reads text only. Pick a vision model (Llama 3.2 Vision or Llama 4) in the page's model "
        'picker or in the sidebar, then send again.'),
    'too_large': ('TOO_LARGE', 'The request is too large',
        'The conversation (or image) is bigger than this model accepts. Start a new chat, shorten the text, or use a '
        'smaller image.'),
    'needs_key': ('NEEDS_KEY', 'This server needs a key',
        "The server asks for a key and none was sent. Set MODELS_API_KEY (or the provider's key) in "
        '.streamlit/secrets.toml or the environment, or paste it in the sidebar.'),
    'auth': ('AUTH', 'The key was refused',
        'The provider did not accept the key. Check it in the sidebar (or in .streamlit/secrets.toml), make a new '
        "one on the provider's key page if needed, then send again."),
    'permission': ('PERMISSION', 'Not allowed',
        'The key is valid but may not use this model. Check that the model is enabled for your account (some hosts '
        "ask you to accept the model's licence first)."),
    'model_not_found': ('MODEL_NOT_FOUND', 'Model not found',
        'The provider does not serve this model (any more). Pick another model on the page, or check the model name '
        'and endpoint in the sidebar.'),
    'server': ('SERVER', 'The model service had a problem',
        'The server answered 503. This is usually temporary: try again in a moment.'),
    'bad_request': ('BAD_REQUEST', 'The request was refused',
        'The server refused the request as sent. Details below.'),
    'unexpected': ('UNKNOWN', 'Unexpected answer (422)',
        'The server answered with an error. Details below.'),
}


def _assert_korean(english: tuple[str, str], korean: tuple[str, str]) -> None:
    for en, ko in zip(english, korean):
        assert HANGUL.search(ko), ko
        assert not ENGLISH_RUN.search(ko), ko
        assert en not in ko


@pytest.mark.parametrize("case", list(CASES))
def test_every_explained_failure_reads_in_korean_and_keeps_its_english(case: str) -> None:
    err = explain(CASES[case]())
    kind, title, message = ENGLISH[case]
    assert (err.kind.name, err.title, err.message) == (kind, title, message)
    assert err.shown("en") == (title, message)
    _assert_korean((title, message), err.shown("ko"))


def test_every_kind_of_error_is_checked_here() -> None:
    checked = {kind for kind, _, _ in ENGLISH.values()} | {"TOOL_FAILED", "TOOL_LOOP"}
    assert {k.name for k in ErrorKind} <= checked


@pytest.mark.parametrize("case, words", [
    ("question_too_long", ["1,048,576자", "20,000자"]),
    ("slot_timeout", ["120초", "3번째"]),
    ("no_progress", ["120초"]),
    ("turn_deadline", ["15분"]),
    ("request_deadline_kept", ["0.5초"]),
    ("daily", ["6시간 46분"]),
    ("per_minute", ["30초"]),
    ("context_limit", ["2048"]),
    ("retired_date", ["2026-04-15"]),
    ("server", ["503"]),
    ("unexpected", ["422"]),
    ("retired_route", ["https://<resource>.openai.azure.com/openai/v1"]),
    ("payment", ["`:free`"]),
    ("needs_key", ["MODELS_API_KEY", ".streamlit/secrets.toml"]),
])
def test_the_korean_keeps_the_numbers_waits_and_names(case: str, words: list[str]) -> None:
    title, message = explain(CASES[case]()).shown("ko")
    for word in words:
        assert word in title + message


def test_an_error_without_catalogue_texts_shows_its_own_words_in_any_language() -> None:
    made = UserError(ErrorKind.UNKNOWN, "Imported title", "Imported message")
    assert made.shown("ko") == ("Imported title", "Imported message")
    assert made == UserError(ErrorKind.UNKNOWN, "Imported title", "Imported message",
                             says=explain(NoTokenError()).says)  # says is not part of equality


def test_escaping_an_error_for_display_keeps_its_korean() -> None:
    err = explain(CASES["payment"]())
    shown = error_as_text(err)
    assert shown.says == err.says and shown.shown("ko") == err.shown("ko")


# --- the tool page: dead ends, the round cap, an empty answer, a model passed over -------------------------------


def _failed(name: str, line: str, source: str, fallback: bool = False) -> ToolStep:
    return ToolStep("", ToolCall(name, {}), tools.ToolResult(name, {}, f"error: {line}", False, source, fallback, 0.1))


DEAD_ENDS = [
    (_failed("get_weather", "could not connect to Open-Meteo (api.open-meteo.com)", "Open-Meteo"), 2,
     "Current weather failed twice",
     "This machine can't reach the internet to use Open-Meteo (check the venue Wi-Fi or the network cable). The model "
     "was not asked again, to save requests. Retry this question once that is fixed, or switch the tool off and ask "
     "again."),
    (_failed("brave_search", "Brave Search rejected the API key", "Brave Search API", fallback=True), 3,
     "Web search failed 3 times",
     "Brave Search refused the key (check `BRAVE_API_KEY`, or remove it to search Wikipedia instead); with no Brave "
     "key set, web search uses Wikipedia. The model was not asked again, to save requests. Retry this question once "
     "that is fixed, or switch the tool off and ask again."),
    (_failed("get_local_time", "unknown city or time zone 'Atlantis': ask with an IANA time zone name such as "
             "'Europe/Stockholm' or 'America/New_York', a major city such as 'Tokyo', or an offset like 'UTC+2'",
             "local clock"), 2,
     "Local time failed twice",
     "It couldn't answer what the model asked (unknown city or time zone 'Atlantis': ask with an IANA time zone name "
     "such as 'Europe/Stockholm' or 'America/New_York', a major city such as 'Tokyo', or an offset like 'UTC+2'). "
     "The model was not asked again, to save requests. Retry this question, perhaps worded differently, or switch "
     "the tool off and ask again."),
]


@pytest.mark.parametrize("step, times, title, message", DEAD_ENDS)
def test_a_tool_that_keeps_failing_ends_the_turn_in_korean(step: ToolStep, times: int, title: str,
                                                             message: str) -> None:
    err = tool_dead_end([step] * times, times)
    assert err is not None and err.kind is ErrorKind.TOOL_FAILED
    assert (err.title, err.message) == (title, message)
    assert err.shown("en") == (title, message)
    _assert_korean((title, message), err.shown("ko"))


# One failed call of each kind `failure_reason` tells apart (the tool's own line as each tool writes it).
REASONS = [
    ("brave_search", "could not connect to Brave Search (api.search.brave.com)", "Brave Search API", False),
    ("get_weather", "could not connect to Open-Meteo (127.0.0.1:8080)", "Open-Meteo", False),
    ("get_weather", "request to Open-Meteo failed (ConnectionResetError)", "Open-Meteo", False),
    ("wolfram_alpha", "Wolfram|Alpha did not answer within 10 s", "Wolfram|Alpha", False),
    ("brave_search", "Brave Search rejected the API key (401)", "Brave Search API", False),
    ("wolfram_alpha", "Wolfram|Alpha rejected the AppID (403): check WOLFRAM_ALPHA_APP_ID", "Wolfram|Alpha", False),
    ("get_weather", "Open-Meteo refused the request (401)", "Open-Meteo", False),
    ("brave_search", "Brave Search rate limit reached (429), try again later", "Brave Search API", False),
    ("get_weather", "Open-Meteo server error (503)", "Open-Meteo", False),
    ("get_weather", "Open-Meteo endpoint not found (404) at api.open-meteo.com", "Open-Meteo", False),
    ("get_weather", "Open-Meteo returned malformed JSON", "Open-Meteo", False),
    ("wolfram_alpha", "Wolfram|Alpha is not configured and the local fallback can't solve this", "SymPy", False),
    ("code_interpreter", "code_interpreter is disabled (set ALLOW_CODE_INTERPRETER=1)", "", False),
    ("code_interpreter", "code_interpreter is not enabled in this chat", "", False),
    ("no_such_tool", "unknown tool: no_such_tool", "", False),
    ("code_interpreter", "the sandbox could not start python", "", False),
    ("code_interpreter", "the code failed: ZeroDivisionError", "", False),
    ("convert_units", "unknown unit 'parsec'", "local units", False),
    ("brave_search", "Brave Search rejected the API key (401)", "Wikipedia search (fallback)", True),
]


@pytest.mark.parametrize("name, line, source, fallback", REASONS)
def test_why_a_tool_failed_reads_in_korean(name: str, line: str, source: str, fallback: bool) -> None:
    step = _failed(name, line, source, fallback)
    reason = failure_reason_msg(step)
    assert str(reason) == failure_reason(step)
    korean = say("ko", reason)
    assert HANGUL.search(korean) and not ENGLISH_RUN.search(korean), korean


def test_a_step_that_never_ran_reads_in_korean() -> None:
    step = ToolStep("", ToolCall("get_weather", {}), None)
    assert failure_reason(step) == "the tool did not run"
    assert HANGUL.search(say("ko", failure_reason_msg(step)))


def test_the_catalogue_names_each_tool_as_the_tool_page_does() -> None:
    for name, spec in tools.TOOLS.items():
        step = _failed(name, "something odd", "")
        title = tool_dead_end([step, step]).title
        assert title == f"{spec.title.split(' (')[0]} failed twice"
        assert HANGUL.search(tool_dead_end([step, step]).shown("ko")[0])


@pytest.mark.parametrize("rounds, ran, asked, title, message", [
    (3, ["get_weather", "get_weather"], ["convert_units"], "Stopped after 3 rounds of tool calls",
     "The model kept asking for tools instead of answering (calls run: `get_weather` ×2; it then asked for "
     "`convert_units` again), so the app stopped rather than spend more requests. Retry this question, ask it more "
     "directly, or switch off the tools it doesn't need."),
    (1, [], [], "Stopped after 1 round of tool calls",
     "The model kept asking for tools instead of answering (calls run: none), so the app stopped rather than spend "
     "more requests. Retry this question, ask it more directly, or switch off the tools it doesn't need."),
])
def test_the_round_cap_reads_in_korean(rounds: int, ran: list[str], asked: list[str], title: str,
                                       message: str) -> None:
    turn = Turn(question="q", steps=[ToolStep("", ToolCall(n, {}), None) for n in ran])
    err = capped_error(turn, rounds, [ToolCall(n, {}) for n in asked])
    assert err.kind is ErrorKind.TOOL_LOOP and (err.title, err.message) == (title, message)
    _assert_korean((title, message), err.shown("ko"))
    for name in ran + asked:
        assert f"`{name}`" in err.shown("ko")[1]


def test_an_empty_answer_reads_in_korean(double: ApiDouble, settings) -> None:
    double.queue(Reply(text=""))
    events = list(run_turn(settings, "m", [], "Hello?", [], tools.ToolConfig()))
    err = events[-1].turn.error
    assert isinstance(events[-1], Done) and (err.title, err.message) == (
        "Empty answer", "The model returned no text. Send the question again.")
    _assert_korean((err.title, err.message), err.shown("ko"))


def test_a_model_passed_over_is_said_in_korean(double: ApiDouble, settings) -> None:
    double.queue(Reply.unknown_model("m"), Reply(text="Hi."))
    events = list(run_turn(settings, "m", [], "Hello?", [], tools.ToolConfig(),
                           next_model=lambda model: "m2" if model == "m" else None))
    notes = [e for e in events if isinstance(e, Note)]
    assert [n.text for n in notes] == [
        "`m` answered “model not found”, so it is skipped for a while; the same request went to `m2` (m2)."]
    assert events[-1].turn.notes == [notes[0].text]
    korean = say("ko", notes[0].msg)
    assert "모델을 찾을 수 없습니다" in korean and "`m2`" in korean and not ENGLISH_RUN.search(korean)


PNG_1PX = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
           "AAAABJRU5ErkJggg==")


@pytest.mark.parametrize("lang, said", [
    ("en", "`m` answered “this service or model was retired”, so it is skipped for a while; the same request went to "
           "`m2` (m2)."),
    ("ko", "“이 서비스나 모델은 폐지되었습니다”"),  # the rest of the sentence is vision.turn.model_skipped's
])
def test_the_vision_page_says_a_passed_over_model_in_its_language(double: ApiDouble, settings, lang: str,
                                                                  said: str) -> None:
    from lib.vision.answer import VisionAnswer

    double.queue(Reply.gone("m"), Reply(text="A red card."))
    answer = VisionAnswer(settings, "m", PNG_1PX, [("user", "What is it?")], lang=lang,
                          next_model=lambda model: "m2" if model == "m" else None)
    assert "".join(answer) == "A red card."
    assert len(answer.notes) == 1 and said in answer.notes[0]
    assert lang == "en" and answer.notes == [said] or not ENGLISH_RUN.search(answer.notes[0])


def test_the_title_quoted_in_a_sentence() -> None:
    gone = explain(CASES["model_not_found"]())
    assert gone.title_in_sentence("en") == "model not found"
    assert gone.title_in_sentence("ko") == "모델을 찾을 수 없습니다"
    busy = explain(CASES["per_minute"]())  # no quoted form: the title as shown
    assert busy.title_in_sentence("en") == "too many requests"
    assert busy.title_in_sentence("ko") == busy.shown("ko")[0]
    made = UserError(ErrorKind.RETIRED, "Imported Title", "m")
    assert made.title_in_sentence("ko") == "imported title"


# --- where errors are kept: a transcript, a compared side -------------------------------------------------------


def _failed_turn() -> Turn:
    turn = Turn(question="Weather?", model="m", provider="Your server")
    turn.error = explain(CASES["daily"]())
    return turn


def test_a_reloaded_conversation_keeps_its_error_in_korean() -> None:
    saved = json.loads(json.dumps(tool_transcript([_failed_turn()], provider="p", model="m")))  # the session store
    err = tool_turns_from_transcript(saved)[0].error
    assert (err.title, err.message) == (_failed_turn().error.title, _failed_turn().error.message)
    assert err.shown("ko") == _failed_turn().error.shown("ko") and "6시간 46분" in err.shown("ko")[1]


def test_an_imported_transcript_shows_its_errors_own_words() -> None:
    text = to_json(tool_transcript([_failed_turn()], provider="p", model="m"))
    assert '"says"' in text  # written, for this app's own reload
    err = tool_turns_from_transcript(from_json(text, kind="tools"))[0].error
    assert err.says is None and err.shown("ko") == (err.title, err.message)


def test_a_damaged_says_falls_back_to_the_english() -> None:
    saved = json.loads(json.dumps(tool_transcript([_failed_turn()], provider="p", model="m")))
    saved["turns"][0]["error"]["says"] = [{"key": "errors.no.such.key", "values": {}}, "x"]
    err = tool_turns_from_transcript(saved)[0].error
    assert err.says is None and err.shown("ko") == (err.title, err.message)


def test_a_compared_side_says_its_error_in_the_page_language() -> None:
    turn = _failed_turn()
    assert side_of_turn(turn, None).error == f"{turn.error.title}. {turn.error.message}"
    korean = side_of_turn(turn, None, lang="ko").error
    assert korean.startswith("일일 한도에 도달했습니다. ") and HANGUL.search(korean)


# --- on the page --------------------------------------------------------------------------------------------------


def test_the_korean_tool_page_shows_its_error_box_in_korean(double: ApiDouble) -> None:
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from lib import client
    from tests.conftest import TEST_TOKEN

    client.clear_models_cache()
    double.queue(Reply.rate_limit_minute(wait=42))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=60)
    at.secrets["MODELS_PROVIDER"] = "custom"
    at.secrets["MODELS_API_KEY"] = TEST_TOKEN
    at.secrets["MODELS_ENDPOINT"] = double.endpoint
    at.session_state["lang"] = "ko"
    at.run()
    at.switch_page("pages/tool_calling.py").run()
    at.chat_input[0].set_value("스톡홀름 날씨는?").run()
    assert not at.exception, at.exception
    boxes = " ".join(e.value for e in at.error)
    assert "**요청이 너무 많습니다.** 분당 한도에 도달했습니다. 42초 기다린 뒤 다시 보내세요." in boxes, boxes
    assert "Too many requests" not in boxes and "per-minute" not in boxes


def _noted_turn() -> Turn:
    from lib.hosts.budget import budget_msg
    turn = Turn(question="Weather?", model="m", provider="Your server", answer="Sunny.")
    assert turn.add_note(budget_msg(2, 8192, "Llama 3.1 8B")) and not turn.add_note(budget_msg(2, 8192, "Llama 3.1 8B"))
    turn.add_note("A note from somewhere else.")
    return turn


def test_a_turns_notes_read_in_the_page_language_and_after_a_reload() -> None:
    turn = _noted_turn()
    assert turn.notes[0] == "2 earlier turns were left out to fit Llama 3.1 8B's 8k input."
    korean = turn.notes_in("ko")
    assert HANGUL.search(korean[0]) and "earlier turns" not in korean[0]
    assert korean[1] == "A note from somewhere else."  # not the app's: as written
    saved = json.loads(json.dumps(tool_transcript([turn], provider="p", model="m")))  # the session store
    assert tool_turns_from_transcript(saved)[0].notes_in("ko") == korean


def test_an_imported_transcripts_notes_show_as_written() -> None:
    text = to_json(tool_transcript([_noted_turn()], provider="p", model="m"))
    turn = tool_turns_from_transcript(from_json(text, kind="tools"))[0]
    assert turn.notes_in("ko") == turn.notes == _noted_turn().notes
