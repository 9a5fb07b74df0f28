"""State several app processes share: one Redis link (`REDIS_URL`), with this process's memory as the fallback.

Without `REDIS_URL` nothing changes: every store keeps its state in the process. With it, a store asks
`LINK.client()` for a Redis client and keeps its in-process state as the fallback: `LINK.call(fn, default)` runs
`fn(client)` and, when Redis is unreachable (at start or mid-way), returns `default`, notes the outage (`status()`
gives the warning a page shows, the log says it once) and tries again at most every `RETRY_S` seconds. Never raises
for an outage: a room keeps running on per-process state, with a warning, until Redis is back.

    LINK.configure("redis://127.0.0.1:6379/0")
    n = LINK.call(lambda r: r.incr(LINK.key("demo")), default=None)   # None: off or unreachable

Imports nothing of ours; the `redis` package is loaded only when a URL is configured.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable, TypeVar

RETRY_S = 5.0
"""After an outage, how long before Redis is tried again (calls in between use the fallback at once)."""
SOCKET_TIMEOUT_S = 2.0
"""A Redis that doesn't answer within this long counts as unreachable (a page never waits longer for it)."""
PREFIX = "lhs:"

_log = logging.getLogger("llama_herd.shared_state")
T = TypeVar("T")


class SharedLink:
    """The process's one link to Redis: configured from a URL, lazily connected, watched for outages."""

    def __init__(self, url: str | None = None, prefix: str = PREFIX) -> None:
        self._lock = threading.Lock()
        self.prefix = prefix
        self._url: str | None = None
        self._client: Any = None
        self._down_since: float | None = None  # wall clock of the outage's start (None: up, or off)
        self._retry_at = 0.0  # monotonic: when to try again during an outage
        self._boot: str | None = None
        self.configure(url)

    def configure(self, url: str | None) -> None:
        """Use this Redis URL from now on (None or "": off, state stays in the process)."""
        url = (url or "").strip() or None
        with self._lock:
            if url == self._url:
                return
            self._url, self._client, self._down_since, self._retry_at, self._boot = url, None, None, 0.0, None

    @property
    def enabled(self) -> bool:
        """A Redis URL is configured (whether or not it answers)."""
        return self._url is not None

    @property
    def down(self) -> bool:
        """Configured and unreachable at the last attempt."""
        return self._down_since is not None

    def key(self, *parts: str) -> str:
        """A key in this app's namespace: `lhs:part:part`."""
        return self.prefix + ":".join(parts)

    def client(self) -> Any:
        """A Redis client, or None when off or during an outage (until the next retry)."""
        with self._lock:
            if self._url is None:
                return None
            if self._down_since is not None and time.monotonic() < self._retry_at:
                return None
            if self._client is None:
                import redis  # only with REDIS_URL: a single-process server never loads it

                self._client = redis.Redis.from_url(
                    self._url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S,
                    health_check_interval=30, retry_on_timeout=False)
            return self._client

    def call(self, fn: Callable[[Any], T], default: T) -> T:
        """`fn(client)`, or `default` when Redis is off or unreachable (an outage is noted, never raised)."""
        client = self.client()
        if client is None:
            return default
        try:
            result = fn(client)
        except Exception as exc:  # noqa: BLE001 - any Redis failure: fall back, never break a page
            if not _is_outage(exc):
                raise
            self._note_down(exc)
            return default
        self._note_up()
        return result

    def _note_down(self, exc: BaseException) -> None:
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = time.time()
            self._retry_at = time.monotonic() + RETRY_S
        if first:
            _log.warning("Redis at %s is unreachable (%s): this process runs on its own state until it is back",
                         _shown(self._url), type(exc).__name__)

    def _note_up(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            was = self._down_since
            self._down_since = None
        if was is not None:
            _log.warning("Redis is reachable again: shared state resumes")

    def ping(self) -> bool:
        """True when Redis answers now (tried even during an outage); notes the result."""
        with self._lock:
            self._retry_at = 0.0
        return bool(self.call(lambda r: r.ping(), False))

    def status(self, stage: bool = False) -> str | None:
        """The warning to show while Redis is configured and unreachable, else None (`stage`: the presenter's
        shorter line, without setting names)."""
        since = self._down_since
        if since is None:
            return None
        when = time.strftime("%H:%M", time.localtime(since))
        if stage:
            return f"Shared state offline since {when}: answers still work."
        return f"Redis unreachable since {when}: this process carries on alone (its own cap, counts and saved chats)."

    def boot_id(self, local: str) -> str:
        """The deployment's id for browser-bound session ids: shared by every process while Redis holds it, so an
        id made by another process (or before a restart of this one) is not taken for "made before a restart"."""
        if self._boot is not None:
            return self._boot
        shared = self.call(lambda r: _boot_of(r, self.key("boot"), local), None)
        if shared is not None:
            self._boot = shared
        return shared or local


def _boot_of(r: Any, key: str, local: str) -> str:
    r.set(key, local, nx=True)
    value = r.get(key)
    return value.decode() if isinstance(value, bytes) else str(value or local)


def _is_outage(exc: BaseException) -> bool:
    """A Redis connection or timeout error (a Redis *answer* such as a wrong type is a bug, and is raised)."""
    try:
        import redis
    except ImportError:  # pragma: no cover - the package is a requirement
        return False
    return isinstance(exc, (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError)) or (
        isinstance(exc, redis.ResponseError) and str(exc).startswith(("LOADING", "MASTERDOWN", "READONLY")))


def _shown(url: str | None) -> str:
    """The URL without a password."""
    if not url:
        return ""
    head, sep, tail = url.partition("@")
    if not sep:
        return url
    scheme, _, _ = head.partition("://")
    return f"{scheme}://…@{tail}"


LINK = SharedLink(os.environ.get("REDIS_URL"))
"""This process's link (configured from `REDIS_URL` in the environment; `app.py` also reads Streamlit's secrets)."""


# Every script reads the time from Redis's own clock (milliseconds), so processes with skewed clocks agree.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""


# A fair, expiring semaphore ------------------------------------------------------------------------------------------

_STEP = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, w in ipairs(stale) do
  redis.call('ZREM', KEYS[2], w)
  redis.call('ZREM', KEYS[3], w)
end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), ARGV[1])
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[1])
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], 3600000) end
local rank = redis.call('ZRANK', KEYS[2], ARGV[1])
local free = tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[1])
if rank < free then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  return 0
end
return rank + 1
"""
_RENEW = _NOW + """
for i = 1, #KEYS do redis.call('ZADD', KEYS[i], 'XX', now + tonumber(ARGV[1]), ARGV[i + 1]) end
return #KEYS
"""
_COUNT = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCOUNT', KEYS[2], '-inf', '+inf')}
"""


