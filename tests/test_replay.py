"""Replay rehearsal: fingerprints, recording, paced replay (fake sleep), bounds, TTL, save/load, redaction."""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from pathlib import Path

import pytest

from lib.client import Usage
from lib.answers.recording import (
    MAX_GAP_S,
    PIECE_OVERHEAD_BYTES,
    Recording,
    ReplayError,
    ReplayStore,
    ToolRecording,
    fingerprint,
    replay,
    tool_key,
)
from lib.tools.base import ToolResult
from lib.common.redact import MASK as REDACTED

FAKE_KEY = "nvapi-FAKEKEY0123456789abcdefXYZ"
PARAMS = {"max_tokens": 1024, "temperature": 0.2}


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _tool_messages(call_id: str, date: str = "26 November 2026") -> list[dict]:
    return [
        {"role": "system", "content": f"Environment: ipython\nTools: brave_search\n\nCutting Knowledge Date: "
                                      f"December 2023\nToday Date: {date}\n\nYou are a helpful assistant."},
        {"role": "user", "content": "What is the weather in Stockholm?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": call_id, "type": "function",
             "function": {"name": "brave_search", "arguments": '{"query": "Stockholm weather"}'}}]},
        {"role": "tool", "tool_call_id": call_id, "content": "3 °C, cloudy"},
    ]


def _vision_messages(image: bytes, question: str = "Describe this image.") -> list[dict]:
    url = "data:image/jpeg;base64," + base64.b64encode(image).decode()
    return [{"role": "user", "content": [{"type": "text", "text": question},
                                         {"type": "image_url", "image_url": {"url": url, "detail": "high"}}]}]


def _fp(i: int) -> str:
    return f"{i:064x}"


# Fingerprints ----------------------------------------------------------------------------------------------------


def test_fingerprint_is_a_sha256_hex_and_stable() -> None:
    a = fingerprint("nvidia", "meta/llama-3.1-405b-instruct", _tool_messages("call_ab12cd34ef56"), PARAMS)
    assert len(a) == 64 and int(a, 16) >= 0
    assert a == fingerprint("nvidia", "meta/llama-3.1-405b-instruct", _tool_messages("call_ab12cd34ef56"), PARAMS)


def test_fingerprint_ignores_tool_call_ids_but_not_their_positions() -> None:
    a = fingerprint("p", "m", _tool_messages("call_ab12cd34ef56"), PARAMS)
    assert a == fingerprint("p", "m", _tool_messages("call_0f9e8d7c6b5a"), PARAMS)
    two = _tool_messages("call_1") + _tool_messages("call_2")[2:]
    crossed = copy.deepcopy(two)
    crossed[3]["tool_call_id"] = "call_2"  # the first result now answers the second call
    crossed[5]["tool_call_id"] = "call_1"
    assert fingerprint("p", "m", two, PARAMS) != fingerprint("p", "m", crossed, PARAMS)


def test_fingerprint_is_sensitive_to_every_message_change() -> None:
    base = fingerprint("p", "m", _tool_messages("call_x"), PARAMS)
    changed = _tool_messages("call_x")
    changed[3]["content"] = "4 °C, cloudy"
    assert fingerprint("p", "m", changed, PARAMS) != base
    changed = _tool_messages("call_x")
    changed[1]["role"] = "system"
    assert fingerprint("p", "m", changed, PARAMS) != base
    assert fingerprint("p", "m", _tool_messages("call_x")[:-1], PARAMS) != base
    assert fingerprint("p", "m", _tool_messages("call_x", "27 November 2026"), PARAMS) != base  # date kept


def test_fingerprint_depends_on_provider_model_and_answer_changing_params() -> None:
    msgs = _tool_messages("call_x")
    base = fingerprint("nvidia", "m", msgs, PARAMS)
    assert fingerprint("openrouter", "m", msgs, PARAMS) != base
    assert fingerprint("nvidia", "m2", msgs, PARAMS) != base
    assert fingerprint("nvidia", "m", msgs, {**PARAMS, "temperature": 0.7}) != base
    assert fingerprint("nvidia", "m", msgs, {**PARAMS, "max_tokens": 512}) != base
    assert fingerprint(" NVIDIA ", "m", msgs, PARAMS) == base


