"""Compare's logic: the default other side, the footers, the one honest line on the difference, one transcript
with both columns, and a reload bringing the compared conversation back."""

from __future__ import annotations

import json

from lib.answers.compare import (
    Compared,
    Side,
    compare_markdown,
    compare_transcript,
    compared_from_saved,
    difference,
    footer,
    side_of_turn,
)
from lib.hosts.errors import ErrorKind, UserError
from lib.hosts.providers import compare_default
from lib.tool_calling.llama_prompt import ToolCall
from lib.tool_calling.loop import ToolStep, Turn
from lib.tools.base import ToolResult

BIG, SMALL = "meta-llama/Llama-3.1-405B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"


def _turn(model: str, answer: str, calls: list[tuple[str, dict]] = (), elapsed: float = 2.0, **kw) -> Turn:
    steps = [ToolStep(raw_output=f"<|python_tag|>{n}.call()", call=ToolCall(n, a),
                      result=ToolResult(n, a, "result text", True, "stub", False, 0.1, None)) for n, a in calls]
    return Turn(question="Weather in Stockholm?", steps=steps, answer=answer, model=model, provider="Ollama",
                elapsed_s=elapsed, tokens=120, requests=1 + len(steps), **kw)


def test_the_default_other_side_is_the_smallest_of_the_family_never_the_same_model() -> None:
    listed = [BIG, "meta-llama/Llama-3.3-70B-Instruct", SMALL, "meta-llama/Llama-3.2-90B-Vision-Instruct"]
    assert compare_default(listed, "tools", BIG) == SMALL
    assert compare_default(listed, "tools", SMALL) == "meta-llama/Llama-3.3-70B-Instruct"  # next smallest
    vision = ["meta-llama/Llama-3.2-90B-Vision-Instruct", "meta-llama/Llama-3.2-11B-Vision-Instruct"]
    assert compare_default(vision, "vision", vision[0]) == vision[1]
    assert compare_default([BIG], "tools", BIG) is None  # one Llama: nothing to compare on this host
    assert compare_default(["Qwen/Qwen2.5-7B-Instruct", BIG], "tools", BIG) is None  # not a Llama


def test_footer_says_who_answered_first_words_total_tokens_and_tool_calls() -> None:
    side = side_of_turn(_turn(SMALL, "Sunny.", [("brave_search", {"query": "x"})], elapsed=3.25), 0.42)
    assert footer(side) == ("Llama 3.1 8B on Ollama · first words 0.4 s · 3.2 s in all · 120 tokens · 1 tool call")
    assert footer(side_of_turn(_turn(SMALL, "Sunny."), None)).endswith("120 tokens · no tool call")
    cached = side_of_turn(_turn(SMALL, "Sunny.", cached="cache"), 0.01)
    assert "no quota used" in footer(cached)


def test_difference_says_which_side_called_no_tool() -> None:
    big = side_of_turn(_turn(BIG, "It is 4 °C.", [("brave_search", {"query": "Stockholm weather"})]), 0.5)
    small = side_of_turn(_turn(SMALL, "Probably cold."), 0.2)
    assert difference(big, small) == ("Llama 3.1 8B called no tool and answered from what it knows; "
                                      "Llama 3.1 405B called brave_search.")


def test_difference_compares_calls_and_time_only_when_it_is_a_real_gap() -> None:
    call = [("brave_search", {"query": "Stockholm weather"})]
    a = side_of_turn(_turn(BIG, "4 °C.", call, elapsed=6.0), 1.0)
    b = side_of_turn(_turn(SMALL, "4 °C.", call, elapsed=2.0), 0.3)
    line = difference(a, b)
    assert line.startswith('Both made the same call, brave_search(query="Stockholm weather").')
    assert "Llama 3.1 8B finished 3.0× sooner (2.0 s against 6.0 s)." in line
    close = side_of_turn(_turn(SMALL, "4 °C.", call, elapsed=5.5), 0.3)
    assert "sooner" not in difference(a, close)  # under a quarter apart: noise, unsaid
    other = side_of_turn(_turn(SMALL, "4 °C.", [("brave_search", {"query": "weather Sweden"})]), 0.3)
    assert "with different arguments" in difference(a, other)
    replayed = side_of_turn(_turn(SMALL, "4 °C.", call, elapsed=0.1, cached="cache"), 0.0)
    assert "sooner" not in (difference(a, replayed) or "")  # a replay's time says nothing of the model


