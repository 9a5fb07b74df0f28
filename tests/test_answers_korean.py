"""The words lib/answers and lib/vision make for the page, in Korean: Compare's footers, difference line and Markdown,
the transcripts' Markdown and the reasons an imported transcript is refused, a refused photo's reason, and who
answered / where a replayed answer came from in the vision footer. Each English text stays as it was."""

from __future__ import annotations

import io
import json
import re
from types import SimpleNamespace

import pytest
from PIL import Image

from lib.answers.compare import Compared, Side, compare_markdown, compare_transcript, difference, footer, side_of_turn
from lib.answers.transcript import (
    TranscriptError,
    from_json,
    to_json,
    to_markdown,
    tool_transcript,
    vision_transcript,
    vision_transcript_files,
)
from lib.hosts.config import Settings
from lib.i18n import say
from lib.tool_calling.llama_prompt import ToolCall
from lib.tool_calling.loop import ToolStep, Turn
from lib.tools.base import ToolResult
from lib.vision import conversation as vs
from lib.vision.answer import VisionAnswer, footer_line, free_replay
from lib.vision.images import ImageRejected, _too_much_memory_message, prepare_image, prepare_region

BIG, SMALL = "meta-llama/Llama-3.1-405B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _turn(model: str, answer: str, calls: list[tuple[str, dict]] = (), elapsed: float = 2.0, **kw) -> Turn:
    steps = [ToolStep(raw_output=f"<|python_tag|>{n}.call()", call=ToolCall(n, a),
                      result=ToolResult(n, a, "result text", True, "stub", True, 0.1, "https://example.org/r"))
             for n, a in calls]
    return Turn(question="Weather in Stockholm?", steps=steps, answer=answer, model=model, provider="Ollama",
                elapsed_s=elapsed, tokens=120, requests=1 + len(steps), **kw)


def _korean(text: str | None, *english: str) -> None:
    """`text` is Korean: it has Hangul and none of the English phrases."""
    assert text and HANGUL.search(text), text
    for phrase in english:
        assert phrase not in text, (phrase, text)


# --- Compare ---------------------------------------------------------------------------------------------------------


def test_compare_footer_reads_in_korean_and_stays_english() -> None:
    side = side_of_turn(_turn(SMALL, "Sunny.", [("brave_search", {"query": "x"})], elapsed=3.25, cached="cache"),
                        0.42)
    assert footer(side) == ("Llama 3.1 8B on Ollama · first words 0.4 s · 3.2 s in all · 120 tokens · 1 tool call · "
                            "answered from the cache: no quota used")
    ko = footer(side, "tools", "ko")
    _korean(ko, " on ", "first words", "in all", "tokens", "tool call", "no quota used")
    assert ko.startswith("Ollama의 Llama 3.1 8B · ") and "할당량 사용 안 함" in ko
    _korean(footer(side_of_turn(_turn(SMALL, "Sunny."), None), "tools", "ko"), "no tool call")
    assert footer(side_of_turn(_turn(SMALL, "Sunny."), None)).endswith("120 tokens · no tool call")
    local = Side(model=SMALL, provider="Ollama (on this machine)", total_s=1)  # a known host's label: translated
    assert footer(local, "vision") == "Llama 3.1 8B on Ollama (on this machine) · 1.0 s in all"
    _korean(footer(local, "vision", "ko"), "on this machine", " in all")


@pytest.mark.parametrize("a, b, page, english", [
    (side_of_turn(_turn(BIG, "4 °C.", [("brave_search", {"query": "Stockholm weather"})]), 0.5),
     side_of_turn(_turn(SMALL, "Probably cold."), 0.2), "tools",
     "Llama 3.1 8B called no tool and answered from what it knows; Llama 3.1 405B called brave_search."),
    (side_of_turn(_turn(BIG, "4 °C.", [("brave_search", {"query": "Stockholm weather"})], elapsed=6.0), 1.0),
     side_of_turn(_turn(SMALL, "4 °C.", [("brave_search", {"query": "Stockholm weather"})], elapsed=2.0), 0.3),
     "tools", 'Both made the same call, brave_search(query="Stockholm weather"). '
              "Llama 3.1 8B finished 3.0× sooner (2.0 s against 6.0 s)."),
    (side_of_turn(_turn(BIG, "4 °C.", [("brave_search", {"query": "a"})]), 1.0),
     side_of_turn(_turn(SMALL, "4 °C.", [("get_weather", {"city": "b"})]), 1.0), "tools",
     "Llama 3.1 405B called brave_search; Llama 3.1 8B called get_weather."),
    (side_of_turn(_turn(BIG, "4 °C."), 1.0), side_of_turn(_turn(SMALL, "4 °C."), 1.0), "tools",
     "Neither called a tool."),
    (Side(model=BIG, provider="Ollama", error="Daily limit reached. Try tomorrow."),
     Side(model=SMALL, provider="Ollama", error="Timed out. Try again."), "tools", "Both failed."),
    (Side(model=BIG, provider="Ollama", answer="x", total_s=2), Side(model=BIG, provider="vLLM", answer="y", total_s=6),
     "vision", "Llama 3.1 405B on Ollama finished 3.0× sooner (2.0 s against 6.0 s)."),
    (Side(model="llama-3.2-90b-vision", provider="NVIDIA", answer=" ".join(["word"] * 90), total_s=3),
     Side(model="llama-3.2-11b-vision", provider="NVIDIA", answer=" ".join(["word"] * 30), total_s=3), "vision",
     "Llama 3.2 90B Vision's answer is 3.0× longer (90 words against 30)."),
])
def test_the_difference_line_reads_in_korean_and_stays_english(a: Side, b: Side, page: str, english: str) -> None:
    assert difference(a, b, page=page) == english
    _korean(difference(a, b, page=page, lang="ko"), "called", "answered from", "sooner", "longer", "Both", "Neither",
            "failed", " on ", "words against")