def test_fingerprint_ignores_timeouts_hooks_and_stream_options() -> None:
    msgs = _tool_messages("call_x")
    noisy = {**PARAMS, "raw_response_hook": lambda r: None, "read_timeout": 30, "stream": True,
             "model_extras": {"stream_options": {"include_usage": True}}}
    assert fingerprint("p", "m", msgs, noisy) == fingerprint("p", "m", msgs, PARAMS)
    assert fingerprint("p", "m", msgs, {"temperature": 1}) == fingerprint("p", "m", msgs, {"temperature": 1.0})
    assert fingerprint("p", "m", msgs, {**PARAMS, "model_extras": {"top_k": 5}}) != fingerprint("p", "m", msgs, PARAMS)


def test_fingerprint_hashes_images_so_it_stays_small_but_sees_a_different_image() -> None:
    big = b"\xff\xd8\xff" + bytes(range(256)) * 4000
    a = fingerprint("p", "m", _vision_messages(big), PARAMS)
    assert a == fingerprint("p", "m", _vision_messages(big), PARAMS)
    assert a != fingerprint("p", "m", _vision_messages(big + b"x"), PARAMS)
    assert a != fingerprint("p", "m", _vision_messages(big, "What is written here?"), PARAMS)


def test_fingerprint_key_order_does_not_matter() -> None:
    a = [{"role": "user", "content": "hi"}]
    b = [{"content": "hi", "role": "user"}]
    assert fingerprint("p", "m", a, {"a": 1, "b": 2}) == fingerprint("p", "m", b, {"b": 2, "a": 1})


def test_tool_key_is_canonical() -> None:
    assert tool_key("f", {"b": 1, "a": "x"}) == tool_key("f", {"a": "x", "b": 1.0}) == 'f {"a":"x","b":1}'
    assert tool_key("f", {"a": 1}) != tool_key("g", {"a": 1})


# Recording ---------------------------------------------------------------------------------------------------------


def test_recorder_timestamps_pieces_and_stores_on_finish() -> None:
    mono = FakeClock(50.0)
    store = ReplayStore(monotonic=mono, clock=FakeClock(1000.0))
    rec = store.record_stream(_fp(1))
    mono.now = 50.4
    rec.add("It is ")
    mono.now = 50.9
    rec.add("3 °C.")
    assert store.lookup(_fp(1)) is None  # not before the stream finished
    recording = rec.finish(Usage(10, 5, 15), "stop")
    assert recording is not None
    found = store.lookup(_fp(1))
    assert found.text == "It is 3 °C."
    assert found.chunks == [(pytest.approx(0.4), "It is "), (pytest.approx(0.9), "3 °C.")]
    assert found.usage == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    assert found.finish_reason == "stop" and found.recorded_at == 1000.0
    assert found.duration_s == pytest.approx(0.9)
    assert rec.finish() is None  # finishing twice stores nothing more
    rec.add("late")
    assert store.lookup(_fp(1)).text == "It is 3 °C."


def test_unfinished_discarded_or_empty_streams_store_nothing() -> None:
    store = ReplayStore()
    rec = store.record_stream(_fp(1))
    rec.add("partial")  # never finished
    rec2 = store.record_stream(_fp(2))
    rec2.add("partial")
    rec2.discard()
    assert rec2.finish() is None
    assert store.record_stream(_fp(3)).finish({"total_tokens": 0}) is None  # nothing arrived
    assert len(store) == 0


def test_wrap_records_a_whole_stream_and_reads_usage_from_the_source() -> None:
    class Stream:
        usage = Usage(1, 2, 3)
        finish_reason = "stop"

        def __iter__(self):
            yield "Hel"
            yield "lo"

    store = ReplayStore()
    src = Stream()
    assert list(store.record_stream(_fp(1)).wrap(src, source=src)) == ["Hel", "lo"]
    assert store.lookup(_fp(1)).text == "Hello" and store.lookup(_fp(1)).usage["total_tokens"] == 3


