"""Imported transcripts and rehearsal recordings are bounded in memory, not only in bytes (issue 19).

Deep nesting, huge numbers, too many values, overlong texts and malformed tool calls are refused with a sentence
(TranscriptError / ReplayError), never anything else; the memory a refused or accepted file costs is measured in a
separate process.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from lib.common import jsonfile
from lib.hosts.errors import ErrorKind, UserError
from lib.common.jsonfile import MAX_DEPTH, MAX_NUMBER_CHARS, item_bound, load_untrusted_json
from lib.tool_calling.llama_prompt import ToolCall, call_text
from lib.answers.rehearsal import Rehearsal
from lib.answers.recording import (
    MAX_FILE_BYTES,
    MAX_FILE_ITEMS,
    Recording,
    ReplayError,
    ReplayStore,
    replay,
)
from lib.tool_calling.loop import ToolStep, Turn
from lib.tools.base import ToolResult
from lib.answers.transcript import (
    MAX_JSON_BYTES,
    MAX_JSON_ITEMS,
    MAX_TEXT_CHARS,
    TranscriptError,
    from_json,
    to_json,
    to_markdown,
    tool_transcript,
    tool_turns_from_transcript,
    vision_transcript,
    vision_turns_from_transcript,
)

ROOT = Path(__file__).resolve().parent.parent
REPLAY = '{"schema": "llama-herd-studio/replay", "version": 1, '
TOOLS = '{"schema": "llama-herd-studio/transcript", "version": 1, "kind": "tools", '


def _turn(i: int = 0) -> Turn:
    turn = Turn(question=f"What is the weather in Stockholm? ({i})")
    turn.model, turn.endpoint = "meta/llama-3.1-405b-instruct", "https://integrate.api.nvidia.com/v1"
    step = ToolStep(raw_output='<|python_tag|>brave_search.call(query="Stockholm weather")<|eom_id|>',
                    call=ToolCall("brave_search", {"query": "Stockholm weather"}, "builtin"))
    step.result = ToolResult("brave_search", {"query": "Stockholm weather"}, "Stockholm: 3 °C, cloudy.", True,
                             "Brave Search API", False, 0.84, "https://api.search.brave.com/?q=Stockholm")
    turn.steps.append(step)
    turn.steps.append(ToolStep(raw_output='{"name": "get_weather", "parameters": {"city": "Stockholm", "days": [1]}}',
                               call=ToolCall("get_weather", {"city": "Stockholm", "days": [1]}, "json")))
    turn.answer = "It is 3 °C and cloudy in Stockholm."
    turn.answer_raw = turn.answer + "<|eot_id|>"
    turn.error = UserError(ErrorKind.RATE_LIMIT_DAY, "Daily limit reached", "Try again later.", retry_after_s=60.0,
                           status=429, code="RateLimitReached", detail="")
    turn.notes = ["a note"]
    turn.template_kwargs = {"chat_template_kwargs": {"builtin_tools": ["brave_search"]}}
    turn.messages_sent = [{"role": "user", "content": "What is the weather in Stockholm?"},
                          {"role": "assistant", "content": "", "tool_calls": [
                              {"id": "call_1", "type": "function",
                               "function": {"name": "brave_search", "arguments": '{"query": "x"}'}}]}]
    turn.elapsed_s, turn.requests, turn.tokens = 3.25, 3, 1234
    return turn


def _tools_dict(turns: int = 1) -> dict[str, Any]:
    return json.loads(to_json(tool_transcript([_turn(i) for i in range(turns)], provider="p", model="m")))


def _vision_dict() -> dict[str, Any]:
    return json.loads(to_json(vision_transcript([("user", "What is it?"), ("assistant", "A barn.")], {1: "1 s"},
                                                provider="p", model="m", image_name="x.jpg",
                                                image_thumbnail_jpeg=None)))


def _recording_dict() -> dict[str, Any]:
    store = ReplayStore()
    store.put(Recording("1" * 64, [(0.3, "It is "), (0.8, "3 °C.")], {"total_tokens": 15}, "stop", 1000.0))
    store.record_tool("brave_search", {"query": "Stockholm weather", "n": [1, 2]}, "3 °C", source="Brave", ok=True,
                      elapsed_s=0.8, url="https://api.search.brave.com/?q=Stockholm")
    return json.loads(store.to_json())


# The JSON reader ----------------------------------------------------------------------------------------------


def _load(text: str | bytes, **kwargs: Any) -> Any:
    return load_untrusted_json(text, max_bytes=MAX_JSON_BYTES, what="a transcript", error=TranscriptError, **kwargs)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_nesting_up_to_the_limit_is_read_and_one_more_level_is_refused() -> None:
    assert _load(_nested(MAX_DEPTH)) is not None
    assert _load('{"a": ' * (MAX_DEPTH - 1) + "[]" + "}" * (MAX_DEPTH - 1)) is not None
    for text in (_nested(MAX_DEPTH + 1), _nested(900), _nested(100_000), '{"a": ' * 65 + "1" + "}" * 65):
        with pytest.raises(TranscriptError, match=f"nested too deeply .*more than {MAX_DEPTH} levels"):
            _load(text)


@pytest.mark.parametrize("literal, words", [
    ("1" + "0" * 100_000, "a number with 100,001 digits"),
    ("-" + "9" * 5_000, "a number with 5,000 digits"),  # over Python's own 4,300: a ValueError until now
    ("1" + "0" * MAX_NUMBER_CHARS, "digits"),
    ("1e999", "the number 1e999, too large to use"),
    ("-1E400", "too large to use"),
    ("0." + "0" * 5_000 + "1", "written with 5,003 characters"),
])
def test_huge_numbers_are_refused_with_a_sentence(literal: str, words: str) -> None:
    with pytest.raises(TranscriptError, match=words):
        _load('{"x": [' + literal + "]}")
    with pytest.raises(ReplayError, match=words):
        ReplayStore().from_json(REPLAY + '"streams": [], "x": ' + literal + "}")


def test_numbers_of_up_to_the_limit_are_read() -> None:
    assert _load("[" + "9" * MAX_NUMBER_CHARS + ", 1.7976931348623157e308]") == [10 ** MAX_NUMBER_CHARS - 1,
                                                                               1.7976931348623157e308]


def test_too_many_values_are_refused_before_anything_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed")

    monkeypatch.setattr(jsonfile.json, "loads", no_parse)
    text = TOOLS + '"turns": [' + ",".join(["{}"] * 1_650_000) + "]}"  # the 5 MB of {}
    assert len(text) <= MAX_JSON_BYTES
    with pytest.raises(TranscriptError, match=f"too many separate values .* at most {MAX_JSON_ITEMS:,}"):
        from_json(text.encode())
    with pytest.raises(ReplayError, match="too many separate values"):
        ReplayStore().from_json(REPLAY + '"streams": [' + ",".join(['[0,""]'] * (MAX_FILE_ITEMS // 3)) + "]}")


def _built(value: Any) -> int:
    """Python objects json.loads builds for `value`: every value and every key."""
    if isinstance(value, dict):
        return 1 + sum(1 + _built(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_built(v) for v in value)
    return 1


@pytest.mark.parametrize("text", [
    "[]", "{}", '""', "1", '[[], {}, [[]], {"a": {}}]', '{"a": 1, "b": [1, 2, {"c": null}], "d": "x,y:[{"}',
    json.dumps(_tools_dict(3)), json.dumps(_recording_dict()), json.dumps(_vision_dict()),
], ids=["list", "object", "string", "number", "nested", "mixed", "tools-transcript", "recording",
        "vision-transcript"])  # stable ids: the files hold timestamps, and test workers must collect the same ids
def test_the_count_before_parsing_is_an_upper_bound(text: str) -> None:
    assert _built(json.loads(text)) <= item_bound(text)


def test_a_lone_surrogate_is_refused_and_a_pair_is_read() -> None:
    d = _tools_dict()
    d["turns"][0]["answer"] = "smile \ud83d\ude00"
    assert from_json(json.dumps(d))["turns"][0]["answer"] == "smile 😀"  # json.dumps writes it as a \\u pair
    d["turns"][0]["answer"] = "broken \ud800 text"
    with pytest.raises(TranscriptError, match="“answer” in turn 1 holds a lone UTF-16 surrogate"):
        from_json(json.dumps(d))
    with pytest.raises(TranscriptError, match="surrogate"):
        from_json(json.dumps(d, ensure_ascii=False))  # as text: a str can hold it
    with pytest.raises(ReplayError, match="text piece 1 of recording 1 holds a lone UTF-16 surrogate"):
        ReplayStore().from_json(REPLAY + '"streams": [{"fingerprint": "' + "a" * 64
                                + '", "chunks": [[0.1, "\\udfff"]]}]}')


# Texts --------------------------------------------------------------------------------------------------------


def test_a_transcript_text_over_the_limit_is_refused_and_one_at_it_read() -> None:
    d = _tools_dict()
    d["turns"][0]["answer"] = "a" * MAX_TEXT_CHARS
    assert len(tool_turns_from_transcript(from_json(json.dumps(d)))[0].answer) == MAX_TEXT_CHARS
    d["turns"][0]["answer"] = "é" * 4_900_000  # the 4.9 MB answer (in 9.8 MB of UTF-8: too large anyway)
    with pytest.raises(TranscriptError, match="too large"):
        from_json(json.dumps(d, ensure_ascii=False))
    d["turns"][0]["answer"] = "a" * 4_900_000
    with pytest.raises(TranscriptError, match="text too long for a transcript: “answer” in turn 1 has 4,900,000 "
                                              "characters \\(at most 100,000\\)"):
        from_json(json.dumps(d))


@pytest.mark.parametrize("where, words", [
    (lambda d: d["turns"][0].__setitem__("question", "q" * (MAX_TEXT_CHARS + 1)), "“question” in turn 1"),
    (lambda d: d["turns"][0]["steps"][0]["result"].__setitem__("content", "c" * 200_000),
     "“content” in step 1 of turn 1"),
    (lambda d: d["turns"][0]["messages_sent"][0].__setitem__("content", "m" * 200_000),
     "“content” in message 1 of turn 1"),
    (lambda d: d["turns"][0]["notes"].append("n" * 200_000), "“notes” in turn 1"),
    (lambda d: d["turns"][0]["steps"][0]["call"]["arguments"].__setitem__("k" * 200_000, 1), "“k"),
])
def test_every_imported_text_is_bounded_and_the_refusal_says_where(where: Callable[[dict], None],
                                                                   words: str) -> None:
    d = _tools_dict()
    where(d)
    with pytest.raises(TranscriptError, match=words):
        from_json(json.dumps(d))


def test_a_vision_text_over_the_limit_is_refused() -> None:
    d = _vision_dict()
    d["turns"][1]["text"] = "x" * (MAX_TEXT_CHARS + 1)
    with pytest.raises(TranscriptError, match="“text” in turn 2"):
        from_json(json.dumps(d))


def test_a_recorded_answer_or_tool_result_over_the_limit_is_refused() -> None:
    d = _recording_dict()
    d["streams"][0]["chunks"] = [[0.1, "x" * 60_000], [0.2, "y" * 60_000]]  # each piece short, the answer not
    with pytest.raises(ReplayError, match="the answer in recording 1 is longer than 100,000 characters"):
        ReplayStore().from_json(json.dumps(d))
    d = _recording_dict()
    d["tools"][0]["content"] = "c" * (MAX_TEXT_CHARS + 1)
    with pytest.raises(ReplayError, match="“content” in tool result 1 has 100,001 characters"):
        ReplayStore().from_json(json.dumps(d))
    d = _recording_dict()
    d["tools"][0]["arguments"] = {"q": ["word"] * 20_000}
    with pytest.raises(ReplayError, match="the arguments of tool result 1 are 160,00\\d characters of JSON"):
        ReplayStore().from_json(json.dumps(d))


# Sizes --------------------------------------------------------------------------------------------------------


def test_a_recording_larger_than_a_rehearsal_holds_is_refused_before_parsing(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_FILE_BYTES == 20_000_000 <= Rehearsal().store.max_bytes
    monkeypatch.setattr(jsonfile.json, "loads", lambda *a, **k: pytest.fail("parsed"))
    big = b'{"schema": "llama-herd-studio/replay", "version": 1, "streams": [' + b'[0,""],' * 7_000_000
    for data in (big, big.decode()):
        with pytest.raises(ReplayError, match=r"too large \(49\.0 MB; a rehearsal holds at most 20 MB\)"):
            ReplayStore().from_json(data)
    path = tmp_path / "big.json"
    path.write_bytes(big)
    with pytest.raises(ReplayError, match="a rehearsal holds at most 20 MB"):
        ReplayStore().load(path)


def test_the_server_upload_limit_lets_photos_and_recordings_through_but_not_much_more() -> None:
    from lib.vision.images import MAX_UPLOAD_MB

    upload_mb = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    assert upload_mb > MAX_UPLOAD_MB, "a photo over the page's limit must reach the page, which explains it"
    assert upload_mb * 1024 * 1024 > MAX_FILE_BYTES, "an oversized recording must reach the page, which explains it"
    assert upload_mb <= 50, "the server holds every upload whole in memory"


def test_real_files_are_far_below_the_limits() -> None:
    store = ReplayStore(max_entries=500, max_bytes=10 ** 9)
    rng = random.Random(1)
    words = ["the", " of", " Stockholm,", " 3 °C", " {", "}", " 👍"]
    for i in range(500):  # a rehearsal of 500 answers of 300 pieces
        store.put(Recording(f"{i:064x}", [(round(0.05 * j, 4), rng.choice(words)) for j in range(300)],
                            {"total_tokens": 400}, "stop", 1.7e9))
    text = store.to_json()
    assert len(text.encode()) < MAX_FILE_BYTES / 4 and item_bound(text) < MAX_FILE_ITEMS / 3
    assert Rehearsal().store.from_json(text.encode()) == 500
    transcript = to_json(tool_transcript([_turn(i) for i in range(500)], provider="p", model="m"))
    assert len(transcript.encode()) < MAX_JSON_BYTES / 4 and item_bound(transcript) < MAX_JSON_ITEMS / 5
    assert len(tool_turns_from_transcript(from_json(transcript.encode()))) == 500


# Malformed tool calls --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("change, words", [
    (lambda c: c.update(arguments="query=x"), "wrong type"),
    (lambda c: c.update(arguments=[1, 2]), "wrong type"),
    (lambda c: c.update(name=["brave_search"]), "wrong type"),
    (lambda c: c.update(name=5), "wrong type"),
    (lambda c: c.pop("name"), "has no “name”"),
    (lambda c: c.update(name="n" * 5_000), "tool name in step 1 of turn 1 is 5,000 characters long"),
    (lambda c: c.update(form="evil"), "unknown form “evil”"),
    (lambda c: c.update(form=None) or c.update(arguments={"q": list(range(30_000))}), "characters of JSON"),
    (lambda c: c.update(arguments={"q": [{"a": [{}] * 20}] * 2_000}), "at most 100,000"),
])
def test_malformed_tool_calls_are_refused_with_a_sentence(change: Callable[[dict], Any], words: str) -> None:
    d = _tools_dict()
    change(d["turns"][0]["steps"][0]["call"])
    with pytest.raises(TranscriptError, match=words):
        from_json(json.dumps(d))


@pytest.mark.parametrize("change, words", [
    (lambda t: t.update(steps={"0": {}}), "wrong type"),
    (lambda t: t.update(steps=["step"]), "step 1 of turn 1 is not an object"),
    (lambda t: t["steps"][0].update(result=[]), "wrong type"),
    (lambda t: t["steps"][0]["result"].update(arguments="x"), "wrong type"),
    (lambda t: t["usage"].update(tokens=10 ** 400), "not a valid number"),  # no OverflowError any more
    (lambda t: t["timings"].update(elapsed_s=10 ** 999), "not a valid number"),
    (lambda t: t["error"].update(retry_after_s=10 ** 500, status=10 ** 20), "no valid HTTP status"),
    (lambda t: t.update(template_kwargs={"x": "y" * 60_000, "z": "y" * 60_000}), "template fields"),
])
def test_malformed_turns_are_refused_with_a_sentence(change: Callable[[dict], Any], words: str) -> None:
    d = _tools_dict()
    change(d["turns"][0])
    with pytest.raises(TranscriptError, match=words):
        from_json(json.dumps(d))


def test_a_huge_retry_time_is_dropped_not_a_crash() -> None:
    d = _tools_dict()
    d["turns"][0]["error"]["retry_after_s"] = 10 ** 500
    assert tool_turns_from_transcript(from_json(json.dumps(d)))[0].error.retry_after_s is None


@pytest.mark.parametrize("change, words", [
    (lambda t: t.update(arguments="q=x"), "arguments of tool result 1 are not an object"),
    (lambda t: t.update(name=["x"]), "name of tool result 1 is not text"),
    (lambda t: t.update(name="n" * 2_000), "2,000 characters long"),
    (lambda t: t.update(elapsed_s=10 ** 400), "not a valid number"),
    (lambda t: t.update(recorded_at=10 ** 999), "not a valid number"),
])
def test_malformed_recorded_tool_calls_are_refused_with_a_sentence(change: Callable[[dict], Any],
                                                                    words: str) -> None:
    d = _recording_dict()
    change(d["tools"][0])
    store = ReplayStore()
    with pytest.raises(ReplayError, match=words):
        store.from_json(json.dumps(d))
    assert len(store) == 0


def test_a_recording_with_too_many_entries_is_refused() -> None:
    d = _recording_dict()
    d["streams"] = d["streams"] * 2_001
    with pytest.raises(ReplayError, match="too many recordings \\(2,002; at most 2,000\\)"):
        ReplayStore().from_json(json.dumps(d))


# Fuzz: every field of a valid file, replaced by something hostile --------------------------------------------------

HOSTILE: list[Any] = [None, True, -1, 3.5, 10 ** 999, "", "\ud800", [], {}, [[[[]]]], {"a": {"b": [1, "c", None]}}]
HEAVY: list[Any] = [  # one of these a field, in turn (all of them for every field would take half a minute)
    "n" * (MAX_TEXT_CHARS + 1), -1e308, ["x"] * 60, json.loads(_nested(60)), {"k": json.loads(_nested(70))},
    {"q": list(range(40_000))}, "x" * 100,
]


def _paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, path + (i,))


def _mutations(valid: dict[str, Any]) -> Iterator[str]:
    """`valid` as JSON with one field (or list item) replaced by a hostile value, or missing, in every way."""
    for n, path in enumerate(list(_paths(valid))[1:]):
        for hostile in [*HOSTILE, HEAVY[n % len(HEAVY)], HEAVY[(n + 3) % len(HEAVY)]]:
            d = copy.deepcopy(valid)
            parent = d
            for p in path[:-1]:
                parent = parent[p]
            parent[path[-1]] = hostile
            yield json.dumps(d)
        del parent[path[-1]]  # the field missing altogether
        yield json.dumps(d)


def _use_tools(text: str) -> None:
    clean = from_json(text)
    to_markdown(clean)
    json.loads(to_json(clean))
    if clean["kind"] == "vision":
        vision_turns_from_transcript(clean)
        return
    for turn in tool_turns_from_transcript(clean):
        for step in turn.steps:
            call_text(step.call)
            json.dumps(step.call.arguments, allow_nan=False)
        _ = turn.summary, f"{turn.tokens:,}", str(turn.error)


@pytest.mark.parametrize("valid", [_tools_dict(), _vision_dict()], ids=["tools", "vision"])
def test_fuzzed_transcripts_raise_nothing_but_a_transcript_error(valid: dict[str, Any]) -> None:
    read = refused = 0
    for text in _mutations(valid):
        try:
            _use_tools(text)
            read += 1
        except TranscriptError as exc:
            assert str(exc).endswith((".", ")")) and len(str(exc)) < 400, str(exc)
            refused += 1
    assert read and refused


def test_fuzzed_recordings_raise_nothing_but_a_replay_error() -> None:
    read = refused = 0
    for text in _mutations(_recording_dict()):
        store = ReplayStore()
        try:
            store.from_json(text)
        except ReplayError as exc:
            assert str(exc).endswith((".", ")")) and len(str(exc)) < 400, str(exc)
            assert len(store) == 0
            refused += 1
            continue
        read += 1
        for entry in list(store._entries.values()):
            recording = entry[0]
            if isinstance(recording, Recording):
                list(replay(recording, sleep=lambda s: None))
            else:
                store.lookup_tool(recording.name, recording.arguments).as_result()
        ReplayStore().from_json(store.to_json())  # what was loaded saves and loads again
    assert read and refused


# Memory, measured in a separate process ------------------------------------------------------------------------

MEMORY_PROGRAM = """
import gc, sys, time
sys.path.insert(0, {root!r})

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024