def test_a_failure_in_the_difference_line_is_korean_around_the_errors_title() -> None:
    ok, failed = Side(model=BIG, provider="Ollama", answer="4 °C."), Side(model=SMALL, provider="Ollama",
                                                                           error="Daily limit reached. Try tomorrow.")
    assert difference(ok, failed) == "Llama 3.1 8B failed (Daily limit reached); Llama 3.1 405B answered."
    _korean(difference(ok, failed, lang="ko"), "failed", "answered")


def test_the_compared_markdown_has_korean_headings_footers_and_difference() -> None:
    big = _turn(BIG, "4 °C.", [("brave_search", {"query": "Stockholm weather"})])
    small = _turn(SMALL, "Probably cold.", stopped=True)
    pair = Compared(big.question, [side_of_turn(big, 0.5), side_of_turn(small, 0.2)], [big, small])
    data = compare_transcript([pair], page="tools")
    english = compare_markdown(data)
    assert english.startswith("# Llama Herd Studio: tool calling compared side by side\n")
    assert "## Question 1" in english and "*Stopped before the answer was complete.*" in english
    assert '- Called `brave_search(query="Stockholm weather")`' in english
    ko = compare_markdown(data, lang="ko")
    _korean(ko, "compared side by side", "Exported", "Questions", "## Question", "Called ", "Stopped before",
            " on Ollama", "first words", "in all")
    assert "## 질문 1" in ko and "### A · Ollama의 Llama 3.1 405B" in ko

    a = Side(model=BIG, provider="Ollama", answer="x", total_s=2)
    b = Side(model=SMALL, provider="Ollama", answer="y", total_s=6)
    vision = compare_transcript([Compared("What is it?", [a, b])], page="vision")
    assert "**Difference:** Llama 3.1 405B finished 3.0× sooner" in compare_markdown(vision)
    ko = compare_markdown(vision, lang="ko")
    _korean(ko, "vision compared", "Difference", "sooner")
    assert "**차이:** Llama 3.1 405B 쪽이 3.0배 빨리 끝냈습니다" in ko


# --- Transcripts -----------------------------------------------------------------------------------------------------


def test_a_tool_transcript_in_markdown_has_korean_headings_and_labels() -> None:
    turn = _turn(BIG, "It is 4 °C.", [("brave_search", {"query": "Stockholm weather"})], notes=["A note."])
    data = tool_transcript([turn], provider="Ollama", model=BIG)
    english = to_markdown(data)
    for line in ("# Llama Herd Studio: tool calling transcript", "- **Model:** ", "## Turn 1", "Model output:",
                 "Result (ok · stub · 0.10 s · fallback):", "### Answer", "> Note: A note.", "2 model requests"):
        assert line in english, line
    ko = to_markdown(data, lang="ko")
    _korean(ko, "tool calling transcript", "**Model:**", "**Provider:**", "**Exported:**", "**Turns:**", "## Turn",
            "### Step", "Model output", "Result (", "fallback", "Source:", "### Answer", "Note:", "model request")
    assert "## 턴 1" in ko and "결과 (성공 · stub · 0.10초 · 대체 도구):" in ko


