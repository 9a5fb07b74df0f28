"""Replay cache for identical requests: the same question within 15 minutes costs no quota.

A request is identified by `lib.answers.recording.fingerprint(where, model, messages, params)`: provider and endpoint, model,
every message (images count by the hash of their data URL, tool results by their text, tool-call ids by position)
and the answer-changing parameters (`max_tokens`, `temperature`). The answer to a request seen within `ttl_s` is
replayed from `lib.answers.recording.ReplayStore` at a natural pace (`speed` times faster than it arrived, no pause over
`max_gap_s`) and labelled `CACHED_LABEL`; only answers that arrived whole are kept. Tool results of the tools that
cost a call to a paid or rate-limited service (`CACHEABLE_TOOLS`) are kept the same way, for the same time.

One `DEDUPE` serves every session of the server (a cached answer is only ever given for the very same request).
"Ask again (fresh)" is `fresh=True`: the cache is skipped and the new answer replaces the old.

Example (`chat_stream` takes the arguments of `lib.client.stream`, plus `fresh`)::

    stream = DEDUPE.chat_stream(settings, model, messages, max_tokens=1024, temperature=0.2)
    st.write_stream(stream)
    if stream.cached:
        st.caption(CACHED_LABEL)
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any, Callable, Iterator, Mapping, Sequence

from lib import client
from lib.answers.recording import Recorder, Recording, ReplayStore, ToolRecording, fingerprint, replay
from lib.tools.base import ToolResult

CACHED_LABEL = "Answered from the cache: no quota used"
CACHED_TOOL_SOURCE = " (from the cache)"
DEFAULT_TTL_S = 15 * 60.0
REPLAY_SPEED = 4.0  # a replayed answer arrives 4 times faster than it was recorded
REPLAY_MAX_GAP_S = 0.25  # and never pauses longer than this between two pieces
CACHEABLE_TOOLS = frozenset({"brave_search", "wolfram_alpha", "get_weather"})
"""Tools that call a keyed or rate-limited service. Not the clock (`get_local_time`), nor the local ones."""


def where(settings: Any) -> str:
    """What a cached answer is tied to besides the request: provider id and endpoint (not the key)."""
    endpoint = str(getattr(settings, "endpoint", "") or "").rstrip("/").lower()
    return f"{getattr(settings, 'provider_id', '') or ''}|{endpoint}"


def request_params(max_tokens: int | None, temperature: float | None,
                   extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The parameters that change an answer, as the fingerprint counts them (`extra`: body fields such as
    `chat_template_kwargs`, which change what the model is shown)."""
    params: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}
    if extra:
        params["extra"] = dict(extra)
    return params


class CachedStream:
    """Iterate for text pieces, like `lib.client.ChatStream`; afterwards `.text`, `.usage`, `.cached`.

    From the cache: `.cached` is True, `.usage` is None (no quota used) and `.recorded_usage` holds what the
    original answer cost. Live: the pieces pass through from `open_live()` and are recorded; `.usage` and
    `.finish_reason` are the live stream's. Exceptions propagate; `.text` keeps what arrived before them.
    """

    def __init__(self, dedupe: "Dedupe", fp: str, open_live: Callable[[], Any], fresh: bool = False,
                 on_recorded: Callable[[Recording], Any] | None = None) -> None:
        self._dedupe = dedupe
        self.fingerprint = fp
        self._open_live = open_live
        self.fresh = fresh
        self._on_recorded = on_recorded  # told of a live answer once it is kept (a rehearsal notes what it pins)
        self.text = ""
        self.usage: Any = None
        self.recorded_usage: dict[str, int] | None = None
        self.finish_reason: str | None = None
        self.streamed = True
        self.done = False
        self.cached = False
        self.live: Any = None

    @property
    def sent(self) -> bool:
        """The live request reached the server (False when answered from the cache)."""
        return bool(getattr(self.live, "sent", False))

    @property
    def served_model(self) -> str | None:
        """The model the live server says answered (None from the cache or when it names none)."""
        return getattr(self.live, "served_model", None)

    @property
    def replayed_from(self) -> str:
        """"cache" / "rehearsal" when this answer was replayed, and from where (through a live layer), else ""."""
        if self.cached:
            return self._dedupe.source
        inner = getattr(self.live, "replayed_from", "")  # a rehearsal's miss opens the shared cache's stream
        return inner if isinstance(inner, str) else ""

    def __iter__(self) -> Iterator[str]:
        recording = None if self.fresh else self._dedupe.lookup_fp(self.fingerprint)
        if recording is not None:
            self.cached = True
            self.recorded_usage = recording.usage
            self.finish_reason = recording.finish_reason
            for piece in self._dedupe.replay(recording):
                self.text += piece
                yield piece
            self.done = True
            return
        self.live = live = self._open_live()
        recorder = self._dedupe.store.record_stream(self.fingerprint)
        try:
            for piece in live:
                recorder.add(piece)
                self.text += piece
                yield piece
        except BaseException:
            recorder.discard()  # a failed or abandoned answer is never replayed
            raise
        finally:
            self.usage = getattr(live, "usage", None)
            self.finish_reason = getattr(live, "finish_reason", None)
            self.streamed = bool(getattr(live, "streamed", True))
        recording = recorder.finish(self.usage, self.finish_reason)
        if recording is not None and self._on_recorded is not None:
            self._on_recorded(recording)
        self.done = True