def test_difference_names_a_failure_and_stays_silent_on_a_stopped_side() -> None:
    ok = side_of_turn(_turn(BIG, "4 °C."), 0.5)
    failed = side_of_turn(_turn(SMALL, "", error=UserError(ErrorKind.RATE_LIMIT_DAY, "Daily limit reached",
                                                              "Try tomorrow.")), None)
    assert difference(ok, failed) == "Llama 3.1 8B failed (Daily limit reached); Llama 3.1 405B answered."
    stopped = side_of_turn(_turn(SMALL, "Half an ans", stopped=True), 0.2)
    assert difference(ok, stopped) is None


def test_same_model_on_two_hosts_is_named_with_its_host() -> None:
    a = Side(model=BIG, provider="Ollama", answer="x", total_s=2)
    b = Side(model=BIG, provider="vLLM", answer="y", total_s=6)
    assert "Llama 3.1 405B on Ollama finished 3.0× sooner" in difference(a, b, page="vision")


def test_vision_difference_compares_length() -> None:
    a = Side(model="llama-3.2-90b-vision", provider="NVIDIA", answer=" ".join(["word"] * 90), total_s=3)
    b = Side(model="llama-3.2-11b-vision", provider="NVIDIA", answer=" ".join(["word"] * 30), total_s=3)
    assert difference(a, b, page="vision") == "Llama 3.2 90B Vision's answer is 3.0× longer (90 words against 30)."


def test_one_transcript_has_both_columns_redacted_and_comes_back_after_a_reload() -> None:
    key = "nvapi-FAKEKEY0123456789abcdefXYZ"
    big = _turn(BIG, f"4 °C (key {key}).", [("brave_search", {"query": "Stockholm weather"})])
    small = _turn(SMALL, "Probably cold.")
    pair = Compared(big.question, [side_of_turn(big, 0.5), side_of_turn(small, 0.2)], [big, small])
    data = compare_transcript([pair], page="tools", secrets=[key])
    text = json.dumps(data)
    assert key not in text and "[redacted]" in text
    md = compare_markdown(data)
    assert "### A · Llama 3.1 405B on Ollama" in md and "### B · Llama 3.1 8B on Ollama" in md
    assert "Probably cold." in md and "**Difference:**" in md and key not in md
    back = compared_from_saved(json.loads(text))
    assert len(back) == 1 and [t.model for t in back[0].turns] == [BIG, SMALL]
    assert back[0].turns[0].steps[0].call.name == "brave_search"
    assert back[0].sides[0].first_token_s == 0.5
    assert compared_from_saved({"schema": "something else"}) == []


def test_markdown_shows_hostile_answers_as_text() -> None:
    evil = _turn(BIG, "![x](http://127.0.0.1:9/p.png) <img src=x onerror=alert(1)>")
    pair = Compared("q <script>", [side_of_turn(evil, 0.1), side_of_turn(_turn(SMALL, "ok"), 0.1)], [evil])
    md = compare_markdown(compare_transcript([pair], page="tools"))
    assert "```text\n![x](http://127.0.0.1:9/p.png)" in md  # inside a fence: shown, never fetched
    assert "q \\<script\\>" in md


def test_a_rehearsed_compare_replays_both_sides_with_the_host_gone(double, settings) -> None:
    """Record: A's model stays the page's pin and B's is pinned apart; Replay answers both sides as rehearsed with
    the host stopped (venue Wi-Fi gone), and a replayed file keeps both pins."""
    from lib.answers.recording import parse_pins
    from lib.answers.rehearsal import Rehearsal
    from tests.api_double import Reply

    double.queue(Reply(text="A: the big answer."), Reply(text="B: the small answer."))
    r = Rehearsal()
    asked = [{"role": "user", "content": "How tall is a llama?"}]
    a = "".join(r.opener("record")(settings, BIG, asked))
    b = "".join(r.opener("record", side="compare")(settings, SMALL, asked))
    assert (a, b) == ("A: the big answer.", "B: the small answer.")
    assert r.pinned_model(settings.provider_id, "tools") == BIG
    assert r.pinned_model(settings.provider_id, "tools_compare") == SMALL
    assert parse_pins(json.loads(r.to_json())["pins"])["models"][settings.provider_id] == {
        "tools": BIG, "tools_compare": SMALL}
    sent = len(double.chat_requests)
    double.stop()
    replay_a = r.opener("replay")(settings, BIG, asked)
    replay_b = r.opener("replay", side="compare")(settings, SMALL, asked)
    assert "".join(replay_a) == a and "".join(replay_b) == b
    assert replay_a.replayed_from == replay_b.replayed_from == "rehearsal"
    assert len(double.chat_requests) == sent