class SharedSemaphore:
    """At most `limit` holders per key across every process, first come first served, that never outlives a crash.

    A holder's place expires `hold_s` after its last renewal (a thread renews every held place every `hold_s / 3`
    seconds while its process lives); a waiter's place in line expires `wait_s` after its last `step()` (waiters
    call it a few times a second). Times are Redis's own clock, so processes on machines with skewed clocks agree.
    Every method returns None when Redis is off or unreachable: the caller falls back to its in-process pool."""

    def __init__(self, link: SharedLink, name: str, hold_s: float = 15.0, wait_s: float = 10.0) -> None:
        self.link, self.name, self.hold_s, self.wait_s = link, name, hold_s, wait_s
        self._held: dict[str, str] = {}  # token -> holders key, renewed while held
        self._held_lock = threading.Lock()
        self._renewer: threading.Thread | None = None

    def _keys(self, key: str) -> list[str]:
        base = self.link.key(self.name, key)
        return [base + ":holders", base + ":line", base + ":seen", base + ":seq"]

    def step(self, key: str, token: str, limit: int) -> int | None:
        """Join (or stay in) the line and take a place if one is free and it is `token`'s turn: 0 = holding now,
        n = n-th in line, None = Redis unavailable (the token is then in no line)."""
        keys = self._keys(key)
        position = self.link.call(lambda r: int(r.eval(_STEP, 4, *keys, token, limit, int(self.hold_s * 1000),
                                                       int(self.wait_s * 1000))), None)
        if position == 0:
            with self._held_lock:
                self._held[token] = keys[0]
                if self._renewer is None or not self._renewer.is_alive():
                    self._renewer = threading.Thread(target=self._renew_loop, name="shared-semaphore", daemon=True)
                    self._renewer.start()
        return position

    def leave(self, key: str, token: str) -> None:
        """Give up a place in line (Stop, a timeout)."""
        keys = self._keys(key)
        self.link.call(lambda r: r.pipeline().zrem(keys[1], token).zrem(keys[2], token).execute(), None)

    def release(self, key: str, token: str) -> None:
        """Give a held place back (if Redis is unreachable it expires by itself within `hold_s`)."""
        with self._held_lock:
            self._held.pop(token, None)
        holders = self._keys(key)[0]
        self.link.call(lambda r: r.zrem(holders, token), None)

    def counts(self, key: str) -> tuple[int, int] | None:
        """(held, waiting) now for `key`, or None when Redis is unavailable."""
        keys = self._keys(key)
        got = self.link.call(lambda r: r.eval(_COUNT, 2, keys[0], keys[1]), None)
        return None if got is None else (int(got[0]), int(got[1]))

    def _renew_loop(self) -> None:
        while True:
            time.sleep(self.hold_s / 3)
            with self._held_lock:
                held = dict(self._held)
            if not held:
                continue
            keys, tokens = list(held.values()), list(held.keys())
            self.link.call(lambda r: r.eval(_RENEW, len(keys), *keys, int(self.hold_s * 1000), *tokens), None)


# A sliding window of requests ----------------------------------------------------------------------------------------

_CLAIM = _NOW + """
local span = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span)
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return paused - now end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], span + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + span - now)
"""
_USED = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
return redis.call('ZCARD', KEYS[1])
"""

_PAUSE = _NOW + """
local ends = now + tonumber(ARGV[1])
if ends > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], ends, 'PX', tonumber(ARGV[1]) + 1000)
end
return 1
"""


class SharedWindow:
    """At most `limit` requests per key in any `span_s` seconds across every process (Redis's clock); each returns
    None when Redis is off or unreachable, so the caller's in-process window decides."""

    def __init__(self, link: SharedLink, name: str, span_s: float) -> None:
        self.link, self.name, self.span_s = link, name, span_s

    def _keys(self, key: str) -> tuple[str, str]:
        base = self.link.key(self.name, key)
        return base + ":sent", base + ":pause"

    def claim(self, key: str, token: str, limit: int) -> float | None:
        """Take a place in the window now (0.0) or say how many seconds until one frees (or the pause ends)."""
        sent, pause = self._keys(key)
        ms = self.link.call(lambda r: r.eval(_CLAIM, 2, sent, pause, token, limit, int(self.span_s * 1000)), None)
        return None if ms is None else int(ms) / 1000

    def give_back(self, key: str, token: str) -> None:
        """A claimed place whose request never reached the host."""
        sent = self._keys(key)[0]
        self.link.call(lambda r: r.zrem(sent, token), None)

    def used(self, key: str) -> int | None:
        """Places taken within the window."""
        sent = self._keys(key)[0]
        n = self.link.call(lambda r: r.eval(_USED, 1, sent, int(self.span_s * 1000)), None)
        return None if n is None else int(n)

    def pause(self, key: str, seconds: float) -> None:
        """Nothing goes for `seconds` (the host said its limit is reached), in every process."""
        pause = self._keys(key)[1]
        self.link.call(lambda r: r.eval(_PAUSE, 1, pause, int(seconds * 1000)), None)