class Dedupe:
    """Identical requests answered once within `ttl_s`; thread-safe, bounded by `lib.answers.recording.ReplayStore`."""

    tool_source_note = CACHED_TOOL_SOURCE  # added to a reused tool result's source
    source = "cache"  # what a stream replayed from here says it came from (`CachedStream.replayed_from`)

    def __init__(
        self,
        store: ReplayStore | None = None,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        speed: float = REPLAY_SPEED,
        max_gap_s: float = REPLAY_MAX_GAP_S,
        max_entries: int = 300,
        max_bytes: int = 10_000_000,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        if not speed > 0:
            raise ValueError("speed must be greater than 0")
        # A store passed in keeps its own bounds and TTL (a rehearsal store has none: then nothing expires).
        self.store = store if store is not None else ReplayStore(max_entries, max_bytes, ttl_s)
        self.speed = speed
        self.max_gap_s = max_gap_s
        self._sleep = sleep
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.tool_hits = 0

    @property
    def ttl_s(self) -> float | None:
        """How long an answer is kept (the store's TTL)."""
        return self.store.ttl_s

    def clear(self) -> None:
        """Forget every cached answer and tool result (and the counters)."""
        self.store.clear()
        with self._lock:
            self.hits = self.misses = self.tool_hits = 0

    # model answers

    @staticmethod
    def key(provider: str, model: str, messages: Sequence[Any], params: Mapping[str, Any] | None = None) -> str:
        """The request's fingerprint (see `lib.answers.recording.fingerprint`)."""
        return fingerprint(provider, model, messages, params)

    def lookup_fp(self, fp: str) -> Recording | None:
        """The cached answer for a fingerprint (None: absent or expired); counts a hit or a miss."""
        recording = self.store.lookup(fp)
        with self._lock:
            if recording is None:
                self.misses += 1
            else:
                self.hits += 1
        return recording

    def lookup(self, provider: str, model: str, messages: Sequence[Any],
               params: Mapping[str, Any] | None = None) -> Recording | None:
        """The cached answer to this request, unless absent or older than the TTL."""
        return self.lookup_fp(self.key(provider, model, messages, params))

    def recorder(self, provider: str, model: str, messages: Sequence[Any],
                 params: Mapping[str, Any] | None = None) -> Recorder:
        """Record the live answer to this request (`.add(piece)`, then `.finish(usage, reason)` or `.discard()`)."""
        return self.store.record_stream(self.key(provider, model, messages, params))

    def replay(self, recording: Recording) -> Iterator[str]:
        """The recorded pieces, `speed` times faster than recorded, no pause over `max_gap_s`."""
        return replay(recording, self.speed, self._sleep, self.max_gap_s)

    def stream(self, provider: str, model: str, messages: Sequence[Any], params: Mapping[str, Any] | None,
               open_live: Callable[[], Any], *, fresh: bool = False,
               on_recorded: Callable[[Recording], Any] | None = None) -> CachedStream:
        """A stream answered from the cache when this request was answered within the TTL, else by `open_live()`.

        `open_live` is called only on a miss (e.g. `lambda: client.stream(settings, model, messages, ...)`);
        `on_recorded(recording)` once a live answer arrived whole and was kept.
        """
        return CachedStream(self, self.key(provider, model, messages, params), open_live, fresh, on_recorded)

    def chat_stream(self, settings: Any, model: str, messages: Sequence[Any], *, max_tokens: int | None = None,
                    temperature: float | None = None, fresh: bool = False,
                    open_live: Callable[[], Any] | None = None, extra: Mapping[str, Any] | None = None,
                    on_recorded: Callable[[Recording], Any] | None = None, **live_kwargs: Any) -> CachedStream:
        """Drop-in for `lib.client.stream(settings, model, messages, max_tokens=, temperature=)` with the cache.

        `open_live` defaults to that very call (imported only when the cache misses); `live_kwargs` (such as an
        `on_wait` callback) go to it and are not part of the fingerprint. `on_recorded`: see `stream`.
        """
        def live() -> Any:
            if open_live is not None:
                return open_live()
            if extra:
                live_kwargs["extra"] = dict(extra)
            return client.stream(settings, model, messages, max_tokens=max_tokens, temperature=temperature,
                                 **live_kwargs)

        return self.stream(where(settings), model, messages, request_params(max_tokens, temperature, extra), live,
                           fresh=fresh, on_recorded=on_recorded)

    # tool results

    def lookup_tool(self, name: str, arguments: Mapping[str, Any]) -> ToolRecording | None:
        """A cached result of this tool call (argument order does not matter), unless absent or expired."""
        if name not in CACHEABLE_TOOLS:
            return None
        entry = self.store.lookup_tool(name, arguments)
        if entry is not None:
            with self._lock:
                self.tool_hits += 1
        return entry

    def record_tool(self, result: "ToolResult") -> bool:
        """Keep a successful result of a cacheable tool; False when it is not kept."""
        if result.name not in CACHEABLE_TOOLS or not result.ok:
            return False
        return self.store.record_tool_result(result)

    def tool_runner(self, run_tool: Callable[..., "ToolResult"]) -> Callable[..., "ToolResult"]:
        """`run_tool(call, tool_names, config)` with cached results (the signature of `tool_loop.run_turn`'s).

        A call to a tool that is not enabled always goes to `run_tool` (which refuses it); a cached result's
        source says "(from the cache)".
        """

        def cached_run(call: Any, tool_names: Sequence[str], config: Any) -> "ToolResult":
            if call.name in tool_names:
                hit = self.lookup_tool(call.name, call.arguments)
                if hit is not None:
                    result = hit.as_result()
                    return dataclasses.replace(result, source=result.source + self.tool_source_note, elapsed_s=0.0)
            result = run_tool(call, tool_names, config)
            if call.name in tool_names:
                self.record_tool(result)
            return result

        return cached_run


DEDUPE = Dedupe()
"""The one cache of this server process, shared by every session."""
