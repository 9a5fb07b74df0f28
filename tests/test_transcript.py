"""Transcript export/import: round trips, Markdown shape, redaction everywhere, hostile JSON refused."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json

import pytest
from PIL import Image

from lib.common import redact as registry
from lib.hosts.errors import ErrorKind, UserError
from lib.tool_calling.llama_prompt import ToolCall
from lib.tool_calling.loop import ToolStep, Turn
from lib.tools.base import ToolResult
from lib.answers.transcript import (
    MAX_JSON_BYTES,
    MAX_THUMBNAIL_BYTES,
    REDACTED,
    TranscriptError,
    call_line,
    from_json,
    redact,
    redact_data,
    thumbnail_data_url,
    to_json,
    to_markdown,
    tool_transcript,
    tool_turns_from_transcript,
    vision_transcript,
    vision_turns_from_transcript,
)

FAKE_KEY = "nvapi-FAKEKEY0123456789abcdefXYZ"
PLAIN_SECRET = "Zq7-plain-secret-value"  # no recognisable shape: only found because it is passed in
WHEN = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.timezone.utc)
CALL_RAW = '<|python_tag|>brave_search.call(query="Stockholm weather")<|eom_id|>'


def _jpeg(size: tuple[int, int] = (64, 48), noise: bool = False) -> bytes:
    img = Image.new("RGB", size, (200, 120, 40))
    if noise:
        img = Image.effect_noise(size, 120).convert("RGB")
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95)
    return out.getvalue()


def _turn(secret: str = "") -> Turn:
    turn = Turn(question="What is the weather in Stockholm?")
    turn.model, turn.endpoint = "meta/llama-3.1-405b-instruct", "https://integrate.api.nvidia.com/v1"
    step = ToolStep(raw_output=CALL_RAW, call=ToolCall("brave_search", {"query": "Stockholm weather"}, "builtin"))
    step.call_id = "call_ab12cd34ef56"
    step.result = ToolResult("brave_search", {"query": "Stockholm weather"},
                             f"Stockholm: 3 °C, cloudy. debug={secret}", True, "Brave Search API", False, 0.84,
                             "https://api.search.brave.com/res/v1/web/search?q=Stockholm+weather")
    turn.steps.append(step)
    step2 = ToolStep(raw_output='{"name": "get_weather", "parameters": {"city": "Stockholm"}}',
                     call=ToolCall("get_weather", {"city": "Stockholm"}, "json"))
    step2.result = ToolResult("get_weather", {"city": "Stockholm"}, "error: timed out", False, "Open-Meteo", True,
                              10.0, None)
    turn.steps.append(step2)
    turn.answer = "It is 3 °C and cloudy in Stockholm."
    turn.answer_raw = turn.answer + "<|eot_id|>"
    turn.notes = ["The server refused tool results sent as “x”; retrying with “y”."]
    turn.messages_sent = [
        {"role": "system", "content": "Environment: ipython\nToday Date: 26 November 2026"},
        {"role": "user", "content": f"What is the weather in Stockholm? my key is {secret}"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_ab12cd34ef56", "type": "function",
             "function": {"name": "brave_search", "arguments": '{"query": "Stockholm weather"}'}}]},
        {"role": "tool", "tool_call_id": "call_ab12cd34ef56", "content": "Stockholm: 3 °C"},
    ]
    turn.return_mode = "tool_calls"
    turn.elapsed_s, turn.requests, turn.tokens = 3.25, 3, 1234
    return turn


def _failed_turn(secret: str = "") -> Turn:
    turn = Turn(question="And tomorrow?", model="m2", endpoint="http://127.0.0.1:1/v1")
    turn.error = UserError(ErrorKind.RATE_LIMIT_DAY, "Daily limit reached", "Try again in 6 h 46 min.",
                           retry_after_s=24367.0, status=429, code="RateLimitReached",
                           detail=f"Authorization: Bearer {secret} was refused")
    turn.elapsed_s, turn.requests = 0.4, 0
    return turn


# Tool transcripts ----------------------------------------------------------------------------------------------


def test_tool_transcript_has_every_part_of_the_turn() -> None:
    d = tool_transcript([_turn()], provider="nvidia", model="meta/llama-3.1-405b-instruct", exported_at=WHEN)
    assert d["kind"] == "tools" and d["version"] == 1 and d["exported_at"] == "2026-11-26T09:30:00Z"
    assert (d["provider"], d["model"]) == ("nvidia", "meta/llama-3.1-405b-instruct")
    t = d["turns"][0]
    assert t["question"] == "What is the weather in Stockholm?"
    assert [s["call"]["name"] for s in t["steps"]] == ["brave_search", "get_weather"]
    s0 = t["steps"][0]
    assert s0["raw_output"] == CALL_RAW
    assert s0["call"]["arguments"] == {"query": "Stockholm weather"}
    assert s0["result"]["source"] == "Brave Search API" and s0["result"]["ok"] is True
    assert s0["result"]["elapsed_s"] == 0.84 and s0["result"]["url"].startswith("https://api.search.brave.com")
    assert t["steps"][1]["result"]["fallback"] is True and t["steps"][1]["result"]["ok"] is False
    assert t["answer"].startswith("It is 3 °C")
    assert t["timings"] == {"elapsed_s": 3.25} and t["usage"] == {"requests": 3, "tokens": 1234}
    assert t["notes"] and t["messages_sent"][0]["role"] == "system"
    assert t["error"] is None and t["provider"] == ""
    json.dumps(d, allow_nan=False)  # JSON-able as is


def test_provider_attribute_on_a_turn_is_exported_when_present() -> None:
    turn = _turn()
    object.__setattr__(turn, "provider", "openrouter")
    d = tool_transcript([turn], provider="nvidia", model="x")
    assert d["turns"][0]["provider"] == "openrouter"


def test_provider_and_tool_format_round_trip_when_turn_has_them() -> None:
    turn = _turn()
    object.__setattr__(turn, "provider", "OpenRouter")
    object.__setattr__(turn, "tool_format", "json")
    back = tool_turns_from_transcript(from_json(to_json(tool_transcript([turn], provider="p", model="m"))))[0]
    assert getattr(back, "provider", "") == "OpenRouter"
    if "tool_format" in Turn.__dataclass_fields__:
        assert back.tool_format == "json"


def test_a_stopped_or_cut_turn_stays_so_after_a_reload() -> None:
    """A reload restores turns from a transcript: "stopped", "cut at the length limit", the model the server named
    and what went to a template-rendering server must survive it."""
    turn = _turn()
    turn.stopped, turn.cut, turn.served_model = True, True, "llama3.1:8b-q4"
    turn.template_kwargs = {"chat_template_kwargs": {"builtin_tools": ["brave_search"], "date_string": "01 Dec"}}
    back = tool_turns_from_transcript(from_json(to_json(tool_transcript([turn], provider="p", model="m"))))[0]
    assert (back.stopped, back.cut, back.served_model) == (True, True, "llama3.1:8b-q4")
    assert back.template_kwargs == turn.template_kwargs


def test_error_is_exported_with_title_message_and_kind() -> None:
    d = tool_transcript([_failed_turn("abcdefgh1234")], provider="p", model="m")
    e = d["turns"][0]["error"]
    assert (e["kind"], e["title"], e["status"], e["code"]) == ("rate_limit_day", "Daily limit reached", 429,
                                                            "RateLimitReached")
    assert e["message"] == "Try again in 6 h 46 min." and e["retry_after_s"] == 24367.0


def test_json_round_trip_rebuilds_turn_objects() -> None:
    original = [_turn(), _failed_turn()]
    d = from_json(to_json(tool_transcript(original, provider="nvidia", model="m")), kind="tools")
    turns = tool_turns_from_transcript(d)
    assert len(turns) == 2
    a, b = turns
    assert isinstance(a, Turn) and isinstance(a.steps[0], ToolStep)
    assert a.question == original[0].question and a.answer == original[0].answer
    assert a.answer_raw == original[0].answer_raw
    assert a.steps[0].call == original[0].steps[0].call
    assert a.steps[0].result == original[0].steps[0].result
    assert a.steps[1].result == original[0].steps[1].result
    assert a.steps[0].call_id == "call_ab12cd34ef56"
    assert a.messages_sent == [], "only the last turn keeps its request (it holds the whole conversation)"
    assert b.messages_sent == original[1].messages_sent
    assert (a.model, a.endpoint, a.elapsed_s, a.requests, a.tokens) == (
        "meta/llama-3.1-405b-instruct", original[0].endpoint, 3.25, 3, 1234)
    assert a.return_mode == "tool_calls" and a.notes == original[0].notes and a.finished
    assert a.summary == original[0].summary
    assert b.error == original[1].error and not b.finished


def test_step_without_result_and_unknown_error_kind_survive_import() -> None:
    turn = Turn(question="q", steps=[ToolStep("raw", ToolCall("wolfram_alpha", {"query": "2+2"}, "builtin"))])
    d = json.loads(to_json(tool_transcript([turn], provider="p", model="m")))
    d["turns"][0]["error"] = {"kind": "from_the_future", "title": "T", "message": "M"}
    back = tool_turns_from_transcript(from_json(json.dumps(d)))
    assert back[0].steps[0].result is None
    assert back[0].error.kind is ErrorKind.UNKNOWN and back[0].error.title == "T"


def test_markdown_shows_steps_in_order_with_call_output_result_and_timing() -> None:
    md = to_markdown(tool_transcript([_turn(), _failed_turn()], provider="nvidia",
                                     model="meta/llama-3.1-405b-instruct", exported_at=WHEN))
    assert md.startswith("# Llama Herd Studio: tool calling transcript\n")
    assert "**Model:** `meta/llama-3.1-405b-instruct`" in md and "**Provider:** nvidia" in md
    first = md.index('`brave_search(query="Stockholm weather")`')
    second = md.index('`get_weather(city="Stockholm")`')
    assert first < second < md.index("### Answer")
    assert "```text\n" + CALL_RAW + "\n```" in md
    assert "```text\nStockholm: 3 °C, cloudy." in md
    assert "Result (ok · Brave Search API · 0.84 s):" in md
    assert "Result (error · Open-Meteo · 10.00 s · fallback):" in md
    assert "It is 3 °C and cloudy in Stockholm." in md
    assert "3.2 s · 3 model requests · 1,234 tokens" in md
    assert "provider nvidia" in md and "model `m2`" in md  # per-turn model
    assert "**Error: Daily limit reached.** Try again in 6 h 46 min." in md
    assert "## Turn 2" in md


def test_markdown_fences_survive_backticks_and_images_are_neutralised() -> None:
    turn = _turn()
    turn.steps[0].result = ToolResult("brave_search", {}, "```\nnot the end\n```", True, "s", False, 0.1)
    turn.answer = "See ![track](https://evil.example/p.png?d=secret)"
    md = to_markdown(tool_transcript([turn], provider="p", model="m"))
    assert "````text\n```\nnot the end\n```\n````" in md
    assert "![track]" not in md and "!\\[track]" in md


def test_call_line_quotes_strings_and_keeps_numbers() -> None:
    assert call_line("brave_search", {"query": "Stockholm weather"}) == 'brave_search(query="Stockholm weather")'
    assert call_line("f", {"a": 1, "b": True, "c": "x\"y"}) == 'f(a=1, b=true, c="x\\"y")'
    assert call_line("g", {}) == "g()"


# Redaction ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [FAKE_KEY, PLAIN_SECRET])
def test_a_secret_never_appears_in_markdown_or_json(secret: str) -> None:
    turns = [_failed_turn(secret), _turn(secret)]
    turns[1].notes.append(f"note with {secret}")
    turns[1].steps[0].raw_output += f" {secret}"
    turns[1].steps[0].call = ToolCall("brave_search", {"query": secret})
    d = tool_transcript(turns, provider="nvidia", model="m", secrets=[secret])
    md, js = to_markdown(d), to_json(d)
    for text in (md, js, json.dumps(d)):
        assert secret not in text
        assert REDACTED in text
    # the secret was in a tool result, an error detail and a message
    t = d["turns"]
    assert t[1]["steps"][0]["result"]["content"].endswith(f"debug={REDACTED}")
    assert REDACTED in t[0]["error"]["detail"] and REDACTED in t[1]["messages_sent"][1]["content"]


def test_secrets_given_only_at_output_time_are_removed_too() -> None:
    d = tool_transcript([_turn(PLAIN_SECRET)], provider="p", model="m")
    assert PLAIN_SECRET in json.dumps(d)  # not passed in: not shaped like a key
    assert PLAIN_SECRET not in to_markdown(d, secrets=[PLAIN_SECRET])
    assert PLAIN_SECRET not in to_json(d, secrets=[PLAIN_SECRET])


def test_a_key_registered_after_a_save_is_redacted_in_the_next_one() -> None:
    """The secret forms are cached between strings; a key typed later (a new host in the sidebar) still never
    reaches a saved or exported transcript, and a forgotten one is no longer searched for."""
    late = "Lq9-typed-later-secret"
    turn = Turn(question=f"is {late} safe?", answer="yes")
    assert late in json.dumps(tool_transcript([turn], provider="custom", model="m"))  # not a secret yet
    registry.register(late)
    try:
        assert late not in json.dumps(tool_transcript([turn], provider="custom", model="m"))
    finally:
        registry.forget_all()
    assert late in json.dumps(tool_transcript([turn], provider="custom", model="m"))


def test_url_encoded_and_json_escaped_secret_forms_are_removed() -> None:
    secret = "pa ss/wörd+1"
    text = f"a={secret} b=pa%20ss%2Fw%C3%B6rd%2B1 c=pa+ss%2Fw%C3%B6rd%2B1 d={json.dumps(secret)[1:-1]}"
    out = redact(text, [secret])
    assert "ss/w" not in out and "ss%2F" not in out and "\\u00f6" not in out
    assert out.count(REDACTED) == 4


@pytest.mark.parametrize("text, secret", [
    ("Authorization: Bearer abcDEF123456.xyz-_~+/==", "abcDEF123456.xyz-_~+/"),
    ("api-key: 0123456789abcdef", "0123456789abcdef"),
    ("API_KEY=0123456789abcdef", "0123456789abcdef"),
    ('{"api-key": "0123456789abcdef"}', "0123456789abcdef"),
    ("key nvapi-AbCdEf0123456789_-xyz.", "AbCdEf0123456789_-xyz"),
    ("sk-or-v1-0123456789abcdef0123456789", "0123456789abcdef0123456789"),
    ("token=hf_AbCdEfGhIjKlMnOpQrStUv", "AbCdEfGhIjKlMnOpQrStUv"),
    ("ghp_TESTTOKEN_abcdef0123456789", "TESTTOKEN_abcdef0123456789"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "11ABCDEFG0123456789_abcdefghijklmnop"),
    ("https://api.wolframalpha.com/v1/llm-api?input=2%2B2&appid=ABCD-EFGH12", "ABCD-EFGH12"),
])
def test_key_shaped_text_is_redacted_without_being_told(text: str, secret: str) -> None:
    out = redact(text)
    assert REDACTED in out and secret not in out


def test_the_quick_first_scan_never_lets_a_key_through() -> None:
    """`redaction_spans` skips its nine patterns for text without any of their hints; on 20,000 generated texts
    (key prefixes in every case, auth words, query strings, plain words) it finds exactly what all nine find."""
    import random

    from lib.common import redact as r

    def every_pattern(text: str) -> list[tuple[int, int]]:
        spans = [m.span() for p in r._TOKEN_PATTERNS for m in p.finditer(text)]
        spans += [m.span(1) for p in r._VALUE_PATTERNS for m in p.finditer(text)]
        merged: list[tuple[int, int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    parts = ["nvapi-", "NVAPI-", "sk-", "SK-", "sk-or-", "sk-proj-", "hf_", "HF_", "ghp_", "gho_", "GHU_", "github_pat_",
             "Bearer ", "BEARER\t", "bearer", "api-key: ", "API_KEY=", "x-api-key\": \"", "Api Key=", "?key=", "&TOKEN=",
             "?appid=", "&access_token=", "&auth=", "?", "&", "=", ":", "\"", " ", "AbCdEf0123456789", "xyz_-.~+/",
             "llama", "the herd", "é", "한국어", "0123456789abcdef"]
    rng = random.Random(22)
    for _ in range(20_000):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(1, 8)))
        assert r.redaction_spans(text) == every_pattern(text), text


def test_ordinary_text_and_short_secrets_are_left_alone() -> None:
    text = "The sky is blue; a Bearer of news; use an API key from the sidebar; hf_ and ghp_ are prefixes."
    assert redact(text, ["", "abc", "xyz"]) == text


def test_redact_data_walks_keys_and_lists_and_leaves_numbers() -> None:
    data = {"x hf_AbCdEfGhIjKl": [1, 2.5, None, True, {"y": "token hf_AbCdEfGhIjKl"}]}
    assert redact_data(data) == {f"x {REDACTED}": [1, 2.5, None, True, {"y": f"token {REDACTED}"}]}


# Vision transcripts ---------------------------------------------------------------------------------------------

VISION_TURNS = [("user", "Describe this image."), ("assistant", "A red **barn** in snow."),
                ("user", "What colour is the door?"), ("assistant", "White.")]
VISION_META = {1: "2.4 s · 1,234 tokens", 3: "0.9 s"}


def test_vision_transcript_round_trip_with_thumbnail() -> None:
    jpeg = _jpeg()
    d = vision_transcript(VISION_TURNS, VISION_META, provider="nvidia", model="meta/llama-3.2-90b-vision-instruct",
                          image_name="barn.jpg", image_thumbnail_jpeg=jpeg, exported_at=WHEN)
    assert d["kind"] == "vision" and d["image"]["name"] == "barn.jpg"
    assert d["image"]["thumbnail"] == "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    turns, meta, thumb = vision_turns_from_transcript(from_json(to_json(d), kind="vision"))
    assert turns == VISION_TURNS and meta == VISION_META and thumb == jpeg


def test_large_or_non_jpeg_pictures_become_small_jpeg_thumbnails() -> None:
    big = _jpeg((1600, 1200), noise=True)
    assert len(big) > MAX_THUMBNAIL_BYTES
    url = thumbnail_data_url(big)
    raw = base64.b64decode(url.split(",", 1)[1])
    assert len(raw) <= MAX_THUMBNAIL_BYTES and raw[:3] == b"\xff\xd8\xff"
    assert len(url) <= 21_000
    png = io.BytesIO()
    Image.new("RGB", (50, 50), "blue").save(png, "PNG")
    assert thumbnail_data_url(png.getvalue()).startswith("data:image/jpeg;base64,/9j/")
    assert thumbnail_data_url(b"not an image") is None
    assert thumbnail_data_url(None) is None


def test_vision_markdown_has_thumbnail_then_questions_and_answers() -> None:
    d = vision_transcript(VISION_TURNS, VISION_META, provider="nvidia", model="llama-3.2-90b",
                          image_name="barn_[1].jpg", image_thumbnail_jpeg=_jpeg())
    md = to_markdown(d)
    assert md.startswith("# Llama Herd Studio: vision transcript\n")
    assert "**Model:** `llama-3.2-90b`" in md and "**Provider:** nvidia" in md
    image_at = md.index("![photo](data:image/jpeg;base64,/9j/")
    assert image_at < md.index("> Describe this image.") < md.index("A red **barn** in snow.") < md.index("White.")
    assert "*2.4 s · 1,234 tokens*" in md
    assert "barn\\_\\[1\\].jpg" in md


def test_vision_secret_is_redacted_and_a_thumbnail_that_contains_it_is_dropped() -> None:
    jpeg = _jpeg()
    b64 = base64.b64encode(jpeg).decode()
    unlucky = b64[40:52]  # a "secret" that happens to occur inside the image's base64
    d = vision_transcript([("user", f"my key {FAKE_KEY}"), ("assistant", f"ok {unlucky}")], {},
                          provider="p", model="m", image_name="x.jpg", image_thumbnail_jpeg=jpeg,
                          secrets=[FAKE_KEY, unlucky])
    md, js = to_markdown(d), to_json(d)
    for text in (md, js):
        assert FAKE_KEY not in text and unlucky not in text
    assert "![photo]" not in md
    turns, _meta, thumb = vision_turns_from_transcript(from_json(js))
    assert thumb is None and turns[0][1] == f"my key {REDACTED}"


# Import checks -------------------------------------------------------------------------------------------------


def _valid_tools_json() -> dict:
    return json.loads(to_json(tool_transcript([_turn()], provider="p", model="m")))


@pytest.mark.parametrize("text, words", [
    ("", "not valid JSON"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not hold a JSON object"),
    ('{"a": 1}', "not a Llama Herd Studio transcript"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("[" * 65 + "]" * 65, "more than 64 levels"),
    ('{"x": NaN}', "NaN"),
    ('{"x": 1' + "0" * 100_000 + "}", "a number with 100,001 digits"),  # was Python's own ValueError
    ('{"x": 1e999}', "too large to use"),
    ("[" + "{}," * 1_200_000 + "{}]", "too many separate values"),
])
def test_malformed_json_is_refused_with_a_readable_message(text: str, words: str) -> None:
    with pytest.raises(TranscriptError, match=words):
        from_json(text)


def _mutate(change) -> str:
    d = _valid_tools_json()
    change(d)
    return json.dumps(d)


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update(kind="chat"), "neither a tool-calling nor a vision"),
    (lambda d: d.update(version=2), "newer version of the app"),
    (lambda d: d.update(version="1"), "no valid version"),
    (lambda d: d.pop("turns"), "has no “turns”"),
    (lambda d: d.update(turns={"a": 1}), "wrong type"),
    (lambda d: d["turns"][0].pop("question"), "turn 1 has no “question”"),
    (lambda d: d["turns"][0].update(question=5), "wrong type"),
    (lambda d: d["turns"][0]["steps"][0].update(call="brave_search()"), "wrong type"),
    (lambda d: d["turns"][0]["steps"][0]["result"].update(ok="yes"), "wrong type"),
    (lambda d: d["turns"][0]["timings"].update(elapsed_s=-1), "not a valid number"),
    (lambda d: d["turns"][0].update(notes=[1]), "notes"),
    (lambda d: d["turns"][0]["usage"].update(tokens=True), "wrong type"),
    (lambda d: d.update(turns=[d["turns"][0]] * 501), "too many turns"),
])
def test_damaged_transcripts_are_refused(change, words: str) -> None:
    with pytest.raises(TranscriptError, match=words):
        from_json(_mutate(change))


def test_wrong_kind_names_the_page_to_use() -> None:
    text = to_json(tool_transcript([], provider="p", model="m"))
    with pytest.raises(TranscriptError, match="open it on the Tool calling page"):
        from_json(text, kind="vision")
    with pytest.raises(TranscriptError):
        vision_turns_from_transcript(from_json(text))


def test_oversized_input_is_refused_before_parsing() -> None:
    huge = '{"schema": "' + "x" * MAX_JSON_BYTES + '"}'
    with pytest.raises(TranscriptError, match="too large"):
        from_json(huge)
    with pytest.raises(TranscriptError, match="too large"):
        from_json(huge.encode())


def test_bytes_input_with_bom_is_read_and_bad_bytes_refused() -> None:
    text = to_json(tool_transcript([_turn()], provider="p", model="m"))
    assert from_json(b"\xef\xbb\xbf" + text.encode())["kind"] == "tools"
    with pytest.raises(TranscriptError, match="not UTF-8"):
        from_json(b"\xff\xfe\x00garbage")


@pytest.mark.parametrize("thumbnail", [
    "https://evil.example/pixel.png",
    "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=",
    "data:image/jpeg;base64,!!!notbase64",
    "data:image/jpeg;base64," + base64.b64encode(b"GIF89a" + b"\0" * 10).decode(),
    "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8\xff" + b"\0" * 40_000).decode(),
])
def test_vision_thumbnail_must_be_a_small_embedded_jpeg(thumbnail: str) -> None:
    d = json.loads(to_json(vision_transcript(VISION_TURNS, {}, provider="p", model="m", image_name="x",
                                             image_thumbnail_jpeg=None)))
    d["image"]["thumbnail"] = thumbnail
    with pytest.raises(TranscriptError, match="thumbnail|image"):
        from_json(json.dumps(d))


def test_vision_roles_are_checked() -> None:
    d = json.loads(to_json(vision_transcript(VISION_TURNS, {}, provider="p", model="m", image_name="x",
                                             image_thumbnail_jpeg=None)))
    d["turns"][0]["role"] = "system"
    with pytest.raises(TranscriptError, match="unknown role"):
        from_json(json.dumps(d))


def test_unknown_keys_are_dropped_and_nothing_is_evaluated() -> None:
    d = _valid_tools_json()
    d["__class__"] = "os.system"
    d["turns"][0]["extra"] = {"!!python/object": "x"}
    clean = from_json(json.dumps(d))
    assert "__class__" not in clean and "extra" not in clean["turns"][0]
    assert tool_turns_from_transcript(clean)[0].question == "What is the weather in Stockholm?"


def test_transcript_error_is_a_value_error() -> None:
    assert issubclass(TranscriptError, ValueError)


def test_hidden_turns_leaves_all_but_the_latest_ten_undrawn_unless_asked() -> None:
    from lib.answers.transcript import SHOWN_TURNS, hidden_turns

    assert SHOWN_TURNS == 10
    assert [hidden_turns(n) for n in (0, 1, 10, 11, 30)] == [0, 0, 0, 1, 20]
    assert hidden_turns(30, show_all=True) == 0
    assert hidden_turns(5, shown=2) == 3


def test_vision_markdown_says_which_region_a_question_was_about() -> None:
    note = "🔍 Asked about a region: 800×601 px of the 4000×3000 original, at x 1200, y 899"
    d = vision_transcript([("user", "What does the sign say?"), ("assistant", "OPEN")], {0: note},
                          provider="p", model="m", image_name="shop.jpg", image_thumbnail_jpeg=None,
                          exported_at=WHEN)
    md = to_markdown(d)
    assert md.index("What does the sign say?") < md.index("Asked about a region: 800×601 px") < md.index("OPEN")
