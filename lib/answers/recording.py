"""Replay rehearsal: record each model exchange (and tool result) while a presenter rehearses, replay it on stage.

A request is identified by `fingerprint()` (provider, model, messages, answer-changing parameters). On stage, a
request seen before is answered from its `Recording` at the recorded pace (`replay()`); anything new goes live.
With `ttl_s` the same store is a short-lived dedupe cache. Plain Python, thread-safe, bounded, no network.

Example::

    store = ReplayStore()
    fp = fingerprint("nvidia", model, messages, {"max_tokens": 1024, "temperature": 0.2})
    recording = store.lookup(fp)
    if recording is not None:
        pieces = store.replay(recording)                         # labelled "replayed" by the page
    else:
        stream = client.stream(settings, model, messages, max_tokens=1024, temperature=0.2)
        pieces = store.record_stream(fp).wrap(stream, source=stream)  # stored only if the stream finishes
    store.save("rehearsal.json", secrets=[settings.token or ""])
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from lib.common.jsonfile import describe_path, load_untrusted_json, utf8_size
from lib.common.redact import MASK as REDACTED, is_data_url as _is_data_url, redact, redact_data, redaction_spans
from lib.common.shared_state import SharedLink
from lib.i18n import Msg, msg
from lib.tools.base import ToolResult

SCHEMA = "llama-herd-studio/replay"
VERSION = 1
PIECE_OVERHEAD_BYTES = 130  # sys.getsizeof of a (float, str) tuple, its float and an empty str, on CPython 3.11
MAX_GAP_S = 2.0  # a replayed answer never pauses longer than this between two pieces
MAX_FILE_BYTES = 20_000_000
"""Largest rehearsal file read: what a rehearsal holds (lib.answers.rehearsal keeps 20 MB of text), checked before reading.
A rehearsal of 500 answers of 300 pieces is ~7 MB."""
MAX_FILE_ITEMS = 2_000_000
"""Values (lists, texts, numbers, keys...) a rehearsal file may hold, counted before it is parsed (lib/common/jsonfile.py):
each text piece is 3 ([seconds, "text"]), so 500 answers of 300 pieces hold ~510,000, and 500 of 1,024 (max_tokens)
~1.6 million, about what 20 MB can hold. Parsing this many costs at most ~200 MB for a moment; 49 MB of `[0,""],`
(21 million) took 1.2 GB."""
MAX_FILE_ENTRIES = 2_000  # recorded answers + tool results in one file (a rehearsal keeps 500)
MAX_TEXT_CHARS = 100_000
"""Longest recorded answer (all its pieces) or tool result read: an answer stops at max_tokens (1,024 tokens, ~5,000
characters), a tool result at 4,000 characters."""
MAX_NAME_CHARS = 1_000  # a recorded tool's name
MAX_OFFSET_S = 3600.0
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
# Request options that do not change the answer (timeouts, hooks, streaming plumbing).
VOLATILE_PARAMS = frozenset({
    "raw_response_hook", "read_timeout", "connection_timeout", "timeout", "stream", "stream_options",
    "user_agent", "headers", "logging_enable",
})


class ReplayError(ValueError):
    """A rehearsal file that cannot be used; the message says why in words a person understands: `str()` in English,
    `reason` the same as a `Msg` (`files.*`) to show in the page's language."""

    def __init__(self, reason: "Msg | str") -> None:
        super().__init__(str(reason))
        self.reason: Msg | str = reason


# Fingerprints ----------------------------------------------------------------------------------------------------


def _canonical(value: Any, ids: dict[str, str], key: str = "") -> Any:
    """JSON-stable copy: data URLs hashed, tool-call ids numbered by first appearance, 1.0 written as 1."""
    if hasattr(value, "as_dict") and callable(value.as_dict):  # an SDK message object
        value = value.as_dict()
    if isinstance(value, str):
        if key in ("id", "tool_call_id"):
            return ids.setdefault(value, f"call_{len(ids)}")
        if _is_data_url(value):
            return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
        return value
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        return {str(k): _canonical(v, ids, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, ids) for v in value]
    return str(value)


