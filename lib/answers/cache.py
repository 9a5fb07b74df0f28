"""Replay cache for identical requests: the same question within 15 minutes costs no quota.

A request is identified by `lib.answers.recording.fingerprint(where, model, messages, params)`: provider and endpoint, model,
every message (images count by the hash of their data URL, tool results by their text, tool-call ids by position)
and the answer-changing parameters (`max_tokens`, `temperature`). The answer to a request seen within `ttl_s` is
replayed from `lib.answers.recording.ReplayStore` at a natural pace (`speed` times faster than it arrived, no pause over
`max_gap_s`) and labelled `CACHED_LABEL`; only answers that arrived whole are kept. Tool results of the tools that
cost a call to a paid or rate-limited service (`CACHEABLE_TOOLS`) are kept the same way, for the same time.

One `DEDUPE` serves every session of the server (a cached answer is only ever given for the very same request).
"Ask again (fresh)" is `fresh=True`: the cache is skipped and the new answer replaces the old.

Identical requests in flight share one upstream request (within this process; the store is not involved, so a
shared store can sit under it unchanged): while the live answer to a request streams (its `Flight`), the same
request again follows it, getting the same pieces as they arrive (from the start, at their natural pace), `.usage`
None and `.shared` True (`SHARED_LABEL`; `replayed_from` says "cache"). A `fresh` request never follows. A
follower waits at most until the leader's own request deadline (`lib.client.request_deadline_s`), then raises
`StreamDeadline`; its own Stop detaches it alone. When the leader's person stops or leaves, the answer is read
on (in a thread) for the followers still there, and hung up once none is; when the answer fails upstream, each
follower asks again (the first to ask leads, the others follow it), continuing what it had already shown: a new
answer that differs from that raises the leader's error (or `SharedAnswerLost`) instead of being appended to it,
and a second failure before any text is raised as it came.

Example (`chat_stream` takes the arguments of `lib.client.stream`, plus `fresh`)::

    stream = DEDUPE.chat_stream(settings, model, messages, max_tokens=1024, temperature=0.2)
    st.write_stream(stream)
    if stream.cached:
        st.caption(SHARED_LABEL if stream.shared else CACHED_LABEL)
"""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from typing import Any, Callable, Generator, Iterator, Mapping, Sequence

from lib import client
from lib.answers.recording import Recorder, Recording, ReplayStore, ToolRecording, fingerprint, replay
from lib.common.shared_state import LINK
from lib.common.ticking import Cancelled, CancelScope, current_scope
from lib.hosts.errors import StreamDeadline
from lib.tools.base import ToolResult

CACHED_LABEL = "Answered from the cache: no quota used"
SHARED_LABEL = "Shared with an identical question asked at the same moment: no quota used"
CACHED_TOOL_SOURCE = " (from the cache)"
DEFAULT_TTL_S = 15 * 60.0
REPLAY_SPEED = 4.0  # a replayed answer arrives 4 times faster than it was recorded
REPLAY_MAX_GAP_S = 0.25  # and never pauses longer than this between two pieces
CACHEABLE_TOOLS = frozenset({"brave_search", "wolfram_alpha", "get_weather"})
"""Tools that call a keyed or rate-limited service. Not the clock (`get_local_time`), nor the local ones."""


def _request_deadline(settings: Any) -> float:
    """How long one live request with these settings may take in all (`lib.client.request_deadline_s`)."""
    try:
        return client.request_deadline_s(settings)
    except (AttributeError, TypeError, ValueError):  # settings of another shape (a test's stand-in)
        return client.REQUEST_DEADLINE_S


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


class SharedAnswerLost(RuntimeError):
    """A follower had shown part of a shared answer when its leader stopped, and the answer asked again differs
    from what was shown (appending it would make one answer of two)."""


_LIVE, _WHOLE, _FAILED = "live", "whole", "failed"