def test_wrap_stores_nothing_when_the_stream_fails_or_is_abandoned() -> None:
    def failing():
        yield "Hel"
        raise ConnectionError("dropped")

    store = ReplayStore()
    with pytest.raises(ConnectionError):
        list(store.record_stream(_fp(1)).wrap(failing()))
    gen = store.record_stream(_fp(2)).wrap(iter(["a", "b", "c"]))
    assert next(gen) == "a"
    gen.close()
    assert len(store) == 0


def test_tool_results_are_recorded_by_name_and_canonical_arguments() -> None:
    store = ReplayStore(clock=FakeClock())
    assert store.record_tool("brave_search", {"query": "Stockholm weather", "count": 3}, "3 °C",
                             source="Brave Search API", ok=True, elapsed_s=0.8, url="https://x")
    found = store.lookup_tool("brave_search", {"count": 3, "query": "Stockholm weather"})
    assert isinstance(found, ToolRecording)
    assert (found.content, found.source, found.ok, found.elapsed_s, found.url) == ("3 °C", "Brave Search API",
                                                                               True, 0.8, "https://x")
    assert store.lookup_tool("brave_search", {"query": "Oslo weather", "count": 3}) is None
    assert store.lookup_tool("wolfram_alpha", {"query": "Stockholm weather", "count": 3}) is None
    assert store.lookup(tool_key("brave_search", {"query": "Stockholm weather", "count": 3})) is None


def test_tool_result_objects_round_trip() -> None:
    store = ReplayStore()
    result = ToolResult("get_weather", {"city": "Oslo"}, "error: timed out", False, "Open-Meteo", True, 10.0, None)
    assert store.record_tool_result(result)
    assert store.lookup_tool("get_weather", {"city": "Oslo"}).as_result() == result
    assert ToolRecording.from_result(result).as_result() == result


# Replay pacing ---------------------------------------------------------------------------------------------------


def test_replay_keeps_the_recorded_pace() -> None:
    sleep = FakeSleep()
    rec = Recording(_fp(1), [(0.5, "It "), (0.7, "is "), (0.7, "3 "), (1.2, "°C.")])
    assert list(replay(rec, sleep=sleep)) == ["It ", "is ", "3 ", "°C."]
    assert sleep.calls == pytest.approx([0.5, 0.2, 0.5])  # no sleep for a zero gap


def test_replay_speed_scales_the_gaps() -> None:
    sleep = FakeSleep()
    rec = Recording(_fp(1), [(1.0, "a"), (2.0, "b")])
    assert "".join(ReplayStore().replay(rec, speed=2.0, sleep=sleep)) == "ab"
    assert sleep.calls == pytest.approx([0.5, 0.5])
    sleep.calls.clear()
    list(replay(rec, speed=float("inf"), sleep=sleep))
    assert sleep.calls == []
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError):
            list(replay(rec, speed=bad, sleep=sleep))


def test_replay_caps_any_single_gap() -> None:
    sleep = FakeSleep()
    rec = Recording(_fp(1), [(30.0, "slow start"), (31.0, " then"), (100.0, " a stall")])
    list(replay(rec, sleep=sleep))
    assert sleep.calls == pytest.approx([MAX_GAP_S, 1.0, MAX_GAP_S])
    assert MAX_GAP_S == 2.0


def test_replay_is_lazy() -> None:
    sleep = FakeSleep()
    it = replay(Recording(_fp(1), [(0.1, "a"), (0.3, "b")]), sleep=sleep)
    assert sleep.calls == []
    assert next(it) == "a" and sleep.calls == pytest.approx([0.1])


# Bounds, LRU, TTL ------------------------------------------------------------------------------------------------


def _put(store: ReplayStore, i: int, text: str = "x") -> bool:
    return store.put(Recording(_fp(i), [(0.1, text)], recorded_at=store.clock()))