def _canonical_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in (params or {}).items():
        if k in VOLATILE_PARAMS or callable(v):
            continue
        if isinstance(v, Mapping):
            v = {kk: vv for kk, vv in v.items() if kk not in VOLATILE_PARAMS and not callable(vv)}
            if not v:
                continue
        out[str(k)] = _canonical(v, {})
    return out


def fingerprint(provider: str, model: str, messages: Sequence[Any], params: Mapping[str, Any] | None = None) -> str:
    """sha256 (hex) of a request, stable across tool-call ids and image re-encoding of the same bytes.

    Images (data URLs) count by their hash; tool-call ids by position; timeouts and hooks not at all. Everything
    else counts, including the "Today Date:" line of a system prompt (a rehearsal from another day won't match).

    >>> a = fingerprint("ollama", "llama3.1", [{"role": "user", "content": "Hi"}], {"temperature": 0.2})
    >>> a == fingerprint("Ollama", "llama3.1", [{"role": "user", "content": "Hi"}], {"temperature": 0.2,
    ...                  "read_timeout": 30})
    True
    """
    ids: dict[str, str] = {}
    payload = {
        "v": 1,
        "provider": provider.strip().lower(),
        "model": model.strip(),
        "messages": [_canonical(m, ids) for m in messages],
        "params": _canonical_params(params),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def tool_key(name: str, arguments: Mapping[str, Any]) -> str:
    """The canonical text of a tool call, e.g. `brave_search {"query":"x"}` (argument order does not matter)."""
    return name + " " + json.dumps(_canonical(dict(arguments), {}), sort_keys=True, separators=(",", ":"),
                                   ensure_ascii=False)


# Records ---------------------------------------------------------------------------------------------------------


def _usage_dict(usage: Any) -> dict[str, int] | None:
    if usage is None:
        return None
    if dataclasses.is_dataclass(usage) and not isinstance(usage, type):
        usage = dataclasses.asdict(usage)
    if isinstance(usage, Mapping):
        return {str(k): int(v) for k, v in usage.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    names = ("prompt_tokens", "completion_tokens", "total_tokens")
    return {n: int(getattr(usage, n, 0) or 0) for n in names}


@dataclass
class Recording:
    """One recorded answer: text pieces with their time since the request started."""

    fingerprint: str
    chunks: list[tuple[float, str]]
    usage: dict[str, int] | None = None
    finish_reason: str | None = None
    recorded_at: float = field(default_factory=time.time)  # epoch seconds

    @property
    def text(self) -> str:
        """The whole answer."""
        return "".join(piece for _, piece in self.chunks)

    @property
    def duration_s(self) -> float:
        """Seconds from the request to the last piece, as recorded."""
        return self.chunks[-1][0] if self.chunks else 0.0

    @property
    def size(self) -> int:
        """Bytes held (for the store's bound): the text, and what Python spends on each piece (its string, time and
        tuple: about PIECE_OVERHEAD_BYTES), so a recording of many tiny pieces counts what it really costs."""
        return sum(len(piece.encode("utf-8", "surrogatepass")) for _, piece in self.chunks) \
            + PIECE_OVERHEAD_BYTES * len(self.chunks) + 100


@dataclass
class ToolRecording:
    """One recorded tool result, found again by (name, canonical arguments)."""

    name: str
    arguments: dict[str, Any]
    content: str
    source: str
    ok: bool
    elapsed_s: float
    fallback: bool = False
    url: str | None = None
    recorded_at: float = field(default_factory=time.time)

    @property
    def size(self) -> int:
        """Bytes of text held (for the store's bound)."""
        return len(self.content.encode("utf-8", "surrogatepass")) + len(tool_key(self.name, self.arguments)) + 100

    @classmethod
    def from_result(cls, result: "ToolResult") -> "ToolRecording":
        """From a `lib.tools.ToolResult`."""
        return cls(result.name, dict(result.arguments), result.content, result.source, bool(result.ok),
                   float(result.elapsed_s), bool(result.fallback), result.url)

    def as_result(self) -> "ToolResult":
        """A `lib.tools.ToolResult` the tool loop can use in place of running the tool."""
        return ToolResult(self.name, dict(self.arguments), self.content, self.ok, self.source, self.fallback,
                          self.elapsed_s, self.url)


def replay(
    recording: Recording,
    speed: float = 1.0,
    sleep: Callable[[float], Any] = time.sleep,
    max_gap_s: float = MAX_GAP_S,
) -> Iterator[str]:
    """Yield the recorded pieces at the recorded pace (`speed` 2 = twice as fast), no pause over `max_gap_s`.

    >>> list(replay(Recording("0" * 64, [(0.5, "Hel"), (0.9, "lo")]), sleep=lambda s: None))
    ['Hel', 'lo']
    """
    if not (speed > 0):  # also refuses NaN
        raise ValueError("speed must be greater than 0")
    previous = 0.0
    for offset, piece in recording.chunks:
        gap = min((offset - previous) / speed, max_gap_s)
        previous = max(previous, offset)
        if gap > 0:
            sleep(gap)
        yield piece


class Recorder:
    """Collects one streamed answer; `finish()` stores it, an unfinished or failed stream stores nothing."""

    def __init__(self, store: "ReplayStore", fp: str, monotonic: Callable[[], float]) -> None:
        self._store = store
        self._fp = fp
        self._monotonic = monotonic
        self._started = monotonic()
        self._chunks: list[tuple[float, str]] = []
        self._closed = False

    @property
    def text(self) -> str:
        """What arrived so far."""
        return "".join(p for _, p in self._chunks)

    def add(self, piece: str) -> None:
        """A piece arrived now (ignored once finished or discarded)."""
        if not self._closed and piece:
            self._chunks.append((max(0.0, self._monotonic() - self._started), piece))

    def finish(self, usage: Any = None, finish_reason: str | None = None) -> Recording | None:
        """The stream ended normally: store the recording (None if empty, cut at the length limit, refused by the
        bounds, or closed). An answer cut at `max_tokens` is not a whole answer: replaying it would pass it off as
        one."""
        if self._closed:
            return None
        self._closed = True
        if not self._chunks or finish_reason == "length":
            return None
        recording = Recording(self._fp, list(self._chunks), _usage_dict(usage), finish_reason,
                              self._store.clock())
        return recording if self._store.put(recording) else None

    def discard(self) -> None:
        """The stream failed or was abandoned: store nothing."""
        self._closed = True
        self._chunks.clear()

    def wrap(self, pieces: Iterable[str], source: Any = None) -> Iterator[str]:
        """Pass `pieces` through while recording; finish with `source.usage`/`.finish_reason` if they all arrive.

        An exception, or the consumer stopping early, discards the recording and is passed on.
        """
        try:
            for piece in pieces:
                self.add(piece)
                yield piece
        except BaseException:
            self.discard()
            raise
        self.finish(getattr(source, "usage", None), getattr(source, "finish_reason", None))


# The store -------------------------------------------------------------------------------------------------------

_Key = tuple[str, str]


class ReplayStore:
    """Recordings of model answers and tool results, LRU-bounded by count and bytes, optionally expiring.

    >>> store = ReplayStore(max_entries=10)
    >>> rec = store.record_stream("a" * 64); rec.add("Hello"); _ = rec.finish({"total_tokens": 5}, "stop")
    >>> store.lookup("a" * 64).text, len(store)
    ('Hello', 1)
    """

    def __init__(
        self,
        max_entries: int = 500,
        max_bytes: int = 20_000_000,
        ttl_s: float | None = None,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        link: SharedLink | None = None,
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be positive")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self.clock = clock
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self._entries: OrderedDict[_Key, tuple[Recording | ToolRecording, int]] = OrderedDict()  # entry, size
        self._bytes = 0
        self.link = link if ttl_s is not None else None  # shared only with a time limit (never a rehearsal)

    # with Redis: every process's answers, each kept for the store's time limit (then Redis drops it by itself)

    def _shared_key(self, key: _Key) -> str:
        assert self.link is not None
        return self.link.key("replay", key[0], hashlib.sha256(key[1].encode("utf-8", "surrogatepass")).hexdigest())

    def _shared_put(self, key: _Key, entry: Recording | ToolRecording, size: int) -> bool | None:
        """Kept in Redis (True), refused for its size (False), or None without Redis (then kept here)."""
        if self.link is None or not self.link.enabled or self.ttl_s is None:
            return None
        if size > self.max_bytes // 10:
            return False  # one answer never takes more than a tenth of what a process would keep
        data = json.dumps({"kind": key[0], **dataclasses.asdict(entry)}, ensure_ascii=False)
        ttl_ms = max(1, int((entry.recorded_at + self.ttl_s - self.clock()) * 1000))
        return self.link.call(lambda r: bool(r.set(self._shared_key(key), data, px=ttl_ms)), None)

    def _shared_get(self, key: _Key) -> Recording | ToolRecording | None | bool:
        """The entry from Redis, None when absent there, or False without Redis (then looked up here)."""
        if self.link is None or not self.link.enabled:
            return False
        raw = self.link.call(lambda r: r.get(self._shared_key(key)), False)
        if raw is False or raw is None:
            return raw
        data = json.loads(raw)
        kind = data.pop("kind")
        if kind == "stream":
            data["chunks"] = [(float(t), str(piece)) for t, piece in data["chunks"]]
            entry: Recording | ToolRecording = Recording(**data)
        else:
            entry = ToolRecording(**data)
        return None if self._expired(entry) else entry

    # bookkeeping

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def total_bytes(self) -> int:
        """Bytes of text held now."""
        with self._lock:
            return self._bytes

    def clear(self) -> None:
        """Forget every recording."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _expired(self, entry: Recording | ToolRecording) -> bool:
        return self.ttl_s is not None and self.clock() - entry.recorded_at > self.ttl_s

    def _drop(self, key: _Key) -> None:
        held = self._entries.pop(key, None)
        if held is not None:
            self._bytes -= held[1]

    def _put(self, key: _Key, entry: Recording | ToolRecording) -> bool:
        size = entry.size
        if size > self.max_bytes:
            return False
        shared = self._shared_put(key, entry, size)
        if shared is not None:
            return shared
        with self._lock:
            self._drop(key)
            for old in [k for k, (e, _) in self._entries.items() if self._expired(e)]:
                self._drop(old)
            self._entries[key] = (entry, size)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))
            return True

    def _get(self, key: _Key) -> Recording | ToolRecording | None:
        shared = self._shared_get(key)
        if shared is not False:
            return shared  # type: ignore[return-value]
        with self._lock:
            held = self._entries.get(key)
            if held is None:
                return None
            entry = held[0]
            if self._expired(entry):
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry

    # model answers

    def record_stream(self, fp: str) -> Recorder:
        """Start recording the answer to the request with fingerprint `fp` (timing starts now)."""
        return Recorder(self, fp, self._monotonic)

    def put(self, recording: Recording) -> bool:
        """Store a finished recording (replacing one with the same fingerprint); False if larger than the bound."""
        return self._put(("stream", recording.fingerprint), recording)

    def lookup(self, fp: str) -> Recording | None:
        """The recording for this fingerprint, unless absent or older than `ttl_s`."""
        entry = self._get(("stream", fp))
        return entry if isinstance(entry, Recording) else None

    def replay(self, recording: Recording, speed: float = 1.0, sleep: Callable[[float], Any] = time.sleep
               ) -> Iterator[str]:
        """The recording's pieces at the recorded pace (see `replay()`)."""
        return replay(recording, speed, sleep)

    # tool results

    def record_tool(
        self,
        name: str,
        arguments: Mapping[str, Any],
        content: str,
        *,
        source: str,
        ok: bool,
        elapsed_s: float,
        fallback: bool = False,
        url: str | None = None,
    ) -> bool:
        """Store a tool result for (name, arguments); False if larger than the bound."""
        entry = ToolRecording(name, dict(arguments), content, source, ok, elapsed_s, fallback, url, self.clock())
        return self._put(("tool", tool_key(name, arguments)), entry)

    def record_tool_result(self, result: "ToolResult") -> bool:
        """Store a `lib.tools.ToolResult` (see `record_tool`)."""
        entry = ToolRecording.from_result(result)
        entry.recorded_at = self.clock()
        return self._put(("tool", tool_key(entry.name, entry.arguments)), entry)

    def lookup_tool(self, name: str, arguments: Mapping[str, Any]) -> ToolRecording | None:
        """The recorded result of this call (argument order does not matter), unless absent or expired."""
        entry = self._get(("tool", tool_key(name, arguments)))
        return entry if isinstance(entry, ToolRecording) else None

    # files

    def to_json(self, secrets: Sequence[str] = (), pins: Mapping[str, Any] | None = None) -> str:
        """Every live recording as JSON text, secrets and key-shaped text redacted; with `pins`, what the recording
        was made with (see `parse_pins`), written as its "pins"."""
        with self._lock:
            entries = [e for e, _ in self._entries.values() if not self._expired(e)]
        streams, tool_results = [], []
        for e in entries:
            if isinstance(e, Recording):
                streams.append({
                    "fingerprint": e.fingerprint,
                    "chunks": [[round(t, 4), p] for t, p in _redact_chunks(e.chunks, secrets)],
                    "usage": e.usage,
                    "finish_reason": redact(e.finish_reason, secrets) if e.finish_reason else None,
                    "recorded_at": e.recorded_at,
                })
            else:
                tool_results.append(redact_data({
                    "name": e.name, "arguments": e.arguments, "content": e.content, "source": e.source,
                    "ok": e.ok, "elapsed_s": e.elapsed_s, "fallback": e.fallback, "url": e.url,
                    "recorded_at": e.recorded_at,
                }, secrets))
        # One recording a line, each written compactly: a text piece costs ~17 bytes instead of ~36 indented, so
        # a full rehearsal (500 answers of up to 1,024 pieces) stays well under MAX_FILE_BYTES and loads again.
        def lines(entries: list[dict[str, Any]]) -> str:
            return ",\n".join(json.dumps(e, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
                              for e in entries)

        top: dict[str, Any] = {"schema": SCHEMA, "version": VERSION, "saved_at": self.clock()}
        if pins:
            top["pins"] = redact_data(parse_pins(dict(pins)), secrets)
        head = json.dumps(top, ensure_ascii=False, allow_nan=False)[:-1]
        return f'{head}, "streams": [\n{lines(streams)}\n], "tools": [\n{lines(tool_results)}\n]}}\n'

    def save(self, path: str | os.PathLike[str], secrets: Sequence[str] = ()) -> None:
        """Write `to_json()` to `path` (atomically: a half-written file never replaces a good one)."""
        text = self.to_json(secrets)
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".replay-", suffix=".json", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def from_json(self, text: str | bytes) -> int:
        """Add the recordings in a rehearsal file's text (all or nothing); returns how many were read.

        Raises ReplayError for anything that is not a valid rehearsal file. Call `clear()` first to replace.
        """
        return self.load_json(text)[0]

    def load_json(self, text: str | bytes) -> tuple[int, dict[str, Any]]:
        """`from_json`, and the file's pins (what it was recorded with, checked: see `parse_pins`; {} if none)."""
        entries, pins = _parse(text)
        for entry in entries:
            if isinstance(entry, Recording):
                self.put(entry)
            else:
                self._put(("tool", tool_key(entry.name, entry.arguments)), entry)
        return len(entries), pins

    def load(self, path: str | os.PathLike[str]) -> int:
        """`from_json()` of a file, refusing files over MAX_FILE_BYTES before reading them."""
        try:
            size = os.path.getsize(path)
            if size > MAX_FILE_BYTES:
                raise _too_large(size)
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ReplayError(msg("files.rehearsal.unreadable", reason=exc.strerror or type(exc).__name__)) from None
        return self.from_json(data)


def _redact_chunks(chunks: Sequence[tuple[float, str]], secrets: Sequence[str]) -> list[tuple[float, str]]:
    """Chunks with secrets removed, also when one is split across pieces; the timing is kept."""
    joined = "".join(p for _, p in chunks)
    spans = redaction_spans(joined, secrets)
    if not spans:
        return list(chunks)
    out: list[tuple[float, str]] = []
    pos = 0
    for offset, piece in chunks:
        a, b = pos, pos + len(piece)
        pos = b
        parts, i = [], a
        for s, e in spans:
            if e <= a or s >= b:
                continue
            if s > i:
                parts.append(joined[i:s])
            if s >= a:
                parts.append(REDACTED)
            i = max(i, min(e, b))
        parts.append(joined[i:b])
        text = "".join(parts)
        if text:
            out.append((offset, text))
    return out


# Loading ---------------------------------------------------------------------------------------------------------


def _bad(message: str) -> ReplayError:
    return ReplayError(msg("files.rehearsal.damaged", detail=message))


def _too_large(size: int) -> ReplayError:
    return ReplayError(msg("files.rehearsal.too_large", size=f"{size / 1e6:.1f}", limit=MAX_FILE_BYTES // 1_000_000))


def _number(value: Any, what: str, upper: float = 1e15) -> float:
    """A number from 0 to `upper` (a huge integer, which no float can hold, is not one either)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or (isinstance(value, float) and not math.isfinite(value)) or not 0 <= value <= upper:
        raise _bad(f"{what} is not a valid number")
    return float(value)


def _string(value: Any, what: str, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _bad(f"{what} is not text")
    return value


def _parse_stream(s: Any, n: int) -> Recording:
    """Recording `n` of a file; each [seconds, text] list read is let go (a big file's lists are freed as tuples are
    made, instead of both being held at once)."""
    what = f"recording {n}"
    if not isinstance(s, dict):
        raise _bad(f"{what} is not an object")
    fp = s.get("fingerprint")
    if not isinstance(fp, str) or not _FINGERPRINT.fullmatch(fp):
        raise _bad(f"{what} has no valid fingerprint")
    raw_chunks = s.get("chunks")
    if not isinstance(raw_chunks, list) or not raw_chunks:
        raise _bad(f"{what} has no text pieces")
    if len(raw_chunks) > MAX_TEXT_CHARS:
        raise ReplayError(f"This rehearsal file was not loaded: {what} has {len(raw_chunks):,} text pieces "
                          f"(at most {MAX_TEXT_CHARS:,}).")
    chunks: list[tuple[float, str]] = []
    previous = 0.0
    chars = 0
    for i, c in enumerate(raw_chunks):
        if not isinstance(c, list) or len(c) != 2:
            raise _bad(f"a text piece of {what} is not a [seconds, text] pair")
        offset = max(previous, _number(c[0], f"a time in {what}", MAX_OFFSET_S))
        piece = _string(c[1], f"a text piece of {what}")
        chars += len(piece)
        if chars > MAX_TEXT_CHARS:
            raise ReplayError(f"This rehearsal file was not loaded: the answer in {what} is longer than "
                              f"{MAX_TEXT_CHARS:,} characters.")
        chunks.append((offset, piece))
        raw_chunks[i] = None
        previous = offset
    usage = s.get("usage")
    if usage is not None:
        if not isinstance(usage, dict):
            raise _bad(f"the usage of {what} is not an object")
        usage = {str(k): int(_number(v, f"a token count in {what}")) for k, v in usage.items()}
    return Recording(fp, chunks, usage, _string(s.get("finish_reason"), f"the finish reason of {what}", True),
                     _number(s.get("recorded_at", 0.0), f"the time of {what}"))


def _json_value(value: Any, what: str, depth: int = 0) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if depth >= 64:  # a file never gets here (lib/jsonfile refuses it)
        raise _bad(f"{what} is nested too deeply")
    if isinstance(value, list):
        return [_json_value(v, what, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v, what, depth + 1) for k, v in value.items()}
    raise _bad(f"{what} is not JSON")


def _parse_tool(t: Any, n: int) -> ToolRecording:
    what = f"tool result {n}"
    if not isinstance(t, dict):
        raise _bad(f"{what} is not an object")
    name = _string(t.get("name"), f"the name of {what}")
    if len(name) > MAX_NAME_CHARS:
        raise _bad(f"the name of {what} is {len(name):,} characters long (at most {MAX_NAME_CHARS:,})")
    args = t.get("arguments", {})
    if not isinstance(args, dict):
        raise _bad(f"the arguments of {what} are not an object")
    args = _json_value(args, what)
    size = len(json.dumps(args, ensure_ascii=False))
    if size > MAX_TEXT_CHARS:
        raise ReplayError(f"This rehearsal file was not loaded: the arguments of {what} are {size:,} characters of "
                          f"JSON (at most {MAX_TEXT_CHARS:,}).")
    for flag in ("ok", "fallback"):
        if not isinstance(t.get(flag, False), bool):
            raise _bad(f"“{flag}” of {what} is not true or false")
    return ToolRecording(
        name, args,
        _string(t.get("content"), f"the content of {what}"), _string(t.get("source", ""), f"the source of {what}"),
        t.get("ok", False), _number(t.get("elapsed_s", 0.0), f"the time of {what}"), t.get("fallback", False),
        _string(t.get("url"), f"the URL of {what}", True), _number(t.get("recorded_at", 0.0), f"the date of {what}"),
    )


def _place(path: Sequence[str | int]) -> "Msg":
    """Where in a rehearsal file a value is, in words: "“content” in tool result 2"."""
    return describe_path(path, {"streams": "recording", "tools": "tool_result", "chunks": "text_piece"})


MAX_PIN_PROVIDERS = 50
MAX_PIN_TOOLS = 50
MAX_PIN_CHARS = 300  # a provider id, model id or tool name in the pins
PIN_PAGES = ("tools", "vision", "tools_compare", "vision_compare")  # *_compare: Compare's other side (B)


def parse_pins(value: Any) -> dict[str, Any]:
    """What a recording pins, checked: `{"models": {provider id: {"tools" | "vision": model id}}, "tools": [tool
    names a tool turn was recorded with]}` ({} for None). Raises ReplayError for anything else.

    >>> parse_pins({"models": {"openrouter": {"tools": "meta-llama/llama-3.3-70b-instruct"}}, "tools": ["x"]})
    {'models': {'openrouter': {'tools': 'meta-llama/llama-3.3-70b-instruct'}}, 'tools': ['x']}
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad("“pins” is not an object")

    def short(text: Any, what: str) -> str:
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_PIN_CHARS:
            raise _bad(f"{what} in “pins” is not a short text")
        return text.strip()

    out: dict[str, Any] = {}
    models = value.get("models", {})
    if not isinstance(models, dict) or len(models) > MAX_PIN_PROVIDERS:
        raise _bad("the models in “pins” are not an object of providers")
    if models:
        out["models"] = {}
        for pid, pages in models.items():
            if not isinstance(pages, dict) or not set(pages) <= set(PIN_PAGES):
                raise _bad("a provider's models in “pins” are not {\"tools\": …, \"vision\": …} "
                           "(or their *_compare)")
            out["models"][short(pid, "a provider")] = {page: short(m, "a model") for page, m in pages.items()}
    tool_names = value.get("tools")
    if tool_names is not None:
        if not isinstance(tool_names, list) or len(tool_names) > MAX_PIN_TOOLS:
            raise _bad("the tools in “pins” are not a list of names")
        out["tools"] = [short(t, "a tool") for t in tool_names]
    return out


def _parse(text: str | bytes) -> tuple[list[Recording | ToolRecording], dict[str, Any]]:
    """The file's entries (all or nothing) and its pins; the parsed JSON is let go entry by entry as they are built."""
    size = len(text) if isinstance(text, (bytes, bytearray, memoryview)) or len(text) > MAX_FILE_BYTES \
        else utf8_size(text)
    if size > MAX_FILE_BYTES:
        raise _too_large(size)
    data = load_untrusted_json(text, max_bytes=MAX_FILE_BYTES, what=msg("files.what.rehearsal"), error=ReplayError,
                               max_items=MAX_FILE_ITEMS, max_text_chars=MAX_TEXT_CHARS, place=_place)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ReplayError(msg("files.rehearsal.not_rehearsal"))
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= 1_000:
        raise ReplayError(msg("files.rehearsal.no_version"))
    if version > VERSION:
        raise ReplayError(msg("files.rehearsal.newer", version=version, reads=VERSION))
    streams, tool_results = data.get("streams", []), data.get("tools", [])
    if not isinstance(streams, list) or not isinstance(tool_results, list):
        raise _bad("“streams” and “tools” must be lists")
    if len(streams) + len(tool_results) > MAX_FILE_ENTRIES:
        raise ReplayError(msg("files.rehearsal.too_many", count=f"{len(streams) + len(tool_results):,}",
                              limit=f"{MAX_FILE_ENTRIES:,}"))
    pins = parse_pins(data.get("pins"))
    del data
    entries: list[Recording | ToolRecording] = []
    for items, parse in ((streams, _parse_stream), (tool_results, _parse_tool)):
        for i in range(len(items)):
            entries.append(parse(items[i], i + 1))
            items[i] = None
    return entries, pins