class Flight:
    """One live answer on its way, which identical requests follow (see `Dedupe.stream`): its pieces as they
    arrive, then how it ended. Every field is guarded by `cond`."""

    def __init__(self, fp: str, until: float) -> None:
        self.fingerprint = fp
        self.until = until  # time.monotonic(): followers wait no longer (the leader's own request deadline)
        self.cond = threading.Condition(threading.Lock())
        self.pieces: list[str] = []
        self.state = _LIVE
        self.error: BaseException | None = None  # why it failed (None: the leader stopped before it could end)
        self.stopped = False  # it failed because of its leader (stopped, left, its turn's time was up), not upstream
        self.before_text = False  # it failed before any text arrived
        self.usage: dict[str, int] | None = None
        self.finish_reason: str | None = None
        self.served_model: str | None = None
        self.followers = 0
        self.leader_gone = False  # the leader's person stopped or left: read on only while someone follows
        self.hang_up: Callable[[], Any] | None = None  # closes the upstream connection (lib.client.ChatStream.close)

    def running(self) -> bool:
        with self.cond:
            return self.state == _LIVE and time.monotonic() < self.until

    def join(self) -> bool:
        """Count one more follower; False when it can't be followed (failed, or past its deadline)."""
        with self.cond:
            if self.state == _FAILED or (self.state == _LIVE and time.monotonic() >= self.until):
                return False
            self.followers += 1
            return True

    def leave(self) -> None:
        """A follower is done (or stopped); the last one to leave after the leader hangs up."""
        with self.cond:
            self.followers -= 1
            orphaned = self.leader_gone and self.followers <= 0 and self.state == _LIVE
            hang_up = self.hang_up
        if orphaned and hang_up is not None:
            hang_up()

    def leader_left(self) -> bool:
        """The leader's person stopped or left: True when followers remain (the answer is read on for them)."""
        with self.cond:
            self.leader_gone = True
            return self.state == _LIVE and self.followers > 0

    def publish(self, piece: str) -> None:
        with self.cond:
            self.pieces.append(piece)
            self.cond.notify_all()

    def end(self, state: str, *, error: BaseException | None = None, stopped: bool = False,
            usage: dict[str, int] | None = None, finish_reason: str | None = None,
            served_model: str | None = None) -> None:
        with self.cond:
            if self.state != _LIVE:
                return
            self.state, self.error, self.stopped = state, error, stopped
            self.before_text = not self.pieces
            self.usage, self.finish_reason, self.served_model = usage, finish_reason, served_model
            self.cond.notify_all()


def _leader_specific(exc: BaseException, scope: CancelScope | None) -> bool:
    """Whether a live stream ended because of its own consumer (Stop, a click, the turn's time), not upstream."""
    return (not isinstance(exc, Exception) or isinstance(exc, Cancelled)
            or (scope is not None and scope.cancelled)
            or (isinstance(exc, StreamDeadline) and exc.reason == "turn"))


def _same(exc: BaseException) -> BaseException:
    """A copy of a leader's exception to raise in a follower's thread (one exception object, many tracebacks)."""
    try:
        return copy.copy(exc)
    except Exception:  # noqa: BLE001 - an exception that can't be copied is raised as it is
        return exc


