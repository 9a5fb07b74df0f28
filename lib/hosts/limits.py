"""A concurrency cap per (provider, endpoint, model) shared by every session of the server, and 429 kinds.

`SLOTS.acquire(key, limit, timeout_s, on_wait)` lets at most `limit` requests run at once for one key. Everyone
else waits in a first-come, first-served line and is told their place (`on_wait(2)`: "2nd in line") whenever it
changes, and `on_wait(0)` once admitted; after `timeout_s` the wait ends with `SlotTimeout`. `limit=None` (local
servers) never waits.

`RATES.admit(key, per_minute, timeout_s, on_wait)` keeps a published per-minute limit (`limits_for()`: the table's
figure for that model, or the operator's `<PROVIDER>_REQUESTS_PER_MINUTE`) across every session: a request that
would be one too many waits in line until the window frees, told how long (`Wait`, `wait_text`), instead of being
sent and refused; the quota meter therefore never reads more than the limit.

Why not streamlit-extras' `concurrency_limiter` (1.6.0, read in site-packages): it is a decorator keyed by the
decorated *function* (module, name, source and max_concurrency hashed), so one limit would cover every provider
and model that function talks to, and the limit is fixed when the function is decorated, not read per request
from the provider table. Its waiters block on `Condition.wait()` with no timeout (a stuck request holds everyone
forever), wake all at once on release and race for a `Semaphore` (not first-come, first-served), and it only
knows an approximate count of waiters for its spinner, not each one's place in line. It also calls `st.spinner`,
which needs a Streamlit script context; this module has no Streamlit import and is tested with plain threads.

`rate_limit_kind()` tells a 429 that means "too many requests at once" from a per-minute or a per-day limit;
`retry_concurrent()` retries only the first kind, after a short, growing wait.

Example::

    key = slot_key(settings.provider_id, settings.endpoint, model)
    with SLOTS.acquire(key, cap_for(settings.provider, model), timeout_s=120, on_wait=show_position):
        for piece in stream: ...

    with wait_notice(lambda n: box.caption(wait_text(n))):   # a page: any acquire deeper down reports here
        st.write_stream(answer)
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import secrets
import threading
import time
from collections import deque
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Mapping, TypeVar

from lib import i18n
from lib.common.shared_state import LINK, SharedLink, SharedSemaphore, SharedWindow
from lib.common.ticking import Cancelled, current_scope
from lib.hosts.providers import Limits, Provider

T = TypeVar("T")
RateLimitKind = Literal["concurrent", "minute", "day"]

DEFAULT_SLOT_TIMEOUT_S = 120.0
"""How long a request may wait for a free slot before giving up (a streamed answer rarely takes longer)."""

_ON_WAIT: ContextVar[Callable[[int], None] | None] = ContextVar("slot_on_wait", default=None)


@contextmanager
def wait_notice(on_wait: Callable[[int], None] | None) -> Iterator[None]:
    """Within the block, every `acquire` without its own `on_wait` reports the place in line to this callback.

    A page wraps its turn in it (`with wait_notice(lambda n: box.caption(wait_text(n))):`) and the client's
    slot, several calls deeper (tool loop, cache, rehearsal), shows the wait without passing the callback down.
    The value is per thread and per context, so sessions never see each other's callbacks.
    """
    token = _ON_WAIT.set(on_wait)
    try:
        yield
    finally:
        _ON_WAIT.reset(token)


class SlotTimeout(TimeoutError):
    """No slot became free within the timeout; `position` is the place in line when the wait ended."""

    def __init__(self, position: int, key: str = "", waited_s: float = 0.0) -> None:
        super().__init__(f"no free slot for {key or 'this model'} after {waited_s:.0f} s ({ordinal(position)} in line)")
        self.position = position
        self.key = key
        self.waited_s = waited_s


def ordinal(n: int) -> str:
    """1 → "1st", 2 → "2nd", 11 → "11th", 23 → "23rd" (`lib.i18n.ordinal` in English)."""
    return i18n.ordinal("en", n)


class Wait(int):
    """A place in line, as every `on_wait` callback gets it (an int: 1 = next), that also says it is a wait for a
    per-minute limit (`per_minute`) and how long until the next request may go (`seconds`; None: until one in
    flight is answered)."""

    seconds: float | None
    per_minute: int | None

    def __new__(cls, position: int, seconds: float | None = None, per_minute: int | None = None) -> "Wait":
        obj = super().__new__(cls, position)
        obj.seconds = seconds
        obj.per_minute = per_minute
        return obj


def wait_text(position: int) -> str:
    """What a waiting person reads: "Waiting for a free slot (2nd in line)…", or for a per-minute limit
    "Waiting 12 s: at most 20 requests a minute here (1st in line)…" (in English: a page shows `wait_msg`)."""
    return str(wait_msg(position))


def wait_msg(position: int) -> i18n.Msg:
    """`wait_text` for the page's language (`ui.i18n.say`): "빈 자리를 기다리는 중입니다 (2번째로 대기 중)…".

    The seconds are a whole count ("61 s", as the English line always said), not a `Seconds` duration."""
    place = i18n.Ordinal(int(position))
    if isinstance(position, Wait) and position.per_minute:
        if position.seconds is None:
            return i18n.msg("hosts.wait.per_minute_moment", per_minute=position.per_minute, place=place)
        return i18n.msg("hosts.wait.per_minute", seconds=math.ceil(position.seconds), per_minute=position.per_minute,
                        place=place)
    return i18n.msg("hosts.wait.slot", place=place)


@dataclass(frozen=True)
class Slot:
    """A held slot: arrival and admission numbers (the pool's counters, in order) and the seconds spent waiting."""

    arrived: int = 0
    admitted: int = 0
    waited_s: float = 0.0
    shared: str = ""  # the token of a place held in the shared (Redis) semaphore; "" for this process's own pool


@dataclass
class _Lane:
    """One key's slots in use and the line of waiters (tickets, oldest first)."""

    in_use: int = 0
    line: deque[object] = field(default_factory=deque)


class _Lines:
    """What the slot pool and the per-minute window share: a condition, lanes with a line of tickets, and tidying."""

    _cond: threading.Condition

    def _tidy(self, key: str, lane: Any) -> None:  # pragma: no cover - both subclasses define it
        raise NotImplementedError

    def _leave_line(self, key: str, lane: Any, ticket: object) -> None:
        """A waiter gives up (Stop, a timeout, an error): out of the line, those behind move up."""
        with self._cond:
            if ticket in lane.line:
                lane.line.remove(ticket)
                self._cond.notify_all()
            self._tidy(key, lane)


class SlotPool(_Lines):
    """At most `limit` holders per key at once, first come first served, shared by all threads (sessions)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, shared: SharedSemaphore | None = None) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._lanes: dict[str, _Lane] = {}
        self._clock = clock
        self._arrivals = 0
        self._admissions = 0
        self.shared = shared  # with Redis: the cap holds across every process; this pool is the fallback

    def in_use(self, key: str) -> int:
        """Slots held now for `key` (limited keys only), by every process when the cap is shared."""
        counts = self.shared.counts(key) if self.shared is not None else None
        with self._cond:
            lane = self._lanes.get(key)
            return (lane.in_use if lane else 0) + (counts[0] if counts else 0)

    def waiting(self, key: str) -> int:
        """How many are waiting in line for `key` (in every process when the cap is shared)."""
        counts = self.shared.counts(key) if self.shared is not None else None
        with self._cond:
            lane = self._lanes.get(key)
            return (len(lane.line) if lane else 0) + (counts[1] if counts else 0)

    def _tidy(self, key: str, lane: _Lane) -> None:
        if lane.in_use == 0 and not lane.line and self._lanes.get(key) is lane:
            del self._lanes[key]  # bounded memory: idle keys are forgotten

    def _take_shared(self, key: str, limit: int, timeout_s: float, on_wait: Callable[[int], None] | None,
                     stop: Callable[[], bool] | None) -> Slot | None:
        """A place in the shared semaphore, with the same line, notices, Stop and timeout as `_take`; None when
        Redis is unavailable (at once, or mid-wait: the caller then waits in this process's pool instead)."""
        assert self.shared is not None
        token = secrets.token_hex(8)
        started = self._clock()
        deadline = started + max(0.0, timeout_s)
        with self._cond:
            self._arrivals += 1
            arrived = self._arrivals
        reported = 0
        try:
            while True:
                position = self.shared.step(key, token, limit)
                if position is None:
                    return None
                if position == 0:
                    with self._cond:
                        self._admissions += 1
                        admitted = self._admissions
                    slot = Slot(arrived, admitted, self._clock() - started, shared=token)
                    if reported and on_wait is not None:
                        try:
                            on_wait(0)
                        except BaseException:
                            self.shared.release(key, token)
                            raise
                    return slot
                if position != reported and on_wait is not None:
                    reported = position
                    on_wait(position)
                if self._clock() >= deadline:
                    raise SlotTimeout(position, key, self._clock() - started)
                if stop is not None and stop():
                    raise Cancelled("stopped while waiting for a free slot")
                time.sleep(SHARED_POLL_S)
        except BaseException:
            self.shared.leave(key, token)
            raise

    def _take(self, key: str, limit: int, timeout_s: float, on_wait: Callable[[int], None] | None,
              stop: Callable[[], bool] | None = None) -> Slot:
        if self.shared is not None and self.shared.link.enabled:
            started = self._clock()
            slot = self._take_shared(key, limit, timeout_s, on_wait, stop)
            if slot is not None:
                return slot
            timeout_s = max(0.0, timeout_s - (self._clock() - started))  # Redis gone: the rest of the wait here
        ticket = object()
        started = self._clock()
        deadline = started + max(0.0, timeout_s)
        with self._cond:
            lane = self._lanes.setdefault(key, _Lane())
            lane.line.append(ticket)
            self._arrivals += 1
            arrived = self._arrivals
        reported = 0
        slot: Slot | None = None
        try:
            while slot is None:
                with self._cond:
                    while True:
                        position = lane.line.index(ticket) + 1
                        if position == 1 and lane.in_use < limit:
                            lane.line.popleft()
                            lane.in_use += 1
                            self._admissions += 1
                            self._cond.notify_all()  # the next in line may fit too (several slots free)
                            slot = Slot(arrived, self._admissions, self._clock() - started)
                            break
                        if position != reported and on_wait is not None:
                            break  # report outside the lock: the callback may draw on a page
                        remaining = deadline - self._clock()
                        if remaining <= 0:
                            raise SlotTimeout(position, key, self._clock() - started)
                        if stop is not None:
                            if stop():
                                raise Cancelled("stopped while waiting for a free slot")
                            remaining = min(remaining, 0.2)  # look at `stop` a few times a second
                        self._cond.wait(remaining)
                if slot is None:
                    reported = position
                    on_wait(position)  # type: ignore[misc]  # checked above
            if reported and on_wait is not None:
                try:
                    on_wait(0)  # admitted: no longer in line (a page drops its "waiting" notice)
                except BaseException:
                    self._give_back(key)
                    raise
            return slot
        except BaseException:
            self._leave_line(key, lane, ticket)
            raise

    def _give_back(self, key: str) -> None:
        with self._cond:
            lane = self._lanes.get(key)
            if lane is None:  # pragma: no cover - a slot is only given back once
                return
            lane.in_use -= 1
            self._cond.notify_all()
            self._tidy(key, lane)

    @contextmanager
    def acquire(
        self,
        key: str,
        limit: int | None,
        timeout_s: float = DEFAULT_SLOT_TIMEOUT_S,
        on_wait: Callable[[int], None] | None = None,
    ) -> Iterator[Slot]:
        """Hold one of `limit` slots for `key` while the block runs (None: unlimited, never waits); yields a `Slot`.

        Waits in arrival order; `on_wait(position)` is called each time the place in line changes (1 = next);
        without one, the callback of an enclosing `wait_notice()` is used. Raises `SlotTimeout(position)` after
        `timeout_s` without a slot; an exception from `on_wait` (a page being rerun) leaves the line and is passed on.

        Inside a `lib.common.ticking` worker, a Stop (the worker's `CancelScope` cancelled) gives the slot back at once, even
        while the request that holds it is still blocked on the network, and a waiter leaves the line (`Cancelled`).
        """
        if limit is None:
            yield Slot()
            return
        if limit < 1:
            raise ValueError("limit must be at least 1 (or None for unlimited)")
        scope = current_scope()
        stop = (lambda: scope.cancelled) if scope is not None else None
        slot = self._take(key, limit, timeout_s, on_wait if on_wait is not None else _ON_WAIT.get(), stop)
        given_back = threading.Lock()  # held once the slot is given back: by a Stop or by the block's end

        def give_back() -> None:
            if given_back.acquire(blocking=False):
                if slot.shared and self.shared is not None:
                    self.shared.release(key, slot.shared)
                else:
                    self._give_back(key)

        if scope is not None:
            scope.add(give_back)
        try:
            yield slot
        finally:
            give_back()
            if scope is not None:
                scope.discard(give_back)


SHARED_POLL_S = 0.1
"""How often a request waiting for a place in the shared (Redis) cap asks again."""

SLOTS = SlotPool(shared=SharedSemaphore(LINK, "cap"))
"""The one pool of this server process: every session's requests share it, and with `REDIS_URL` every process's."""


def slot_key(provider_id: str, endpoint: str, model: str) -> str:
    """The cap's key: provider, endpoint (without trailing slash, lower case) and model."""
    return f"{provider_id}|{endpoint.rstrip('/').lower()}|{model.strip()}"


def cap_for(provider: Provider, model: str) -> int | None:
    """Requests the app lets run at once for this provider and model: the table's figure; None is unlimited.

    Local servers (Ollama) and servers of your own queue requests themselves and are never capped here. `model`
    is part of the signature so a per-model figure can be added to the table without changing callers.
    """
    if provider.local:
        return None
    return provider.limits.concurrent


# Per-minute limits -------------------------------------------------------------------------------------------------

LIMIT_SETTINGS = (("per_minute", "REQUESTS_PER_MINUTE"), ("per_day", "REQUESTS_PER_DAY"))
"""The operator's own figures for a provider's account, e.g. `OPENROUTER_REQUESTS_PER_MINUTE=60` for a paid account
(environment variables, read per request: `<PROVIDER ID>_REQUESTS_PER_MINUTE` / `_PER_DAY`). They hold for every
model of that provider and replace the table's."""


def limits_for(provider: Provider, model: str | None, environ: Mapping[str, str] | None = None) -> Limits:
    """The limits that hold for `model` at `provider`: the table's (OpenRouter's 20 a minute and 50 a day only for
    `:free` models), or the operator's figures from the environment (`LIMIT_SETTINGS`)."""
    env = os.environ if environ is None else environ
    limits = provider.limits.for_model(model)
    chosen: dict[str, int] = {}
    for name, suffix in LIMIT_SETTINGS:
        raw = str(env.get(f"{provider.id.upper()}_{suffix}") or "").strip()
        if raw.isdigit() and 0 < int(raw) < 10_000_000:
            chosen[name] = int(raw)
    if not chosen:
        return limits
    which = "both" if len(chosen) == 2 else "minute" if "per_minute" in chosen else "day"
    note = i18n.msg(f"hosts.limits.set_{which}", **chosen)
    return dataclasses.replace(limits, only_suffix="", note=str(note), note_msg=note, **chosen)


def rate_key(where: str, limits: Limits) -> str:
    """What a per-minute limit is counted over: the provider and endpoint (`where`), and for a limit that holds for
    some models only (OpenRouter's `:free`), those models together."""
    return f"{where}|{limits.only_suffix}" if limits.only_suffix else where


@dataclass
class _Window:
    """One key's requests sent within the window (their monotonic times, oldest first), those admitted and not sent
    yet, the line of waiters, and a pause the host asked for (a per-minute 429)."""

    sent: deque[float] = field(default_factory=deque)
    reserved: int = 0
    line: deque[object] = field(default_factory=deque)
    paused_until: float = 0.0


class Admission:
    """Leave to send one request within a per-minute limit: `sent()` once the host accepted it (it then counts for
    the window); given back when the block ends unsent (refused, cancelled, never reached the host)."""

    def __init__(self, window: "RateWindow | None", key: str, shared: str = "") -> None:
        self._window = window
        self.key = key
        self.shared = shared  # the token of a place claimed in the shared (Redis) window, if any
        self.stamped = False
        self.released = False

    def sent(self) -> None:
        """The host accepted the request: it counts for the next `window_s` seconds (idempotent)."""
        if self._window is not None:
            self._window._stamp(self)
        self.stamped = True


class RateWindow(_Lines):
    """At most `limit` requests per key in any `window_s` seconds, across every session of the server.

    Requests wait in a first-come, first-served line (as `SlotPool`'s) until the oldest request of the window is
    older than `window_s` (plus `margin_s`, so a meter reading the last 60 s with another clock never sees more than
    `limit`); `on_wait(Wait(position, seconds, limit))` says so each time the place in line or the whole seconds left
    change, then `on_wait(0)`. A request admitted and not sent yet holds its place in the window, so two sessions can
    never both take the last one. `pause(key, s)`: the host itself said "per-minute limit" (a 429): nothing goes for
    `s` seconds."""

    def __init__(self, window_s: float = 60.0, margin_s: float = 0.5,
                 clock: Callable[[], float] = time.monotonic, link: SharedLink | None = None) -> None:
        self.window_s = window_s
        self.margin_s = margin_s
        # With Redis, the window counts every process's requests; this process's own window stays as the fallback.
        self.shared = SharedWindow(link, "rate", window_s + margin_s) if link is not None else None
        self._clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._lanes: dict[str, _Window] = {}

    def _expire(self, lane: _Window, now: float) -> None:
        while lane.sent and now - lane.sent[0] >= self.window_s + self.margin_s:
            lane.sent.popleft()

    def _tidy(self, key: str, lane: _Window) -> None:
        if not lane.sent and not lane.reserved and not lane.line and lane.paused_until <= self._clock() \
                and self._lanes.get(key) is lane:
            del self._lanes[key]

    def _free_in(self, lane: _Window, limit: int, now: float) -> float | None:
        """Seconds until one more request may go (0: now; None: only when one admitted and unsent is given back)."""
        self._expire(lane, now)
        paused = max(0.0, lane.paused_until - now)
        over = len(lane.sent) + lane.reserved - limit + 1  # requests that must leave the window first
        if over <= 0:
            return paused
        if over > len(lane.sent):
            return None
        return max(paused, lane.sent[over - 1] + self.window_s + self.margin_s - now)

    def used(self, key: str) -> int:
        """Requests sent within the window, and those admitted and not sent yet (by every process, with Redis)."""
        shared = self.shared.used(key) if self.shared is not None and self.shared.link.enabled else None
        if shared is not None:
            return shared
        with self._cond:
            lane = self._lanes.get(key)
            if lane is None:
                return 0
            self._expire(lane, self._clock())
            return len(lane.sent) + lane.reserved

    def waiting(self, key: str) -> int:
        """How many are waiting in line for `key`."""
        with self._cond:
            lane = self._lanes.get(key)
            return len(lane.line) if lane else 0

    def free_in(self, key: str, limit: int | None) -> float:
        """Seconds until the next request for `key` may go under `limit` (0: now; unknown counts as the window)."""
        if limit is None:
            return 0.0
        with self._cond:
            lane = self._lanes.get(key)
            if lane is None:
                return 0.0
            wait = self._free_in(lane, limit, self._clock())
            return self.window_s if wait is None else wait

    def pause(self, key: str, seconds: float) -> None:
        """The host said its per-minute limit is reached: no request for `key` goes for `seconds`."""
        if self.shared is not None and self.shared.link.enabled:
            self.shared.pause(key, max(0.0, min(seconds, 3600.0)))
        with self._cond:
            lane = self._lanes.setdefault(key, _Window())
            lane.paused_until = max(lane.paused_until, self._clock() + max(0.0, min(seconds, 3600.0)))
            self._cond.notify_all()

    def _stamp(self, admission: Admission) -> None:
        with self._cond:
            lane = self._lanes.setdefault(admission.key, _Window())
            if not admission.stamped and not admission.released:
                lane.reserved -= 1
            lane.sent.append(self._clock())
            self._cond.notify_all()

    def _give_back(self, admission: Admission) -> None:
        if admission.shared and not admission.stamped and not admission.released and self.shared is not None:
            self.shared.give_back(admission.key, admission.shared)
        with self._cond:
            if admission.stamped or admission.released:
                return
            admission.released = True
            lane = self._lanes.get(admission.key)
            if lane is not None:
                lane.reserved -= 1
                self._cond.notify_all()
                self._tidy(admission.key, lane)

    @contextmanager
    def admit(self, key: str, limit: int | None, timeout_s: float = DEFAULT_SLOT_TIMEOUT_S,
              on_wait: Callable[[int], None] | None = None) -> Iterator[Admission]:
        """Wait (in line) until a request for `key` fits `limit` per window, then hold its place while the block
        runs; yields an `Admission` to mark `sent()`. `limit` None: no limit, never waits.

        Without `on_wait`, an enclosing `wait_notice()` hears the wait. Raises `SlotTimeout(position)` after
        `timeout_s`; inside a `lib.common.ticking` worker a Stop leaves the line (`Cancelled`)."""
        if limit is None:
            yield Admission(None, key)
            return
        if limit < 1:
            raise ValueError("limit must be at least 1 (or None for unlimited)")
        scope = current_scope()
        report = on_wait if on_wait is not None else _ON_WAIT.get()
        ticket = object()
        token = secrets.token_hex(8)
        claimed = ""
        started = self._clock()
        with self._cond:
            lane = self._lanes.setdefault(key, _Window())
            lane.line.append(ticket)
        reported: tuple[int, int | None] | None = None
        admitted = False
        try:
            while not admitted:
                with self._cond:
                    while True:
                        now = self._clock()
                        position = lane.line.index(ticket) + 1
                        wait = self._free_in(lane, limit, now)
                        if position == 1 and wait == 0 and self.shared is not None and self.shared.link.enabled:
                            across = self.shared.claim(key, token, limit)  # every process's requests count
                            if across is not None and across > 0:
                                wait = across
                            elif across == 0:
                                claimed = token
                        if position == 1 and wait == 0:
                            lane.line.popleft()
                            lane.reserved += 1
                            self._cond.notify_all()  # the next in line may fit too
                            admitted = True
                            break
                        shown = (position, None if wait is None else math.ceil(wait))
                        if report is not None and shown != reported:
                            break  # report outside the lock: the callback may draw on a page
                        if now - started >= timeout_s:
                            raise SlotTimeout(position, key, now - started)
                        if scope is not None and scope.cancelled:
                            raise Cancelled("stopped while waiting for the per-minute limit")
                        pause = min(1.0, max(0.01, timeout_s - (now - started)))
                        if wait:  # wake when the window frees (or each second, to count down)
                            pause = min(pause, max(0.01, wait - math.floor(wait) if wait > 1 else wait))
                        if scope is not None:
                            pause = min(pause, 0.2)
                        self._cond.wait(pause)
                if not admitted and report is not None:
                    reported = shown
                    report(Wait(shown[0], wait, limit))
            if reported is not None and report is not None:
                try:
                    report(0)  # admitted: no longer in line
                except BaseException:
                    with self._cond:
                        lane.reserved -= 1
                        self._cond.notify_all()
                    if claimed and self.shared is not None:
                        self.shared.give_back(key, claimed)
                    raise
        except BaseException:
            self._leave_line(key, lane, ticket)
            raise
        admission = Admission(self, key, claimed)
        try:
            yield admission
        finally:
            self._give_back(admission)


RATES = RateWindow(link=LINK)
"""The per-minute windows of this server process: every session's requests count in them."""


# 429 kinds ---------------------------------------------------------------------------------------------------------

_CONCURRENT = re.compile(r"concurren|simultaneous|at once|in parallel|parallel request|in[- ]flight|"
                         r"too many (?:active|open|pending|ongoing) requests|requests in progress")
_DAILY = re.compile(r"per[- ]?day|daily|86400|\bday\b|24 ?h")
DAY_WAIT_S = 3600.0  # a retry-after longer than this is a daily quota, not a per-minute window


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Wait time a response asks for: x-ratelimit-timeremaining, then retry-after (then retry-after-ms)."""
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    for key, scale in (("x-ratelimit-timeremaining", 1.0), ("retry-after", 1.0), ("retry-after-ms", 0.001)):
        value = lower.get(key)
        if value:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None


def rate_limit_kind(status: int, message: str, headers: Mapping[str, str]) -> RateLimitKind | None:
    """"concurrent", "minute" or "day" for a rate-limit answer; None when it is not one (any status but 429).

    Order of evidence: an `x-ratelimit-type` header naming the window (GitHub, Azure); then the server's words
    ("Too many concurrent requests", "simultaneous", "at once", "parallel", "in flight" → concurrent; "per day",
    "daily", "86400" → day); then a retry-after over an hour (day). A 429 that says nothing is "minute".
    A short retry-after alone proves nothing (per-minute windows end soon too), so it never makes "concurrent".
    """
    if status != 429:
        return None
    lower = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    kind = lower.get("x-ratelimit-type", "").lower()
    if _CONCURRENT.search(kind):
        return "concurrent"
    if "day" in kind:
        return "day"
    if "minute" in kind:
        return "minute"
    text = (message or "").lower()
    if _CONCURRENT.search(text):
        return "concurrent"
    wait = retry_after_seconds(lower)
    if _DAILY.search(text) or (wait is not None and wait > DAY_WAIT_S):
        return "day"
    return "minute"


def _exception_parts(exc: BaseException) -> tuple[int, str, Mapping[str, str]]:
    """(status, message, headers) of an SDK HttpResponseError (0, "", {} for anything else)."""
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        return 0, "", {}
    response: Any = getattr(exc, "response", None)
    parts = [str(getattr(getattr(exc, "error", None), "message", "") or ""), str(exc)]
    try:
        parts.append(response.text() if response is not None else "")
    except Exception:  # noqa: BLE001 - an unread or unreadable body just means fewer words to go by
        pass
    try:
        headers = dict(response.headers) if response is not None else {}
    except Exception:  # noqa: BLE001
        headers = {}
    return status, " ".join(p for p in parts if p), headers


def kind_of_response(http_response: Any) -> RateLimitKind | None:
    """`rate_limit_kind` of an azure-core HTTP response inside a retry policy (reads a 429's small body first).

    A streamed request's body is not read yet when `RetryPolicy.is_retry` sees it; `.text()` would raise.
    """
    status = getattr(http_response, "status_code", 0)
    if status != 429:
        return None
    try:
        http_response.read()
        body = http_response.text()
    except Exception:  # noqa: BLE001 - without the body, the headers alone decide
        body = ""
    try:
        headers = dict(http_response.headers)
    except Exception:  # noqa: BLE001
        headers = {}
    return rate_limit_kind(429, body, headers)


def kind_of(exc: BaseException) -> RateLimitKind | None:
    """`rate_limit_kind` of an exception raised by the SDK (None for anything that is not a 429)."""
    return rate_limit_kind(*_exception_parts(exc))


def refusal_of(exc: BaseException) -> tuple[RateLimitKind | None, float | None]:
    """(`kind_of(exc)`, the seconds the host asked to wait) of an SDK exception; (None, None) if not a 429."""
    status, message, headers = _exception_parts(exc)
    kind = rate_limit_kind(status, message, headers)
    return kind, (retry_after_seconds(headers) if kind else None)


def retry_concurrent(
    call: Callable[[], T],
    *,
    attempts: int = 3,
    wait_s: float = 1.0,
    max_wait_s: float = 8.0,
    sleep: Callable[[float], Any] = time.sleep,
) -> T:
    """`call()`, retried only when it fails with a "too many at once" 429, after a short wait that doubles.

    Waits `wait_s`, then 2×, 4× … (never more than `max_wait_s`; a longer retry-after from the server counts if
    it is still within `max_wait_s`). At most `attempts` calls in all. Any other error, and the last concurrent
    429, is raised unchanged. Wrap only the request start (before any text is shown), never a half-read stream.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - only the concurrent kind is retried, the rest re-raised
            if attempt >= attempts or kind_of(exc) != "concurrent":
                raise
            _, _, headers = _exception_parts(exc)
            server_wait = retry_after_seconds(headers) or 0.0
            pause = min(max_wait_s, max(wait_s * 2 ** (attempt - 1), server_wait))
            sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover
