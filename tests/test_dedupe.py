"""The replay cache: identical requests answered once within the TTL (counted at the double), tool results too."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from lib import client
from lib.hosts.config import Settings
from lib.answers.cache import CACHED_LABEL, CACHEABLE_TOOLS, Dedupe, request_params, where
from lib.answers.recording import Recording, ReplayStore
from lib.tools.base import ToolResult
from tests.api_double import ApiDouble, Reply
from tests.stubs import StubServer

MODEL = "meta-llama/Llama-3.3-70B-Instruct"
IMAGE_A = "data:image/jpeg;base64," + "QUJD" * 500
IMAGE_B = "data:image/jpeg;base64," + "REVG" * 500


class Clock:
    """A settable wall clock for the store's TTL."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> Dedupe:
    return Dedupe(ReplayStore(ttl_s=900, clock=clock), sleep=lambda s: None)


def ask(cache: Dedupe, settings: Settings, messages: list[dict[str, Any]], *, fresh: bool = False,
        max_tokens: int = 256, temperature: float | None = 0.2, model: str = MODEL) -> Any:
    stream = cache.chat_stream(settings, model, messages, max_tokens=max_tokens, temperature=temperature, fresh=fresh)
    text = "".join(stream)
    assert text == stream.text
    return stream


def q(text: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": text}]


def test_same_prompt_ten_times_reaches_the_model_once(double: ApiDouble, settings: Settings,
                                                      cache: Dedupe) -> None:
    double.responder = lambda body: Reply(text="Llamas hum when they are curious.", chunk_delay_s=0.001)
    streams = [ask(cache, settings, q("Tell me a llama fact")) for _ in range(10)]
    assert len(double.chat_requests) == 1
    assert {s.text for s in streams} == {"Llamas hum when they are curious."}
    assert [s.cached for s in streams] == [False] + [True] * 9
    assert streams[0].usage is not None and streams[0].usage.total_tokens > 0
    assert streams[1].usage is None  # no quota used
    assert streams[1].recorded_usage == {"prompt_tokens": 42, "completion_tokens": 8, "total_tokens": 50}
    assert streams[1].finish_reason == "stop" and streams[1].done
    assert (cache.hits, cache.misses) == (9, 1)
    assert CACHED_LABEL == "Answered from the cache: no quota used"


def test_anything_that_changes_the_answer_is_a_new_request(double: ApiDouble, settings: Settings,
                                                           cache: Dedupe) -> None:
    double.responder = lambda body: Reply(text="ok")
    base = q("Describe it")
    image_a = [{"role": "user", "content": [{"type": "text", "text": "Describe it"},
                                            {"type": "image_url", "image_url": {"url": IMAGE_A}}]}]
    image_b = [{"role": "user", "content": [{"type": "text", "text": "Describe it"},
                                            {"type": "image_url", "image_url": {"url": IMAGE_B}}]}]
    tool_1 = q("Weather?") + [{"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_x1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_x1", "content": "3 °C"}]
    tool_2 = [dict(m) for m in tool_1[:-1]] + [{"role": "tool", "tool_call_id": "call_x1", "content": "4 °C"}]
    tool_1_other_ids = [dict(m) for m in tool_1]
    tool_1_other_ids[2] = {**tool_1[2], "tool_calls": [{**tool_1[2]["tool_calls"][0], "id": "call_zz"}]}
    tool_1_other_ids[3] = {**tool_1[3], "tool_call_id": "call_zz"}

    for messages, kw in [(base, {}), (base, {"max_tokens": 512}), (base, {"temperature": 0.7}),
                         (base, {"model": "other-model"}), (image_a, {}), (image_b, {}), (tool_1, {}), (tool_2, {})]:
        assert not ask(cache, settings, messages, **kw).cached
    n = len(double.chat_requests)
    assert n == 8
    # Same again, the same image re-sent and the same tool result under new call ids: all from the cache.
    for messages in (base, image_a, [dict(m) for m in image_a], tool_1, tool_1_other_ids):
        assert ask(cache, settings, messages).cached
    assert len(double.chat_requests) == n
    # Another endpoint (provider) does not share answers.
    other = Settings(provider_id="custom", endpoint=double.endpoint_for("vllm"), token="k")
    assert where(other) != where(settings)
    assert cache.lookup(where(other), MODEL, base, request_params(256, 0.2)) is None
    assert cache.lookup(where(settings), MODEL, base, request_params(256, 0.2)) is not None


def test_expires_after_the_ttl(double: ApiDouble, settings: Settings, cache: Dedupe, clock: Clock) -> None:
    double.responder = lambda body: Reply(text="fresh")
    assert not ask(cache, settings, q("hello")).cached
    clock.now += 899
    assert ask(cache, settings, q("hello")).cached
    clock.now += 2
    assert not ask(cache, settings, q("hello")).cached
    assert len(double.chat_requests) == 2
    assert Dedupe().ttl_s == 900


def test_a_broken_answer_is_never_cached(double: ApiDouble, settings: Settings, cache: Dedupe) -> None:
    double.queue(Reply(text="This answer will be cut off in the middle of a sentence", stream_mode="cut"))
    double.responder = lambda body: Reply(text="whole answer")
    stream = cache.chat_stream(settings, MODEL, q("cut?"), max_tokens=256, temperature=0.2)
    with pytest.raises(Exception):
        list(stream)
    assert stream.text and not stream.cached
    assert ask(cache, settings, q("cut?")).text == "whole answer"
    assert ask(cache, settings, q("cut?")).cached
    double.queue(Reply.rate_limit_day())
    with pytest.raises(Exception):
        list(cache.chat_stream(settings, MODEL, q("limited?"), max_tokens=256, temperature=0.2))
    assert cache.lookup(where(settings), MODEL, q("limited?"), request_params(256, 0.2)) is None


def test_abandoned_stream_is_not_cached(cache: Dedupe) -> None:
    def live() -> Iterator[str]:
        yield from ["a", "b", "c"]

    stream = cache.stream("p|e", "m", q("x"), None, live)
    it = iter(stream)
    assert next(it) == "a"
    it.close()  # the page was rerun mid-answer
    assert cache.lookup("p|e", "m", q("x")) is None


def test_ask_again_fresh_skips_the_cache_and_replaces_the_answer(double: ApiDouble, settings: Settings,
                                                                 cache: Dedupe) -> None:
    answers = iter(["first", "second"])
    double.responder = lambda body: Reply(text=next(answers))
    assert ask(cache, settings, q("again")).text == "first"
    assert ask(cache, settings, q("again")).text == "first"
    fresh = ask(cache, settings, q("again"), fresh=True)
    assert fresh.text == "second" and not fresh.cached
    assert ask(cache, settings, q("again")).text == "second"
    assert len(double.chat_requests) == 2


def test_extra_live_arguments_reach_the_client_and_do_not_change_the_key(
        cache: Dedupe, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []

    def fake_stream(settings: Settings, model: str, messages: Any, **kw: Any) -> Iterator[str]:
        seen.append(kw)
        return iter(["hi"])

    monkeypatch.setattr(client, "stream", fake_stream)
    first = cache.chat_stream(settings, MODEL, q("x"), max_tokens=9, temperature=None, on_wait=print)
    assert list(first) == ["hi"] and seen == [{"max_tokens": 9, "temperature": None, "on_wait": print}]
    second = cache.chat_stream(settings, MODEL, q("x"), max_tokens=9, temperature=None, on_wait=len)
    assert list(second) == ["hi"] and second.cached
    assert len(seen) == 1  # the second came from the cache


def test_replay_pace_is_faster_than_recorded_with_short_gaps() -> None:
    sleeps: list[float] = []
    cache = Dedupe(speed=4.0, max_gap_s=0.25, sleep=sleeps.append)
    fp = cache.key("p", "m", q("x"))
    cache.store.put(Recording(fp, [(0.4, "Hel"), (2.4, "lo"), (2.6, "!")]))
    stream = cache.stream("p", "m", q("x"), None, lambda: pytest.fail("must not go live"))
    assert list(stream) == ["Hel", "lo", "!"] and stream.cached
    assert sleeps == pytest.approx([0.1, 0.25, 0.05])
    with pytest.raises(ValueError):
        Dedupe(speed=0)


# Tool results -------------------------------------------------------------------------------------------------------


def result(name: str, content: str = "result", ok: bool = True) -> ToolResult:
    return ToolResult(name, {"query": "llamas"}, content, ok, "Brave Search API", False, 0.8)


def test_tool_results_are_reused_within_the_ttl(cache: Dedupe, clock: Clock) -> None:
    runs: list[str] = []

    def run_tool(call: Any, tool_names: Any, config: Any) -> ToolResult:
        runs.append(call.name)
        return result(call.name, f"run {len(runs)}", ok=call.name != "wolfram_alpha")

    cached_run = cache.tool_runner(run_tool)
    enabled = ["brave_search", "wolfram_alpha", "get_local_time"]
    call = SimpleNamespace(name="brave_search", arguments={"query": "llamas"})
    first, second = cached_run(call, enabled, None), cached_run(call, enabled, None)
    assert runs == ["brave_search"]
    assert first.content == second.content == "run 1"
    assert second.source == "Brave Search API (from the cache)" and second.elapsed_s == 0.0
    assert cache.tool_hits == 1
    # The clock is never cached; a failed result is not kept; a tool that is not enabled is always refused.
    clock_call = SimpleNamespace(name="get_local_time", arguments={"query": "llamas"})
    cached_run(clock_call, enabled, None), cached_run(clock_call, enabled, None)
    failing = SimpleNamespace(name="wolfram_alpha", arguments={"query": "llamas"})
    cached_run(failing, enabled, None), cached_run(failing, enabled, None)
    cached_run(call, ["wolfram_alpha"], None)
    assert runs == ["brave_search"] + ["get_local_time"] * 2 + ["wolfram_alpha"] * 2 + ["brave_search"]
    assert "get_local_time" not in CACHEABLE_TOOLS
    clock.now += 901
    cached_run(call, enabled, None)
    assert runs[-1] == "brave_search" and len(runs) == 7


def test_a_whole_tool_turn_asked_ten_times_costs_two_model_requests_and_one_search(
        double: ApiDouble, settings: Settings, cache: Dedupe, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wiring proposed for lib/tool_calling/loop.py: `client.stream(...)` → `DEDUPE.chat_stream(...)`."""
    from lib.tool_calling import loop as tool_loop
    from lib.tool_calling.loop import Done, run_turn

    class Deduped:
        def __getattr__(self, name: str) -> Any:
            return getattr(client, name)

        @staticmethod
        def stream(settings: Settings, model: str, messages: Any, **kw: Any) -> Any:
            return cache.chat_stream(settings, model, messages, **kw)

    monkeypatch.setattr(tool_loop, "client", Deduped())
    call = '<|python_tag|>brave_search.call(query="Stockholm weather")<|eom_id|>'
    double.responder = lambda body: Reply(
        text="It is 3 °C in Stockholm." if any(m["role"] == "tool" for m in body["messages"]) else call)
    with StubServer() as stub:
        answers = []
        for _ in range(10):
            events = list(run_turn(settings, "meta-llama/Llama-3.3-70B-Instruct", [], "Weather in Stockholm?",
                                   ["brave_search"], stub.tool_config(timeout_s=3), today=dt.date(2026, 11, 26),
                                   run_tool=cache.tool_runner(tool_loop._run_tool)))
            turn = events[-1].turn
            assert isinstance(events[-1], Done) and turn.error is None
            answers.append(turn.answer)
        assert len(stub.requests_to("brave")) == 1
    assert answers == ["It is 3 °C in Stockholm."] * 10
    assert len(double.chat_requests) == 2


def test_on_recorded_hears_of_an_answer_only_once_it_is_kept(cache: Dedupe) -> None:
    kept: list[Recording] = []

    def live(pieces: list[str], fail: bool = False):
        def stream() -> Iterator[str]:
            yield from pieces
            if fail:
                raise ConnectionError("cut off")
        return stream

    assert "".join(cache.stream("p|e", "m", q("a"), None, live(["x", "y"]), on_recorded=kept.append)) == "xy"
    assert [r.text for r in kept] == ["xy"]
    assert "".join(cache.stream("p|e", "m", q("a"), None, live(["z"]), on_recorded=kept.append)) == "xy"
    assert len(kept) == 1, "a replayed answer is not a new recording"
    with pytest.raises(ConnectionError):
        "".join(cache.stream("p|e", "m", q("b"), None, live(["half"], fail=True), on_recorded=kept.append))
    it = iter(cache.stream("p|e", "m", q("c"), None, live(["a", "b"]), on_recorded=kept.append))
    next(it)
    it.close()  # stopped
    assert len(kept) == 1, "a broken or stopped answer is never kept, so never pinned"


def test_a_cached_tool_result_says_where_it_came_from(cache: Dedupe) -> None:
    from lib.tool_calling.llama_prompt import ToolCall

    def run(call: Any, names: Any, config: Any) -> ToolResult:
        return ToolResult(call.name, dict(call.arguments), "3 °C", True, "Brave Search API", False, 0.4)

    runner = cache.tool_runner(run)
    call = ToolCall("brave_search", {"query": "weather"})
    runner(call, ["brave_search"], None)
    again = runner(call, ["brave_search"], None)
    assert again.source == "Brave Search API (from the cache)" and again.elapsed_s == 0.0