class CachedStream:
    """Iterate for text pieces, like `lib.client.ChatStream`; afterwards `.text`, `.usage`, `.cached`.

    From the cache: `.cached` is True, `.usage` is None (no quota used) and `.recorded_usage` holds what the
    original answer cost. Following an identical request on its way (see `Dedupe.stream`): the same, and `.shared`
    is True. Live: the pieces pass through from `open_live()` and are recorded; `.usage` and `.finish_reason` are
    the live stream's. Exceptions propagate; `.text` keeps what arrived before them.
    """

    def __init__(self, dedupe: "Dedupe", fp: str, open_live: Callable[[], Any], fresh: bool = False,
                 on_recorded: Callable[[Recording], Any] | None = None, wait_s: float | None = None) -> None:
        self._dedupe = dedupe
        self.fingerprint = fp
        self._open_live = open_live
        self.fresh = fresh
        self._on_recorded = on_recorded  # told of a live answer once it is kept (a rehearsal notes what it pins)
        self._wait_s = float(wait_s) if wait_s is not None else client.REQUEST_DEADLINE_S
        self.text = ""
        self.usage: Any = None
        self.recorded_usage: dict[str, int] | None = None
        self.finish_reason: str | None = None
        self.streamed = True
        self.done = False
        self.cached = False
        self.shared = False  # followed an identical request on its way (also `.cached`: no quota used)
        self.live: Any = None
        self._flight: Flight | None = None  # the flight followed
        self._stopped = False  # this follower's own Stop
        self._lost: BaseException | None = None  # why the last flight followed failed
        self._failed_before_text = False  # a flight followed failed before any text (once: asked again)

    @property
    def sent(self) -> bool:
        """The live request reached the server (False when answered from the cache)."""
        return bool(getattr(self.live, "sent", False))

    @property
    def served_model(self) -> str | None:
        """The model the live server says answered (a shared answer: the leader's; None from the cache or when it
        names none)."""
        if self.shared and self._flight is not None:
            return self._flight.served_model
        return getattr(self.live, "served_model", None)

    @property
    def replayed_from(self) -> str:
        """"cache" / "rehearsal" when this answer was replayed, and from where (through a live layer); "shared" when
        it followed an identical question's answer as it arrived; else ""."""
        if self.shared:
            return "shared"
        if self.cached:
            return self._dedupe.source
        inner = getattr(self.live, "replayed_from", "")  # a rehearsal's miss opens the shared cache's stream
        return inner if isinstance(inner, str) else ""

    def __iter__(self) -> Iterator[str]:
        if not self.fresh:
            recording = self._dedupe.lookup_fp(self.fingerprint)
            if recording is not None:
                self.cached = True
                self.recorded_usage = recording.usage
                self.finish_reason = recording.finish_reason
                for piece in self._dedupe.replay(recording):
                    self.text += piece
                    yield piece
                self.done = True
                return
        while True:
            flight, leading = self._dedupe._take_part(self.fingerprint, self.fresh, self._wait_s)
            if leading:
                yield from self._emit(self._lead(flight))
                self.done = True
                return
            assert flight is not None
            if (yield from self._emit(self._follow(flight))):
                self.done = True
                return
            # The answer followed failed or its leader stopped: ask again (the first to ask leads, the rest follow).
            self._lost = flight.error if not flight.stopped else None
            if flight.before_text and not flight.stopped and flight.error is not None:
                if self._failed_before_text:
                    raise _same(flight.error)  # the same request failed twice before answering: say why
                self._failed_before_text = True

    def _emit(self, source: Generator[str, None, Any]) -> Generator[str, None, Any]:
        """The pieces of `source` after what this stream has already shown (an answer asked again after the one
        followed failed starts from the beginning); its return value. Raises when `source` differs from that."""
        shown, pos = self.text, 0
        try:
            while True:
                try:
                    piece = next(source)
                except StopIteration as end:
                    if pos < len(shown):
                        raise self._diverged() from None
                    return end.value
                if pos < len(shown):
                    k = min(len(piece), len(shown) - pos)
                    if piece[:k] != shown[pos:pos + k]:
                        raise self._diverged()
                    pos, piece = pos + k, piece[k:]
                    if not piece:
                        continue
                self.text += piece
                yield piece
        finally:
            source.close()

    def _diverged(self) -> BaseException:
        if self._lost is not None:
            return _same(self._lost)
        return SharedAnswerLost("the identical question this answer was shared with stopped, and the answer asked "
                                "again differs from what had arrived")

    def _follow(self, flight: Flight) -> Generator[str, None, bool]:
        """The pieces of the answer `flight` brings, as they arrive; True once it arrived whole, False when it
        failed or its leader stopped first. Raises `StreamDeadline` past the flight's deadline."""
        self.cached = self.shared = True
        self._flight = flight
        scope = current_scope()
        if scope is not None:
            scope.add(self._stop_following)
        seen = 0
        try:
            while True:
                with flight.cond:
                    while (seen == len(flight.pieces) and flight.state == _LIVE and not self._stopped
                           and time.monotonic() < flight.until):
                        flight.cond.wait(max(0.0, flight.until - time.monotonic()))
                    arrived, state = flight.pieces[seen:], flight.state
                if self._stopped:
                    raise Cancelled("stopped")
                for piece in arrived:
                    seen += 1
                    yield piece
                if arrived:
                    continue
                if state == _WHOLE:
                    self.recorded_usage, self.finish_reason = flight.usage, flight.finish_reason
                    return True
                if state == _FAILED:
                    self.cached = self.shared = False
                    return False
                raise StreamDeadline("request", self._wait_s, bool(self.text))
        finally:
            if scope is not None:
                scope.discard(self._stop_following)
            flight.leave()

    def _stop_following(self) -> None:
        """This follower's Stop (from its `CancelScope`, any thread): it stops waiting; the leader goes on."""
        flight = self._flight
        self._stopped = True
        if flight is not None:
            with flight.cond:
                flight.cond.notify_all()

    def _lead(self, flight: Flight | None) -> Generator[str, None, None]:
        """The live answer, recorded, its pieces published to `flight`'s followers (None: not followed)."""
        self.cached = self.shared = False
        self.live = live = self._open_live()
        recorder = self._dedupe.store.record_stream(self.fingerprint)
        it = iter(live)
        scope = current_scope()
        hang_up = getattr(live, "close", None)
        hang_up = hang_up if callable(hang_up) else None
        if flight is not None:
            with flight.cond:
                flight.hang_up = hang_up

        def stop() -> None:  # this person's Stop: hang up unless someone follows (then read on for them)
            if flight is not None and not flight.leader_left() and hang_up is not None:
                hang_up()

        swapped = False
        try:
            for piece in it:
                recorder.add(piece)
                if flight is not None:
                    flight.publish(piece)
                    if not swapped and scope is not None and hang_up is not None:
                        # The live stream registered its hang-up with this Stop; from now on a Stop first asks
                        # whether anyone follows. (Before the first piece a Stop hangs up: followers ask again.)
                        swapped = True
                        scope.discard(hang_up)
                        scope.add(stop)
                yield piece
        except GeneratorExit:
            # This person stopped or left (Stop, another click, or nothing reads any more).
            if flight is not None and flight.leader_left():
                threading.Thread(target=self._read_on, args=(it, live, recorder, flight),
                                 name="dedupe-read-on", daemon=True).start()
                raise
            recorder.discard()
            close = getattr(it, "close", None)
            if callable(close):
                close()  # hang up now (a ChatStream closed unfinished hangs up)
            if flight is not None:
                flight.end(_FAILED, stopped=True)
                self._dedupe._land(flight)
            raise
        except BaseException as exc:
            recorder.discard()  # a failed or abandoned answer is never replayed
            if flight is not None:
                flight.end(_FAILED, error=exc, stopped=_leader_specific(exc, scope))
                self._dedupe._land(flight)
            raise
        finally:
            if swapped and scope is not None:
                scope.discard(stop)
            self.usage = getattr(live, "usage", None)
            self.finish_reason = getattr(live, "finish_reason", None)
            self.streamed = bool(getattr(live, "streamed", True))
        recording = recorder.finish(self.usage, self.finish_reason)
        if flight is not None:
            flight.end(_WHOLE, usage=_usage_of(recording, self.usage), finish_reason=self.finish_reason,
                       served_model=getattr(live, "served_model", None))
            self._dedupe._land(flight)
        if recording is not None and self._on_recorded is not None:
            self._on_recorded(recording)

    def _read_on(self, it: Iterator[str], live: Any, recorder: Recorder, flight: Flight) -> None:
        """The leader's person left while others follow: read the rest of the answer for them (in a thread), keep
        it if it arrives whole; the last follower to leave hangs up (`Flight.leave`)."""
        try:
            for piece in it:
                recorder.add(piece)
                flight.publish(piece)
        except BaseException as exc:  # noqa: BLE001 - upstream failed, or the last follower hung up
            recorder.discard()
            flight.end(_FAILED, error=exc, stopped=isinstance(exc, Cancelled))
            self._dedupe._land(flight)
            return
        usage, reason = getattr(live, "usage", None), getattr(live, "finish_reason", None)
        recording = recorder.finish(usage, reason)
        flight.end(_WHOLE, usage=_usage_of(recording, usage), finish_reason=reason,
                   served_model=getattr(live, "served_model", None))
        self._dedupe._land(flight)
        if recording is not None and self._on_recorded is not None:
            self._on_recorded(recording)