def test_entry_count_is_bounded_with_least_recently_used_evicted() -> None:
    store = ReplayStore(max_entries=3)
    for i in range(3):
        _put(store, i)
    assert store.lookup(_fp(0)) is not None  # 0 is now the most recently used
    _put(store, 3)
    assert len(store) == 3
    assert store.lookup(_fp(1)) is None
    assert all(store.lookup(_fp(i)) is not None for i in (0, 2, 3))


def test_total_bytes_are_bounded_and_oversized_entries_refused() -> None:
    store = ReplayStore(max_entries=100, max_bytes=2_400)  # each entry: 500 bytes of text + its piece + 100
    for i in range(5):
        assert _put(store, i, "y" * 500)
    assert store.total_bytes <= 2_400 and len(store) == 3
    assert store.lookup(_fp(0)) is None and store.lookup(_fp(4)) is not None
    assert not _put(store, 99, "z" * 5_000)
    assert store.lookup(_fp(99)) is None and len(store) == 3
    assert not store.record_tool("t", {}, "z" * 5_000, source="s", ok=True, elapsed_s=0)


def test_replacing_an_entry_does_not_leak_bytes() -> None:
    store = ReplayStore(max_bytes=10_000)
    for _ in range(50):
        _put(store, 1, "w" * 1_000)
    assert len(store) == 1 and store.total_bytes < 1_000 + PIECE_OVERHEAD_BYTES + 200
    store.clear()
    assert len(store) == 0 and store.total_bytes == 0


def test_mutating_a_returned_recording_does_not_corrupt_the_byte_count() -> None:
    store = ReplayStore(max_bytes=10_000)
    _put(store, 1, "a")
    store.lookup(_fp(1)).chunks.append((0.2, "b" * 5_000))
    store.clear()
    assert store.total_bytes == 0


def test_ttl_makes_old_entries_invisible_and_purges_them() -> None:
    clock = FakeClock()
    store = ReplayStore(ttl_s=60, clock=clock)
    _put(store, 1)
    store.record_tool("t", {"a": 1}, "r", source="s", ok=True, elapsed_s=0.1)
    clock.now += 59
    assert store.lookup(_fp(1)) is not None and store.lookup_tool("t", {"a": 1}) is not None
    clock.now += 2
    assert store.lookup(_fp(1)) is None and store.lookup_tool("t", {"a": 1}) is None
    assert len(store) == 0
    _put(store, 2)
    clock.now += 61
    _put(store, 3)  # adding purges what expired
    assert len(store) == 1


def test_no_ttl_keeps_entries_forever() -> None:
    clock = FakeClock()
    store = ReplayStore(clock=clock)
    _put(store, 1)
    clock.now += 10 * 365 * 86400
    assert store.lookup(_fp(1)) is not None