import lib.answers.rehearsal, lib.answers.recording, lib.tool_calling.loop, lib.answers.transcript
from lib.answers.rehearsal import Rehearsal
from lib.answers.recording import ReplayError
from lib.answers.transcript import TranscriptError, from_json

data = open({path!r}, "rb").read()  # the upload, as the server holds it
gc.collect()
try:
    open("/proc/self/clear_refs", "w").write("5")  # the peak from here on
except OSError:
    pass
before = status("VmRSS")
try:
    if {kind!r} == "recording":
        result = "loaded %d" % Rehearsal().store.from_json(data)
    else:
        from_json(data)
        result = "loaded"
except (ReplayError, TranscriptError) as exc:
    result = "refused: " + str(exc)
print(before, status("VmHWM"), result, sep="\\n")
"""


def _measure(tmp_path: Path, name: str, data: bytes, kind: str) -> tuple[float, float, str]:
    """(RSS before the load with the file held, peak RSS during it, what happened), in MB."""
    path = tmp_path / name
    path.write_bytes(data)
    out = subprocess.run([sys.executable, "-c", MEMORY_PROGRAM.format(root=str(ROOT), path=str(path), kind=kind)],
                         capture_output=True, text=True, check=True, timeout=100)
    before, peak, result = out.stdout.strip().split("\n", 2)
    path.unlink()
    print(f"{name}: {len(data) / 1e6:.1f} MB file, RSS {float(before):.0f} MB before, peak {float(peak):.0f} MB "
          f"(+{float(peak) - float(before):.0f}): {result[:120]}")
    return float(before), float(peak), result


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_memory_of_hostile_imports_stays_bounded(tmp_path: Path) -> None:
    """The issue's files: 49 MB of small objects (1.4 GB before), 1.65 million {} in 5 MB (+286 MB), deep nesting
    and a 100,001-digit integer; and the worst a file under the limits can do (2 million values)."""
    n = 7_000_000
    cases = [
        ("recording-49MB-small-objects.json", REPLAY.encode() + b'"streams": [{"fingerprint": "' + b"a" * 64
         + b'", "chunks": [' + b'[0,""],' * n + b'[0,""]]}]}', "recording", "too large", 40),
        ("transcript-1.65M-objects.json", (TOOLS + '"turns": [' + ",".join(["{}"] * 1_650_000) + "]}").encode(),
         "transcript", "too many separate values", 20),
        ("transcript-deep.json", _nested(100_000).encode(), "transcript", "nested too deeply", 20),
        ("transcript-huge-int.json", b'{"x": 1' + b"0" * 100_000 + b"}", "transcript", "100,001 digits", 20),
        ("recording-2M-texts.json", REPLAY.encode() + b'"streams": [{"fingerprint": "' + b"a" * 64
         + b'", "chunks": [' + b",".join([b'"ab"'] * (MAX_FILE_ITEMS - 100)) + b"]}]}", "recording",
         "text pieces", 220),
    ]
    for name, data, kind, words, max_growth in cases:
        before, peak, result = _measure(tmp_path, name, data, kind)
        assert result.startswith("refused") and words in result, result
        assert peak - before < max_growth, f"{name}: +{peak - before:.0f} MB"
        assert peak < 300, f"{name}: {peak:.0f} MB"