def _usage_of(recording: Recording | None, usage: Any) -> dict[str, int] | None:
    """What an answer cost, as a recording keeps it (a follower's `.recorded_usage`)."""
    if recording is not None:
        return recording.usage
    if usage is None:
        return None
    if isinstance(usage, Mapping):
        return {str(k): int(v) for k, v in usage.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    names = ("prompt_tokens", "completion_tokens", "total_tokens")
    return {n: int(getattr(usage, n, 0) or 0) for n in names}


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
        self._flights: dict[str, Flight] = {}  # fingerprint -> the live answer on its way, which others follow
        self.hits = 0
        self.misses = 0
        self.tool_hits = 0
        self.followed = 0  # requests that followed an identical one on its way instead of going upstream

    @property
    def ttl_s(self) -> float | None:
        """How long an answer is kept (the store's TTL)."""
        return self.store.ttl_s

    def clear(self) -> None:
        """Forget every cached answer and tool result (and the counters); answers on their way go on."""
        self.store.clear()
        with self._lock:
            self.hits = self.misses = self.tool_hits = self.followed = 0

    # identical requests in flight

    def in_flight(self) -> int:
        """Live answers on their way that an identical request would follow now."""
        with self._lock:
            return sum(1 for f in self._flights.values() if f.running())

    def _take_part(self, fp: str, fresh: bool, wait_s: float) -> tuple[Flight | None, bool]:
        """(flight, leading): follow the live answer on its way for `fp` (not when `fresh`), or lead a new one
        (None: a fresh request while another is on its way goes live on its own, followed by no one)."""
        with self._lock:
            flight = self._flights.get(fp)
            if flight is not None and not fresh and flight.join():
                self.followed += 1
                return flight, False
            if flight is not None and fresh and flight.running():
                return None, True
            flight = self._flights[fp] = Flight(fp, time.monotonic() + max(0.0, wait_s))
            return flight, True

    def _land(self, flight: Flight) -> None:
        """`flight` has ended: identical requests from now on are answered from the store (or lead anew)."""
        with self._lock:
            if self._flights.get(flight.fingerprint) is flight:
                del self._flights[flight.fingerprint]

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
               on_recorded: Callable[[Recording], Any] | None = None, wait_s: float | None = None) -> CachedStream:
        """A stream answered from the cache when this request was answered within the TTL, by following the same
        request when its live answer is on its way, else by `open_live()`.

        `open_live` is called only when neither (e.g. `lambda: client.stream(settings, model, messages, ...)`);
        `on_recorded(recording)` once a live answer arrived whole and was kept; `wait_s`: how long a live answer
        may take, so how long a follower waits for it (default `lib.client.REQUEST_DEADLINE_S`).
        """
        return CachedStream(self, self.key(provider, model, messages, params), open_live, fresh, on_recorded,
                            wait_s)

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
                           fresh=fresh, on_recorded=on_recorded, wait_s=_request_deadline(settings))

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


DEDUPE = Dedupe(store=ReplayStore(300, 10_000_000, DEFAULT_TTL_S, link=LINK))
"""The one cache of this server process, shared by every session."""