def test_a_vision_transcript_in_markdown_has_korean_labels() -> None:
    state: dict = {}
    vs.init_state(state)
    state[vs.TURNS] = [("user", "What is this?"), ("assistant", "A cat.")]
    md, _ = vision_transcript_files(state, model="llama-3.2-11b-vision", provider="NVIDIA", secrets=[])
    assert "**You:**" in md and "**Llama:**" in md and md.startswith("# Llama Herd Studio: vision transcript")
    ko, js = vision_transcript_files(state, model="llama-3.2-11b-vision", provider="NVIDIA", secrets=[], lang="ko")
    _korean(ko, "**You:**", "vision transcript", "**Model:**", "not recorded")
    assert "**나:**" in ko and "A cat." in ko and json.loads(js)["turns"][1]["text"] == "A cat."


def _refusal(raw: object, kind: str | None = "tools") -> TranscriptError:
    with pytest.raises(TranscriptError) as caught:
        from_json(raw if isinstance(raw, str) else json.dumps(raw), kind=kind)
    return caught.value


def _valid(kind: str = "tools") -> dict:
    if kind == "vision":
        return json.loads(to_json(vision_transcript([("user", "Hi")], {}, provider="p", model="m", image_name="x",
                                                    image_thumbnail_jpeg=None)))
    return json.loads(to_json(tool_transcript([_turn(BIG, "ok", [("brave_search", {"query": "q"})])],
                                              provider="p", model="m")))


@pytest.mark.parametrize("raw, kind, english", [
    ([], "tools", "This is not a transcript: the file does not hold a JSON object."),
    ({"schema": "x"}, "tools", "This is not a Llama Herd Studio transcript (the “schema” marker is missing)."),
    ({**_valid(), "version": 7}, "tools",
     "This transcript was made by a newer version of the app (format 7; this app reads format 1)."),
    (_valid("vision"), "tools", "This is a vision transcript; open it on the Vision page."),
    (_valid(), "vision", "This is a tool-calling transcript; open it on the Tool calling page."),
    ({**_valid(), "turns": [{"steps": []}]}, "tools", "This transcript is incomplete: turn 1 has no “question”."),
    ({**_valid(), "turns": [{**_valid()["turns"][0], "steps": [{**_valid()["turns"][0]["steps"][0],
                                                                 "call": {"name": "x", "form": "weird"}}]}]},
     "tools", "This transcript is damaged: the tool call in step 1 of turn 1 has the unknown form “weird”."),
    ({**_valid(), "turns": [{**_valid()["turns"][0], "steps": [{**_valid()["turns"][0]["steps"][0],
                                                                 "result": {"content": 5}}]}]},
     "tools", "This transcript is damaged: “content” in the result of step 1 of turn 1 has the wrong type."),
    ({**_valid("vision"), "turns": [{"role": "robot", "text": "x"}]}, "vision",
     "This transcript is damaged: turn 1 has the unknown role “robot”."),
    ({**_valid("vision"), "image": {"thumbnail": "http://example.org/x.png"}}, "vision",
     "The image in this transcript is not an embedded JPEG thumbnail, so it was not opened."),
])
def test_a_refused_transcript_says_why_in_korean(raw: object, kind: str, english: str) -> None:
    refused = _refusal(raw, kind)
    assert str(refused) == english
    _korean(say("ko", refused.reason), "This transcript", "This is", "transcript", "turn 1", "step 1", "the result of",
            "open it on")


def test_a_refusal_names_the_place_in_korean() -> None:
    steps = _valid()["turns"][0]["steps"]
    refused = _refusal({**_valid(), "turns": [{**_valid()["turns"][0], "steps": [steps[0], {"call": 3}]}]})
    assert str(refused) == "This transcript is damaged: “call” in step 2 of turn 1 has the wrong type."
    assert "턴 1의 2단계" in say("ko", refused.reason)


# --- Photos ----------------------------------------------------------------------------------------------------------