def test_store_is_thread_safe() -> None:
    store = ReplayStore(max_entries=50, max_bytes=100_000)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(200):
                _put(store, n * 1000 + i, "t" * (i % 50 + 1))
                store.lookup(_fp(n * 1000 + i // 2))
                store.record_tool("t", {"n": n, "i": i}, "r", source="s", ok=True, elapsed_s=0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(store) == 50 and 0 < store.total_bytes <= 100_000


def test_constructor_rejects_nonsense_bounds() -> None:
    with pytest.raises(ValueError):
        ReplayStore(max_entries=0)
    with pytest.raises(ValueError):
        ReplayStore(max_bytes=0)


# Save / load -----------------------------------------------------------------------------------------------------


def _rehearsed() -> ReplayStore:
    store = ReplayStore(clock=FakeClock())
    store.put(Recording(_fp(1), [(0.3, "It is "), (0.8, "3 °C.")], {"total_tokens": 15}, "stop", 1000.0))
    store.put(Recording(_fp(2), [(1.5, "A red barn.")], None, None, 1001.0))
    store.record_tool("brave_search", {"query": "Stockholm weather"}, "3 °C", source="Brave", ok=True,
                      elapsed_s=0.8, url="https://api.search.brave.com/?q=Stockholm")
    return store


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "rehearsal.json"
    _rehearsed().save(path)
    fresh = ReplayStore()
    assert fresh.load(path) == 3 and len(fresh) == 3
    one = fresh.lookup(_fp(1))
    assert one.chunks == [(0.3, "It is "), (0.8, "3 °C.")] and one.usage == {"total_tokens": 15}
    assert one.finish_reason == "stop" and one.recorded_at == 1000.0
    assert fresh.lookup(_fp(2)).usage is None
    tool = fresh.lookup_tool("brave_search", {"query": "Stockholm weather"})
    assert tool.content == "3 °C" and tool.url.endswith("Stockholm")
    assert [p for p in tmp_path.iterdir()] == [path]  # no temporary file left behind


def test_to_json_from_json_round_trip_merges_into_a_store() -> None:
    text = _rehearsed().to_json()
    store = ReplayStore()
    _put(store, 9)
    assert store.from_json(text) == 3 and len(store) == 4
    assert json.loads(text)["schema"] == "llama-herd-studio/replay"


def test_saved_file_has_no_secrets_even_split_across_pieces(tmp_path: Path) -> None:
    store = ReplayStore()
    half = len(FAKE_KEY) // 2
    store.put(Recording(_fp(1), [(0.1, "your key is "), (0.2, FAKE_KEY[:half]), (0.3, FAKE_KEY[half:] + " ok")]))
    store.put(Recording(_fp(2), [(0.1, "plain sekrit-value-42 here")]))
    store.record_tool("t", {"q": "Bearer abcdefghijklmnop"}, f"content {FAKE_KEY}", source="s", ok=True,
                      elapsed_s=0.1, url="https://x/?appid=sekrit-value-42")
    path = tmp_path / "r.json"
    store.save(path, secrets=["sekrit-value-42"])
    text = path.read_text(encoding="utf-8")
    for leaked in (FAKE_KEY, FAKE_KEY[:half], FAKE_KEY[half:], "sekrit-value-42", "abcdefghijklmnop"):
        assert leaked not in text
    back = ReplayStore()
    back.load(path)
    one = back.lookup(_fp(1))
    assert one.text == f"your key is {REDACTED} ok"
    assert [t for t, _ in one.chunks] == [0.1, 0.2, 0.3]  # the pace survives redaction
    assert back.lookup(_fp(2)).text == f"plain {REDACTED} here"


@pytest.mark.parametrize("text, words", [
    ("not json", "not valid JSON"),
    ("[]", "not a Llama Herd Studio rehearsal file"),
    ('{"schema": "llama-herd-studio/transcript", "version": 1}', "not a Llama Herd Studio rehearsal"),
    ('{"schema": "llama-herd-studio/replay", "version": 9}', "newer version"),
    ('{"schema": "llama-herd-studio/replay"}', "no valid version"),
    ('{"schema": "llama-herd-studio/replay", "version": 1, "streams": {}}', "must be lists"),
    ('{"schema": "llama-herd-studio/replay", "version": 1, "streams": [{"fingerprint": "abc", "chunks": []}]}',
     "fingerprint"),
    ('{"schema": "llama-herd-studio/replay", "version": 1, "streams": [{"fingerprint": "' + "a" * 64
     + '", "chunks": [[0.1]]}]}', "pair"),
    ('{"schema": "llama-herd-studio/replay", "version": 1, "streams": [{"fingerprint": "' + "a" * 64
     + '", "chunks": [[-1, "x"]]}]}', "valid number"),
    ('{"schema": "llama-herd-studio/replay", "version": 1, "streams": [{"fingerprint": "' + "a" * 64
     + '", "chunks": [[NaN, "x"]]}]}', "NaN"),
    ('{"schema": "llama-herd-studio/replay", "version": 1, "streams": [{"fingerprint": "' + "a" * 64
     + '", "chunks": [[0.1, 5]]}]}', "not text"),
    ('{"schema": "llama-herd-studio/replay", "version": 1, "tools": [{"name": "t", "content": "c", "ok": "yes"}]}',
     "true or false"),
    ('{"schema": "llama-herd-studio/replay", "version": 1, "tools": [{"name": "t"}]}', "content"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"schema": "llama-herd-studio/replay", "version": 1, "streams": [{"fingerprint": "' + "a" * 64
     + '", "chunks": [[1' + "0" * 5_000 + ', "x"]]}]}', "5,001 digits"),
    ('{"schema": "llama-herd-studio/replay", "version": 1, "tools": [{"name": "t", "content": "c", "elapsed_s": 1'
     + "0" * 400 + "}]}", "not a valid number"),
    ('{"schema": "llama-herd-studio/replay", "version": 1, "tools": [{"name": "t", "content": "c", "arguments": 1}]}',
     "arguments of tool result 1 are not an object"),
])
def test_malformed_rehearsal_files_are_refused_and_nothing_is_loaded(text: str, words: str) -> None:
    store = ReplayStore()
    with pytest.raises(ReplayError, match=words):
        store.from_json(text)
    assert len(store) == 0


def test_a_bad_entry_after_good_ones_loads_nothing() -> None:
    data = json.loads(_rehearsed().to_json())
    data["tools"].append({"name": 5})
    store = ReplayStore()
    with pytest.raises(ReplayError):
        store.from_json(json.dumps(data))
    assert len(store) == 0


def test_loaded_times_are_made_non_decreasing() -> None:
    data = json.loads(_rehearsed().to_json())
    data["streams"][0]["chunks"] = [[0.5, "a"], [0.2, "b"]]
    store = ReplayStore()
    store.from_json(json.dumps(data))
    assert [t for t, _ in store.lookup(_fp(1)).chunks] == [0.5, 0.5]


def test_missing_or_huge_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ReplayError, match="could not be read"):
        ReplayStore().load(tmp_path / "missing.json")
    big = tmp_path / "big.json"
    big.write_text("{}")
    monkeypatch.setattr("lib.answers.recording.MAX_FILE_BYTES", 1)
    with pytest.raises(ReplayError, match="too large"):
        ReplayStore().load(big)
    with pytest.raises(ReplayError, match="too large"):
        ReplayStore().from_json("{}")


def test_a_saved_file_is_one_compact_line_a_recording() -> None:
    text = _rehearsed().to_json()
    assert len(text.splitlines()) == 2 + 3 + 1  # head, 2 recordings, "tools", 1 tool result, end
    assert '[[0.3,"It is "],[0.8,"3 °C."]]' in text


def test_replay_error_is_a_value_error() -> None:
    assert issubclass(ReplayError, ValueError)


def test_a_recording_of_many_tiny_pieces_counts_what_it_really_costs() -> None:
    import tracemalloc

    pieces = [(i / 1000, "ab") for i in range(20_000)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    rec = Recording(_fp(1), [(t, p + "") for t, p in pieces])
    real = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert rec.size >= 0.8 * real, f"counted {rec.size} bytes for {real} really held"
    store = ReplayStore(max_bytes=2_000_000)
    assert not store.put(Recording(_fp(2), pieces * 10)), "200 000 tiny pieces (~30 MB in memory) don't fit 2 MB"


# What a recording pins (issue 20: replay with the venue's network down) --------------------------------------------


def test_a_rehearsal_file_keeps_the_models_and_tools_it_was_recorded_with() -> None:
    from lib.answers.rehearsal import Rehearsal

    rehearsal = Rehearsal()
    rehearsal.store.put(Recording(_fp(1), [(0.1, "Hi")], None, "stop", 1000.0))
    rehearsal.pin("openrouter", "tools", "meta-llama/llama-3.3-70b-instruct", ["brave_search", "get_local_time"])
    rehearsal.pin("openrouter|http://x/v1", "vision", "meta-llama/llama-3.2-11b-vision-instruct")
    rehearsal.pin("nvidia", "elsewhere", "m")  # not a page: ignored
    text = rehearsal.to_json(secrets=[FAKE_KEY])
    assert json.loads(text)["pins"] == {
        "models": {"openrouter": {"tools": "meta-llama/llama-3.3-70b-instruct",
                                  "vision": "meta-llama/llama-3.2-11b-vision-instruct"}},
        "tools": ["brave_search", "get_local_time"]}
    on_stage = Rehearsal()
    assert on_stage.from_json(text) == 1
    assert on_stage.pinned_model("openrouter", "tools") == "meta-llama/llama-3.3-70b-instruct"
    assert on_stage.pinned_model("openrouter|http://stage/v1", "vision") == "meta-llama/llama-3.2-11b-vision-instruct"
    assert on_stage.pinned_model("nvidia", "tools") is None
    assert on_stage.pinned_tools == ("brave_search", "get_local_time")
    older = Rehearsal()  # a file saved before pins existed still loads, and pins nothing
    assert older.from_json(ReplayStore().to_json()) == 0 and older.pins == {} and older.pinned_tools is None
    on_stage.clear()
    assert on_stage.pins == {} and len(on_stage) == 0


@pytest.mark.parametrize("pins, words", [
    ('"pins": []', "“pins” is not an object"),
    ('"pins": {"models": {"openrouter": {"home": "m"}}}', "not {\"tools\""),
    ('"pins": {"models": {"openrouter": {"tools": 42}}}', "a model in “pins” is not a short text"),
    ('"pins": {"models": {"openrouter": {"tools": "' + "m" * 400 + '"}}}', "not a short text"),
    ('"pins": {"tools": "brave_search"}', "not a list of names"),
    ('"pins": {"tools": [' + ",".join(['"t"'] * 60) + ']}', "not a list of names"),
])
def test_damaged_pins_are_refused_and_nothing_is_loaded(pins: str, words: str) -> None:
    from lib.answers.rehearsal import Rehearsal

    text = ('{"schema": "llama-herd-studio/replay", "version": 1, ' + pins + ', "streams": [{"fingerprint": "'
            + _fp(1) + '", "chunks": [[0, "x"]]}], "tools": []}')
    rehearsal = Rehearsal()
    with pytest.raises(ReplayError, match=re.escape(words)):
        rehearsal.from_json(text)
    assert len(rehearsal) == 0 and rehearsal.pins == {}


def test_recording_pins_each_pages_model_and_the_tools_and_keeps_every_tool_result(double, settings) -> None:
    from lib.answers.rehearsal import Rehearsal
    from lib.tool_calling.llama_prompt import ToolCall
    from tests.api_double import Reply

    rehearsal = Rehearsal()
    double.queue(Reply(text="Tool answer"), Reply(text="Vision answer"))
    record = rehearsal.opener("record", tools=["get_local_time"])
    assert "".join(record(settings, "tools-model", [{"role": "user", "content": "Time in Tokyo?"}])) == "Tool answer"
    assert "".join(record(settings, "vision-model", _vision_messages(b"photo"))) == "Vision answer"
    assert rehearsal.pinned_model(settings.provider_id, "tools") == "tools-model"
    assert rehearsal.pinned_model(settings.provider_id, "vision") == "vision-model"
    assert rehearsal.pinned_tools == ("get_local_time",)
    replaying = rehearsal.opener("replay", tools=["brave_search"])
    stream = replaying(settings, "tools-model", [{"role": "user", "content": "Time in Tokyo?"}])
    assert "".join(stream) == "Tool answer" and stream.cached and len(double.chat_requests) == 2  # no request
    assert rehearsal.pinned_tools == ("get_local_time",), "replaying pins nothing"

    # The clock's result is kept too (not a keyed tool): on stage the same call gets the same time, so the next
    # request is the same request as in the rehearsal.
    ran: list[str] = []

    def clock(call, names, config):
        ran.append(call.name)
        return ToolResult(call.name, dict(call.arguments), "12:00 in Tokyo", True, "tz database", False, 0.01)

    call = ToolCall("get_local_time", {"city_or_timezone": "Tokyo"})
    assert rehearsal.tool_runner(clock, "record")(call, ["get_local_time"], None).content == "12:00 in Tokyo"
    replayed = rehearsal.tool_runner(clock, "replay")(call, ["get_local_time"], None)
    assert ran == ["get_local_time"] and replayed.content == "12:00 in Tokyo"
    assert replayed.source == "tz database (replayed from rehearsal)"