def _png(size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("data, english", [
    (b"", "The file is empty"),
    (b"%PDF-1.7\n...", "This file is a PDF, not an image"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "This file is an SVG drawing, not a photo"),
    (b"<!doctype html><html></html>", "This file is a text file (a web page), not a photo"),
    (b"just some notes", "This file is a text file, not a photo"),
    (b"\x00\x01\x02\x03" * 64, "This file is not an image Pillow can read "
                               "(accepted: JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC, AVIF)"),
    (_png()[:60], "The image is truncated (the file ends early)"),
])
def test_a_refused_photo_says_why_in_korean(data: bytes, english: str) -> None:
    with pytest.raises(ImageRejected) as caught:
        prepare_image(data, "photo.bin")
    assert str(caught.value) == english
    _korean(say("ko", caught.value.reason), "file", "image", "photo", "not an", "cannot be")


def test_a_region_outside_the_picture_is_refused_in_korean() -> None:
    with pytest.raises(ImageRejected) as caught:
        prepare_region(_png(), (500, 500, 600, 600))
    assert str(caught.value) == "The chosen region is outside the picture"
    _korean(say("ko", caught.value.reason), "region", "picture")


def test_a_photo_too_large_to_prepare_is_explained_in_korean() -> None:
    png = _too_much_memory_message(SimpleNamespace(format="PNG"), (8000, 6000), 900 * 1024 * 1024)
    assert str(png).startswith("This 48-megapixel PNG is too large to prepare: it would take about 900 MB of memory")
    assert str(png).endswith(". Save it as a JPEG or make it smaller, then upload it again")
    _korean(say("ko", png), "too large", "Save it", "upload it again")
    jpeg = say("ko", _too_much_memory_message(SimpleNamespace(format="JPEG"), (8000, 6000), 900 * 1024 * 1024))
    _korean(jpeg, "progressive JPEG", "baseline) JPEG or")
    assert "프로그레시브 JPEG" in jpeg and str(
        _too_much_memory_message(SimpleNamespace(format="JPEG"), (8000, 6000), 1)).startswith(
        "This 48-megapixel progressive JPEG is too large")


# --- The vision footer -----------------------------------------------------------------------------------------------


def test_who_answered_and_a_replayed_answer_read_in_korean_in_the_vision_footer() -> None:
    model = "meta/llama-3.2-11b-vision-instruct"
    settings = Settings(endpoint="https://openrouter.ai/api/v1", token="t", provider_id="openrouter")
    asked = VisionAnswer(settings, model, "data:image/jpeg;base64,", [("user", "Hi")])
    asked.served_model = "meta/llama-3.2-90b-vision-instruct"
    assert asked.answered_by == "Llama 3.2 90B Vision on OpenRouter (asked for Llama 3.2 11B Vision)"
    korean = VisionAnswer(settings, model, "data:image/jpeg;base64,", [("user", "Hi")], lang="ko")
    assert korean.answered_by == "OpenRouter의 Llama 3.2 11B Vision"
    korean.served_model = asked.served_model
    _korean(korean.answered_by, "asked for", " on ")
    english = footer_line("Llama 3.2 11B Vision on NVIDIA", 2.4, 1234, "cache", False)
    assert english == "Llama 3.2 11B Vision on NVIDIA · 2.4 s · 1,234 tokens · answered from the cache: no quota used"
    ko = footer_line("NVIDIA의 Llama 3.2 11B Vision", 2.4, 1234, "shared", False, "ko")
    _korean(ko, "no quota used", "shared with")
    assert free_replay(english) and free_replay(ko)  # "Ask again (fresh)" is offered under either
    assert not free_replay(footer_line("x", 1.0, None, "rehearsal", False, "ko"))
    assert not free_replay(footer_line("x", 1.0, None, "", False))


# --- a file brought in and refused (lib/common/jsonfile.py, lib/answers/recording.py) ------------------------------


@pytest.mark.parametrize("content", [
    b"\xff\xfe not utf-8", b"{not json", b'{"a": NaN}', b"[" * 100 + b"]" * 100, b'{"n": 1' + b"0" * 2000 + b"}",
])
def test_a_refused_transcript_file_says_why_in_korean(content: bytes) -> None:
    from lib.answers.transcript import TranscriptError, from_json
    with pytest.raises(TranscriptError) as caught:
        from_json(content)
    reason = caught.value.reason
    english, korean = str(caught.value), say("ko", reason)
    assert english.startswith("This is not a transcript") and english == str(reason)
    assert HANGUL.search(korean) and "This is not" not in korean and "대화 기록" in korean


def test_a_text_too_long_in_a_transcript_names_its_place_in_korean() -> None:
    import json
    from lib.answers.transcript import MAX_TEXT_CHARS, TranscriptError, from_json
    data = {"turns": [{"question": "q", "answer": "x" * (MAX_TEXT_CHARS + 1)}]}
    with pytest.raises(TranscriptError) as caught:
        from_json(json.dumps(data))
    assert "“answer” in turn 1" in str(caught.value)
    assert "턴 1번의 “answer”" in say("ko", caught.value.reason)


@pytest.mark.parametrize("content", [
    b'{"schema": "something else"}', b'{"schema": "llama-herd-studio/replay", "version": 0}', b"\xff",
])
def test_a_refused_rehearsal_file_says_why_in_korean(content: bytes) -> None:
    from lib.answers.recording import SCHEMA, ReplayError, ReplayStore
    assert SCHEMA == "llama-herd-studio/replay"
    with pytest.raises(ReplayError) as caught:
        ReplayStore(max_entries=10).from_json(content)
    korean = say("ko", caught.value.reason)
    assert str(caught.value) == str(caught.value.reason) and "rehearsal" in str(caught.value)
    assert HANGUL.search(korean) and "rehearsal" not in korean and "리허설" in korean
