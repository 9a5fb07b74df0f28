"""THE shared client: the only module that imports azure.ai.inference.

- `get_client()` returns one `ChatCompletionsClient` per (endpoint, key fingerprint), cached with
  `st.cache_resource`, so both pages and every rerun reuse one client and its HTTP connections. The key itself is
  passed as an unhashed `_token` argument: only a one-way fingerprint is part of the cache key. A provider that was
  given no key gets no auth header at all (the SDK would otherwise send its credential in two headers).
- `ChatStream` yields text pieces for `st.write_stream`, collects usage, and falls back to one non-streamed call
  when the server's stream cannot be parsed (the SDK's SSE parser is strict). It ends, hanging up, when no text has
  arrived for `Settings.timeout_s` although keep-alives keep the connection busy, or at `REQUEST_DEADLINE_S` in all,
  or at a turn's deadline (`under_deadline`, `TURN_DEADLINE_S`).
- `ShortRetryPolicy` never sleeps for long: a daily-limit 429 with `retry-after: 24367` comes straight back as an
  error; short transient failures (503, refused connection) are retried twice with short backoff.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import secrets
import threading
import time
from collections import deque
from contextvars import ContextVar
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import streamlit as st

from lib.common.shared_state import LINK, SharedLink
from lib.common.ticking import Cancelled, current_scope
from lib.hosts.budget import estimate_tokens
from lib.hosts.catalog import _OPENER, CatalogResult, fetch_models
from lib.hosts.config import Settings
from lib.hosts.errors import NoProviderError, NoTokenError, StreamDeadline, permanent_failure, retry_after_seconds
from lib.hosts.limits import (
    DEFAULT_SLOT_TIMEOUT_S,
    RATES,
    SLOTS,
    Admission,
    cap_for,
    kind_of_response,
    limits_for,
    rate_key,
    refusal_of,
    retry_concurrent,
    slot_key,
)
from lib.hosts.providers import Limits

if TYPE_CHECKING:
    from azure.ai.inference import ChatCompletionsClient

# The SDK is imported when the first client is built, not with this module: Home uses the request counter and the
# model listing from here but sends no request, so a fresh server draws it without loading azure-ai-inference.

MAX_RETRY_WAIT_S = 3.0  # never sleep longer than this for a Retry-After
CONNECT_TIMEOUT_S = 10.0
DEFAULT_MAX_TOKENS = 1024
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REQUEST_DEADLINE_S = 600.0
"""The most one streamed model request may take in all, however steadily text or keep-alives arrive (the read
timeout resets on every byte); at least twice `Settings.timeout_s`, so a REQUEST_TIMEOUT_S raised for a slow host
raises it too. A `Settings.request_deadline_s`, when the settings have one, wins."""
TURN_DEADLINE_S = 900.0
"""The most one question may take in all: every round of the tool loop (model requests and tool calls together), or
a vision answer with its fallbacks; never less than one request's deadline. `Settings.turn_deadline_s`, when the
settings have one, wins."""
# The "no progress" limit is `Settings.timeout_s` (REQUEST_TIMEOUT_S, 120 s by default): no text within it ends a
# stream even while keep-alive comments or empty chunks keep arriving, as silence ends it by the read timeout.


@cache
def _short_retry_policy() -> type:
    """`ShortRetryPolicy`, defined on first use (it subclasses azure-core's `RetryPolicy`)."""
    from azure.core.pipeline.policies import RetryPolicy

    class ShortRetryPolicy(RetryPolicy):
        """Retry only short, transient failures; never wait more than `max_wait_s` for a Retry-After."""

        def __init__(self, max_wait_s: float = MAX_RETRY_WAIT_S, **kwargs: Any) -> None:
            kwargs.setdefault("retry_total", 2)
            kwargs.setdefault("retry_connect", 2)
            kwargs.setdefault("retry_read", 0)  # a read timeout already cost the user a long wait
            kwargs.setdefault("retry_status", 2)
            kwargs.setdefault("retry_backoff_factor", 0.4)
            kwargs.setdefault("retry_backoff_max", int(max_wait_s))
            super().__init__(**kwargs)
            self.max_wait_s = max_wait_s
            # Chat completions have no side effects besides quota: a refused connection may be retried.
            self._method_whitelist = frozenset(self._method_whitelist | {"POST"})

        def is_retry(self, settings: dict[str, Any], response: Any) -> bool:
            """Retry 408/429/5xx only when the server asks for a short wait (or none, except 429)."""
            status = response.http_response.status_code
            if status not in TRANSIENT_STATUSES or not settings["total"]:
                return False
            if status >= 500 and permanent_failure(status, _body_text(response.http_response)):
                return False  # e.g. llama.cpp's 500 "image input is not supported": asking again cannot help
            if status == 429 and kind_of_response(response.http_response) == "concurrent":
                return False  # "too many at once": retry_concurrent() waits longer, at the request start
            wait = retry_after_seconds(dict(response.http_response.headers))
            if wait is not None and wait > self.max_wait_s:
                return False
            if status == 429 and wait is None:
                return False
            return True

    return ShortRetryPolicy


def _body_text(http_response: Any) -> str:
    """An error response's body as text ("" when it cannot be read); error bodies are small."""
    try:
        http_response.read()
        return str(http_response.text() or "")[:20_000]
    except Exception:  # noqa: BLE001 - an unreadable body just means "no details"
        return ""


def __getattr__(name: str) -> Any:
    """`client.ShortRetryPolicy`: the SDK-dependent class, built when first asked for."""
    if name == "ShortRetryPolicy":
        return _short_retry_policy()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------------------------------------------
# Per-endpoint memory (shared by all users on purpose: it describes servers, not people) and a request counter.

_memory_lock = threading.Lock()
_UNKNOWN: Any = object()
_endpoint_memory: dict[tuple[str, str], tuple[Any, float | None]] = {}  # value, expires (monotonic) or None
SKIP_MODEL_S = 600.0
"""How long a model that answered "retired" / "not found" is passed over before it is tried again."""
NO_STREAMING_S = 600.0
"""How long an endpoint whose stream could not be read gets non-streamed calls before streaming is tried again."""


def _memory_key(endpoint: str, key: str) -> str:
    return LINK.key("endpoint", hashlib.sha256(f"{endpoint.rstrip('/').lower()}|{key}".encode()).hexdigest()[:32])


def remember(endpoint: str, key: str, value: Any, ttl_s: float | None = None) -> None:
    """Record what an endpoint accepts (e.g. which way of returning tool results worked), for `ttl_s` or for good;
    with Redis, for every process (JSON values; learning it cost someone a refused request)."""
    expires = time.monotonic() + ttl_s if ttl_s is not None else None
    with _memory_lock:
        _endpoint_memory[(endpoint.rstrip("/").lower(), key)] = (value, expires)
    if LINK.enabled:
        text = json.dumps(value)
        LINK.call(lambda r: r.set(_memory_key(endpoint, key), text,
                                  px=int(ttl_s * 1000) if ttl_s is not None else 30 * 86_400_000), None)


def recall(endpoint: str, key: str, default: Any = None) -> Any:
    """What `remember` stored for this endpoint (and has not expired) here or, with Redis, in any process."""
    with _memory_lock:
        value, expires = _endpoint_memory.get((endpoint.rstrip("/").lower(), key), (_UNKNOWN, None))
    if value is not _UNKNOWN and (expires is None or time.monotonic() < expires):
        return value
    if LINK.enabled:
        shared = LINK.call(lambda r: r.get(_memory_key(endpoint, key)), None)
        if shared is not None:
            return json.loads(shared)
    return default


def forget_all() -> None:
    """Clear the per-endpoint memory (tests)."""
    with _memory_lock:
        _endpoint_memory.clear()


def skip_model(endpoint: str, model: str, why: str, ttl_s: float = SKIP_MODEL_S) -> None:
    """Pass `model` over on this endpoint for `ttl_s` (it answered retired / not found); then it is tried again.

    One odd answer (a gateway's hiccup, a model reloading) must not leave every visitor without a model for the
    server's lifetime."""
    until = time.monotonic() + ttl_s
    with _memory_lock:
        key = (endpoint.rstrip("/").lower(), "skipped_models")
        skipped = dict(_endpoint_memory.get(key, ({}, None))[0])
        skipped[model] = (why, until)
        _endpoint_memory[key] = (skipped, None)
    if LINK.enabled:  # every process passes it over (a field per model: no process overwrites another's)
        hkey = _memory_key(endpoint, "skipped_models")
        LINK.call(lambda r: r.pipeline().hset(hkey, model, json.dumps([why, time.time() + ttl_s]))
                  .expire(hkey, int(ttl_s) + 1).execute(), None)


def skipped_models(endpoint: str) -> dict[str, str]:
    """Models passed over on this endpoint now, with why (by any process, with Redis)."""
    now = time.monotonic()
    with _memory_lock:
        mine = _endpoint_memory.get((endpoint.rstrip("/").lower(), "skipped_models"), ({}, None))[0]
    out = {m: why for m, (why, until) in mine.items() if until > now}
    if LINK.enabled:
        shared = LINK.call(lambda r: r.hgetall(_memory_key(endpoint, "skipped_models")), {})
        wall = time.time()
        for m, entry in shared.items():
            why, until = json.loads(entry)
            if until > wall:
                out.setdefault(m.decode(), why)
    return out


@dataclass
class QuotaSnapshot:
    """Requests this server sent today (UTC) and in the last minute, per provider and endpoint, and the last
    x-ratelimit-remaining-* headers each one returned."""

    date: str
    counts: dict[str, int]  # "provider (host) · model" -> today
    today: dict[str, int]  # "provider (host)" -> today, all models
    last_minute: dict[str, int]  # "provider (host)" -> the last 60 s
    remaining: dict[str, dict[str, str]]  # "provider (host)" -> header -> value
    minute_counts: dict[str, int] = field(default_factory=dict)  # "provider (host) · model" -> the last 60 s
    # "provider (host) · model" -> (kind "day" / "minute", until: epoch seconds): the host refused with that limit
    reached: dict[str, tuple[str, float]] = field(default_factory=dict)
    now: float = 0.0  # when the snapshot was taken (epoch seconds)

    def usage(self, where: str, applies: Callable[[str], bool] | None = None) -> tuple[int, int]:
        """(today, the last 60 s) at `where`, over the models `applies(model)` accepts (all when None)."""
        prefix = f"{where} · "

        def total(counts: dict[str, int]) -> int:
            return sum(n for k, n in counts.items()
                       if k.startswith(prefix) and (applies is None or applies(k[len(prefix):])))

        return total(self.counts), total(self.minute_counts)

    def limit_reached(self, where: str, kind: str, applies: Callable[[str], bool] | None = None) -> float | None:
        """Until when (epoch seconds) the host said its `kind` ("day" / "minute") limit is reached at `where` for
        a model `applies` accepts; None when it didn't (or that time has passed)."""
        prefix = f"{where} · "
        untils = [until for k, (seen, until) in self.reached.items()
                  if seen == kind and until > self.now and k.startswith(prefix)
                  and (applies is None or applies(k[len(prefix):]))]
        return max(untils) if untils else None


_RATE_VALUE = re.compile(r"[0-9A-Za-z.:+-]{1,24}")  # a count or a duration, as rate-limit headers carry


class QuotaTracker:
    """Thread-safe request counter shared by every session of this server process (it describes providers).

    With a `link` to Redis (`REDIS_URL`) every process counts into the same numbers, so a room behind several
    processes sees each request once; the process keeps counting on its own too, and shows its own numbers while
    Redis is unreachable."""

    def __init__(self, clock: Any = time.time, link: SharedLink | None = None) -> None:
        self._lock = threading.Lock()
        self.link = link
        self._clock = clock
        self._date = ""
        self._counts: dict[str, int] = {}
        self._today: dict[str, int] = {}
        self._recent: dict[str, deque[tuple[float, str]]] = {}
        self._remaining: dict[str, dict[str, str]] = {}
        self._reached: dict[str, tuple[str, float]] = {}

    def _roll(self) -> None:
        today = _dt.datetime.fromtimestamp(self._clock(), _dt.timezone.utc).date().isoformat()
        if today != self._date:
            self._date, self._counts, self._today, self._remaining = today, {}, {}, {}

    def count(self, where: str, model: str) -> None:
        """One request accepted for `model` at `where` (the provider and endpoint, not the model name alone)."""
        with self._lock:
            self._roll()
            key = f"{where} · {model}"
            self._counts[key] = self._counts.get(key, 0) + 1
            self._today[where] = self._today.get(where, 0) + 1
            recent = self._recent.setdefault(where, deque(maxlen=1000))
            recent.append((self._clock(), model))
            date, now = self._date, self._clock()
        self._shared(lambda r, k: r.pipeline()
                     .hincrby(k(date, "counts"), f"{where} · {model}", 1).expire(k(date, "counts"), 2 * 86_400)
                     .hincrby(k(date, "today"), where, 1).expire(k(date, "today"), 2 * 86_400)
                     .zadd(k("recent"), {f"{now:.6f}|{secrets.token_hex(3)}|{where}|{model}": now})
                     .zremrangebyscore(k("recent"), "-inf", now - 60).execute())

    def _shared(self, fn: Callable[[Any, Callable[..., str]], Any], default: Any = None) -> Any:
        """`fn(redis, key)` through the link (`key(*parts)` names this tracker's keys); `default` without Redis."""
        if self.link is None or not self.link.enabled:
            return default
        link = self.link
        return link.call(lambda r: fn(r, lambda *parts: link.key("quota", *parts)), default)

    def refused(self, where: str, model: str, kind: str, wait_s: float | None = None) -> None:
        """The host answered `model` at `where` with its `kind` ("day" / "minute") limit reached: the meter shows
        that limit as used up until `wait_s` from now (a daily limit without a wait: the end of the UTC day)."""
        if kind not in ("day", "minute"):
            return
        with self._lock:
            now = self._clock()
            if wait_s is None or wait_s <= 0:
                if kind == "minute":
                    wait_s = 60.0
                else:
                    day = _dt.datetime.fromtimestamp(now, _dt.timezone.utc).date() + _dt.timedelta(days=1)
                    wait_s = _dt.datetime.combine(day, _dt.time(), _dt.timezone.utc).timestamp() - now
            until = now + min(float(wait_s), 2 * 86_400.0)
            self._reached[f"{where} · {model}"] = (kind, until)
            for key in [k for k, (_, until) in self._reached.items() if until <= now]:
                del self._reached[key]
        self._shared(lambda r, k: r.pipeline().hset(k("reached"), f"{where} · {model}", f"{kind}|{until}")
                     .expire(k("reached"), 2 * 86_400).execute())

    def observe(self, where: str, headers: dict[str, str]) -> None:
        """Keep any x-ratelimit-remaining-* header a response from `where` carried.

        Only a value that reads like a count or a duration ("48", "1m30s", "12.5") is kept: the sidebar shows it as
        Markdown, and a server's header is untrusted text (an image link in one would make the browser fetch it)."""
        with self._lock:
            self._roll()
            kept: dict[str, str] = {}
            for k, v in headers.items():
                value = str(v).strip()
                if k.lower().startswith("x-ratelimit-remaining") and _RATE_VALUE.fullmatch(value):
                    self._remaining.setdefault(where, {})[k.lower()] = value
                    kept[k.lower()] = value
            date = self._date
        if kept:
            self._shared(lambda r, key: r.pipeline().hset(key(date, "remaining"), mapping={
                f"{where}\n{h}": v for h, v in kept.items()}).expire(key(date, "remaining"), 2 * 86_400).execute())

    def snapshot(self) -> QuotaSnapshot:
        """A copy for display: every process's counts while Redis is shared, else this process's."""
        shared = self._shared(self._read_shared)
        if shared is not None:
            return shared
        with self._lock:
            self._roll()
            now = self._clock()
            minute: dict[str, int] = {}
            per_model: dict[str, int] = {}
            for w, q in self._recent.items():
                while q and now - q[0][0] >= 60:
                    q.popleft()
                for _, model in q:
                    minute[w] = minute.get(w, 0) + 1
                    per_model[f"{w} · {model}"] = per_model.get(f"{w} · {model}", 0) + 1
            return QuotaSnapshot(self._date, dict(self._counts), dict(self._today), minute,
                                 {w: dict(h) for w, h in self._remaining.items()}, per_model,
                                 {k: v for k, v in self._reached.items() if v[1] > now}, now)


    def _read_shared(self, r: Any, k: Callable[..., str]) -> QuotaSnapshot:
        now = self._clock()
        date = _dt.datetime.fromtimestamp(now, _dt.timezone.utc).date().isoformat()
        pipe = r.pipeline()
        pipe.hgetall(k(date, "counts")).hgetall(k(date, "today")).hgetall(k(date, "remaining"))
        pipe.zrangebyscore(k("recent"), now - 60, "+inf").hgetall(k("reached"))
        counts, today, remaining, recent, reached = pipe.execute()

        def text(b: Any) -> str:
            return b.decode() if isinstance(b, bytes) else str(b)

        minute: dict[str, int] = {}
        per_model: dict[str, int] = {}
        for member in recent:
            _, _, where, model = text(member).split("|", 3)
            minute[where] = minute.get(where, 0) + 1
            per_model[f"{where} · {model}"] = per_model.get(f"{where} · {model}", 0) + 1
        headers: dict[str, dict[str, str]] = {}
        for field_, value in remaining.items():
            where, _, header = text(field_).rpartition("\n")
            headers.setdefault(where, {})[header] = text(value)
        limits_reached: dict[str, tuple[str, float]] = {}
        for key, value in reached.items():
            kind, _, until = text(value).partition("|")
            if float(until) > now:
                limits_reached[text(key)] = (kind, float(until))
        return QuotaSnapshot(date, {text(a): int(b) for a, b in counts.items()},
                             {text(a): int(b) for a, b in today.items()}, minute, headers, per_model,
                             limits_reached, now)


QUOTA = QuotaTracker(link=LINK)
"""The request counter of this server process (every session's requests)."""


class SessionMeter:
    """One browser session's requests that reached a host (thread-safe: counted in the worker that sends them).

    `on_change(count)` is called after each one, outside the lock (the page keeps the count with its conversation,
    so "This session" survives a reload); its failure never reaches the request."""

    def __init__(self, count: int = 0, on_change: Callable[[int], Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._count = max(0, int(count))
        self.on_change = on_change

    @property
    def count(self) -> int:
        """Requests sent so far."""
        with self._lock:
            return self._count

    def add(self, n: int = 1) -> None:
        """`n` more requests reached a host."""
        with self._lock:
            self._count += max(0, n)
            count = self._count
        if self.on_change is not None:
            try:
                self.on_change(count)
            except Exception:  # noqa: BLE001 - keeping the count must never break a request
                pass

_SENT_TO: ContextVar[Callable[[], Any] | None] = ContextVar("quota_sent_to", default=None)


def _count_sent(settings: Settings, model: str, admission: Admission | None = None) -> None:
    """The host accepted a request: count it for the server (QUOTA), for its per-minute window, and for the session
    whose `CountedStream` it runs in."""
    QUOTA.count(quota_key(settings), model)
    if admission is not None:
        admission.sent()
    sink = _SENT_TO.get()
    if sink is not None:
        try:
            sink()
        except Exception:  # noqa: BLE001 - a meter must never break a request
            pass


def _limits(settings: Settings, model: str) -> Limits | None:
    p = settings.provider
    return limits_for(p, model) if p is not None else None


def _refused(settings: Settings, model: str, exc: BaseException) -> None:
    """A 429 for a per-minute or daily limit: the meter shows that limit used up, and a per-minute one holds every
    request of this server back for as long as the host asked."""
    kind, wait = refusal_of(exc)
    if kind not in ("minute", "day"):
        return
    where = quota_key(settings)
    QUOTA.refused(where, model, kind, wait)
    limits = _limits(settings, model)
    if kind == "minute" and wait and limits is not None and limits.per_minute:
        RATES.pause(rate_key(where, limits), min(wait, 120.0))


class CountedStream:
    """A model stream (`lib.client.ChatStream`, a cached or rehearsal stream) whose requests that reach the host,
    fallbacks included, are also counted by `on_sent` (a session's own meter), when they are sent: a request
    stopped or refused later still counts. Every other attribute is the stream's own."""

    def __init__(self, stream: Any, on_sent: Callable[[], Any]) -> None:
        self.stream = stream
        self._on_sent = on_sent

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["stream"], name)

    def __iter__(self) -> Iterator[str]:
        previous = _SENT_TO.get()
        _SENT_TO.set(self._on_sent)  # this worker thread's context: the client below counts into it
        try:
            yield from self.stream
        finally:
            _SENT_TO.set(previous)


def counted(opener: Callable[..., Any], on_sent: Callable[[], Any]) -> Callable[..., Any]:
    """`opener` (e.g. `lib.client.stream` or a rehearsal's) whose streams count their sent requests in `on_sent`."""

    def open_stream(*args: Any, **kwargs: Any) -> CountedStream:
        return CountedStream(opener(*args, **kwargs), on_sent)

    return open_stream


# ---------------------------------------------------------------------------------------------------------------
# The client


class _NoKey:
    """Stands in for a credential when a server was given no key: nothing is sent (see `_cached_client`)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:  # pragma: no cover - never called
        raise RuntimeError("no key")


@st.cache_resource(show_spinner=False, max_entries=16)
def _cached_client(endpoint: str, token_fingerprint: str, _token: str | None, timeout_s: float) -> ChatCompletionsClient:
    """One client per endpoint and key fingerprint (the key itself is not hashed into the cache key)."""
    from azure.ai.inference import ChatCompletionsClient
    from azure.core.credentials import AzureKeyCredential
    from azure.core.pipeline.policies import RedirectPolicy, SansIOHTTPPolicy

    auth: dict[str, Any] = (
        {"credential": AzureKeyCredential(_token)} if _token
        # No key for this server: no Authorization and no api-key header at all.
        else {"credential": _NoKey(), "authentication_policy": SansIOHTTPPolicy()}
    )
    return ChatCompletionsClient(
        endpoint=endpoint,
        retry_policy=_short_retry_policy()(timeout=int(timeout_s) + 30),
        # A redirect is never followed: azure-core would resend the request, `api-key` header and all, to wherever
        # the Location points (it drops only Authorization, and only across domains). A key stays with its host.
        redirect_policy=RedirectPolicy.no_redirects(),
        connection_timeout=CONNECT_TIMEOUT_S,
        read_timeout=timeout_s,
        user_agent="llama-herd-studio",
        **auth,
    )


def get_client(settings: Settings) -> ChatCompletionsClient:
    """The shared client for these settings; raises `NoProviderError` / `NoTokenError` when it cannot send."""
    if settings.provider is None or not settings.endpoint:
        raise NoProviderError("no provider or endpoint configured")
    if settings.needs_token:
        raise NoTokenError(f"no key for {settings.label}")
    # By keyword: Streamlit's cache names positional arguments with inspect.signature on every call (a third of a
    # millisecond; a question makes several calls, and a room of a hundred asks at once).
    return _cached_client(endpoint=settings.endpoint, token_fingerprint=settings.token_fingerprint,
                          _token=settings.token, timeout_s=settings.timeout_s)


def quota_key(settings: Settings) -> str:
    """How requests are counted: per provider and endpoint host."""
    from urllib.parse import urlparse

    return f"{settings.label} ({urlparse(settings.endpoint).netloc})"


@dataclass
class Usage:
    """Token counts reported by the server."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass
class ChatReply:
    """A whole (non-streamed) answer; `model` is the model the server says answered."""

    text: str
    usage: Usage | None = None
    finish_reason: str | None = None
    model: str | None = None


def _usage(raw: Any) -> Usage | None:
    """Token counts from the SDK's usage object or a streamed chunk's `usage` JSON."""
    if raw is None:
        return None
    get = raw.get if isinstance(raw, dict) else lambda name: getattr(raw, name, 0)

    def count(name: str) -> int:
        value = get(name)
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0

    return Usage(count("prompt_tokens"), count("completion_tokens"), count("total_tokens"))


def _reason(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _hook_for(settings: Settings) -> Any:
    where = quota_key(settings)

    def hook(response: Any) -> None:
        try:
            QUOTA.observe(where, dict(response.http_response.headers))
        except Exception:  # noqa: BLE001 - observing headers must never break a request
            pass

    return hook


def _params(settings: Settings, model: str, max_tokens: int | None, temperature: float | None,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens or DEFAULT_MAX_TOKENS,
        "raw_response_hook": _hook_for(settings),
        "read_timeout": settings.timeout_s,
    }
    if temperature is not None:
        params["temperature"] = temperature
    if extra:
        params["model_extras"] = dict(extra)
    return params


@contextmanager
def _rate(settings: Settings, model: str) -> Iterator[Admission]:
    """Leave to send one request within the per-minute limit that holds for this model here (see lib.hosts.limits)."""
    limits = _limits(settings, model)
    key = rate_key(quota_key(settings), limits) if limits is not None else ""
    with RATES.admit(key, limits.per_minute if limits is not None else None, DEFAULT_SLOT_TIMEOUT_S) as admission:
        yield admission


@contextmanager
def _slot(settings: Settings, model: str) -> Iterator[Admission]:
    """Room in the per-minute limit, then one of the provider's concurrent slots for this model, shared by every
    session (see lib.hosts.limits); yields the `Admission` to mark sent."""
    p = settings.provider
    with _rate(settings, model) as admission:
        with SLOTS.acquire(slot_key(settings.provider_id, settings.endpoint, model),
                           cap_for(p, model) if p else None, DEFAULT_SLOT_TIMEOUT_S):
            yield admission


def _updates(response: Any) -> Iterator[dict[str, Any]]:
    """The chunks of a streamed chat completion, as the JSON objects the server sent, until `data: [DONE]`.

    `response` is the SDK's `StreamingChatCompletions`, its `_bytes_iterator` already `_sse_lines` (whole `data: `
    lines). The SDK's own iteration turns each chunk into typed models, about 0.2 ms a chunk here: a fifth of the
    server's time per question when a room asks at once (bench/bench_room.py). The fields a stream needs are read
    from the JSON instead; a data line that is not a JSON object raises ValueError, as the SDK does, and the body's
    end closes the response, as the SDK does."""
    for block in response._bytes_iterator:
        for line in block.split(b"\n"):
            if not line.startswith(b"data: "):
                continue
            data = line[6:]
            if data.startswith(b"[DONE]"):
                return
            update = json.loads(data)
            if not isinstance(update, dict):
                raise ValueError(f"not a chat completion chunk: {data[:80]!r}")
            yield update
    response.close()


def _read_to_end(response: Any) -> None:
    """After `data: [DONE]` the SDK stops reading: read the body's last bytes so the connection is reused."""
    try:
        for _ in getattr(response, "_bytes_iterator", ()):
            pass
    except Exception:  # noqa: BLE001 - a connection that cannot be reused is closed instead
        response.close()


def _hang_up(response: Any) -> None:
    """Close a streamed response now, from any thread: the socket is shut down first, so a read blocked in another
    thread returns at once and the server sees the client leave (vLLM and llama.cpp then abort the request)."""
    http = getattr(response, "_response", None)
    raw = getattr(getattr(http, "internal_response", None), "raw", None)
    try:
        if raw is not None and hasattr(raw, "shutdown"):
            raw.shutdown()  # urllib3 >= 2.3: unblocks a recv() in another thread
    except (OSError, ValueError):  # already closed, or released to the pool
        pass
    finally:
        response.close()


def _sse_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A server-sent event stream as the SDK's strict parser reads it: LF line endings, `data:` lines only.

    The SSE standard allows CRLF or CR line endings, comment lines (`: OPENROUTER PROCESSING`, `: keep-alive`) and
    `event:` / `id:` / `retry:` fields; the SDK raises "SSE event not supported" on each. Here comments and other
    fields are dropped, line endings normalised and `data:` without its space accepted, one whole line at a time.
    """
    pending = b""
    for chunk in chunks:
        pending += chunk
        if b"\r" in pending[:-1] or pending.endswith(b"\r\n"):
            pending = pending.replace(b"\r\n", b"\n")
        if b"\r" in pending[:-1]:
            pending = pending[:-1].replace(b"\r", b"\n") + pending[-1:]
        *lines, pending = pending.split(b"\n")
        out = []
        for line in lines:
            if not line:
                out.append(b"\n")
            elif line.startswith(b"data:"):
                out.append(b"data: " + line[5:].lstrip(b" ") + b"\n")
            # else: a comment (":…") or another field (event:, id:, retry:) — nothing the client needs
        if out:
            yield b"".join(out)
    if pending.startswith(b"data:"):
        yield b"data: " + pending[5:].lstrip(b" ") + b"\n"


# ---------------------------------------------------------------------------------------------------------------
# Deadlines. The read timeout resets on every byte, so a server sending `: keep-alive` lines, `data: {"choices":[]}`
# chunks or deltas without content forever would hold a turn open forever: a stream also ends when it has run too
# long in all, or has brought no text for `Settings.timeout_s` while bytes kept arriving.

_TURN_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("turn_deadline", default=None)


def request_deadline_s(settings: Settings) -> float:
    """The most one streamed request may take in all: the settings' own figure, else `REQUEST_DEADLINE_S` (at
    least twice the no-progress limit `settings.timeout_s`)."""
    own = getattr(settings, "request_deadline_s", None)
    return float(own) if own else max(REQUEST_DEADLINE_S, 2 * float(settings.timeout_s or 0))


def turn_deadline_s(settings: Settings) -> float:
    """The most one question may take in all: the settings' own figure, else `TURN_DEADLINE_S` (at least one
    request's deadline)."""
    own = getattr(settings, "turn_deadline_s", None)
    return float(own) if own else max(TURN_DEADLINE_S, request_deadline_s(settings))


def under_deadline(items: Any, until: float, seconds: float) -> Iterator[Any]:
    """The items of `items`, fetched with a turn's deadline in force: a `ChatStream` opened or read while the next
    item is fetched (even several calls deeper: the cache, the rehearsal) ends by `until` (`time.monotonic()`),
    raising `StreamDeadline("turn", seconds)`. The deadline holds only while an item is fetched: never in the
    consumer's code between two items. Closing this generator closes `items`' iterator."""
    it = iter(items)
    try:
        while True:
            token = _TURN_DEADLINE.set((until, seconds))
            try:
                item = next(it)
            except StopIteration:
                return
            finally:
                _TURN_DEADLINE.reset(token)
            yield item
    finally:
        close = getattr(it, "close", None)
        if callable(close):
            close()


class _Deadlines:
    """When a stream must end: at `until` (the request's overall limit, or the turn's when that comes first), or
    `idle_s` after the last text (keep-alives and empty chunks are not text)."""

    def __init__(self, settings: Settings) -> None:
        now = time.monotonic()
        self.idle_s = float(settings.timeout_s or 0)
        self.reason, self.limit_s = "request", request_deadline_s(settings)
        self.until = now + self.limit_s
        turn = _TURN_DEADLINE.get()
        if turn is not None and turn[0] < self.until:
            self.until, self.limit_s, self.reason = turn[0], turn[1], "turn"
        self.last_text = now
        self.got_text = False

    def progress(self) -> None:
        """Text (or a structured tool call) arrived."""
        self.last_text = time.monotonic()
        self.got_text = True

    def check(self) -> None:
        """Raise `StreamDeadline` when a limit has passed."""
        now = time.monotonic()
        if now >= self.until:
            raise StreamDeadline(self.reason, self.limit_s, self.got_text)
        if self.idle_s > 0 and now - self.last_text >= self.idle_s:
            raise StreamDeadline("no_progress", self.idle_s, self.got_text)


def _watched(chunks: Iterator[bytes], check: Callable[[], None]) -> Iterator[bytes]:
    """`chunks` as they arrive, each one (a keep-alive comment too) first checked against the deadlines."""
    for chunk in chunks:
        check()
        yield chunk


def complete(
    settings: Settings,
    model: str,
    messages: Sequence[dict[str, Any]],
    *,
    max_tokens: int | None = None,
    temperature: float | None = None,
    extra: dict[str, Any] | None = None,
) -> ChatReply:
    """One non-streamed chat completion (`extra`: body fields beyond the SDK's, e.g. `chat_template_kwargs`)."""
    with _slot(settings, model) as admission:
        return _complete(settings, model, messages, max_tokens=max_tokens, temperature=temperature, extra=extra,
                         admission=admission)


def _complete(
    settings: Settings,
    model: str,
    messages: Sequence[dict[str, Any]],
    *,
    max_tokens: int | None = None,
    temperature: float | None = None,
    extra: dict[str, Any] | None = None,
    admission: Admission | None = None,
) -> ChatReply:
    client = get_client(settings)
    try:
        result = retry_concurrent(
            lambda: client.complete(messages=list(messages), **_params(settings, model, max_tokens, temperature,
                                                                       extra)))
    except Exception as exc:
        _refused(settings, model, exc)
        raise
    _count_sent(settings, model, admission)  # only requests the server accepted
    choice = result.choices[0] if result.choices else None
    text = (choice.message.content or "") if choice and choice.message else ""
    return ChatReply(text=text, usage=_usage(result.usage), finish_reason=_reason(choice.finish_reason) if choice else None,
                     model=getattr(result, "model", None) or None)


class ChatStream:
    """Iterate for text pieces (e.g. `st.write_stream(stream)`); afterwards read `.text`, `.usage`, `.streamed`,
    `.finish_reason` ("stop", or "length" when the answer was cut at `max_tokens`) and `.served_model` (the model
    the server says answered).

    `close()` hangs up at once, from any thread: the server stops generating and the concurrency slot is free. Inside
    a `lib.common.ticking` worker this happens by itself when the page stops the worker (Stop, or any other click).
    If the server's stream cannot be parsed even after `_sse_lines`, one non-streamed call is made instead and its
    text yielded (only the part not yet shown, when it continues what was shown); the endpoint then gets
    non-streamed calls for `NO_STREAMING_S`. Exceptions from the network or server propagate; `.text` keeps what
    arrived before them.

    Deadlines (checked on every chunk that arrives, keep-alive comments and empty chunks included): no text for
    `settings.timeout_s` while bytes keep arriving, or `request_deadline_s(settings)` in all, or the turn's deadline
    (`under_deadline`) when that comes first, raises `lib.hosts.errors.StreamDeadline` and hangs up like `close()`.
    """

    def __init__(
        self,
        settings: Settings,
        model: str,
        messages: Sequence[dict[str, Any]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.model = model
        self.messages = list(messages)
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.extra = dict(extra or {})
        self.text = ""
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.served_model: str | None = None
        self.streamed = True
        self.done = False
        self.closed = False
        self.sent = False  # the server accepted the request (it counts against the quota)
        self._admission: Admission | None = None  # its place in the per-minute window, while it is read
        self._response: Any = None
        self._lock = threading.Lock()

    def close(self) -> None:
        """Hang up now (idempotent; safe from another thread)."""
        with self._lock:
            self.closed = True
            response, self._response = self._response, None
        if response is not None:
            _hang_up(response)

    def _fallback(self) -> Iterator[str]:
        self.streamed = False
        admission = self._admission
        if admission is None or admission.stamped:  # the streamed request went out: this is one more
            with _rate(self.settings, self.model) as again:
                reply = _complete(self.settings, self.model, self.messages, max_tokens=self.max_tokens,
                                  temperature=self.temperature, extra=self.extra, admission=again)
        else:
            reply = _complete(self.settings, self.model, self.messages, max_tokens=self.max_tokens,
                              temperature=self.temperature, extra=self.extra, admission=admission)
        self.sent = True
        self.usage, self.finish_reason, self.served_model = reply.usage, reply.finish_reason, reply.model
        rest = reply.text[len(self.text):] if reply.text.startswith(self.text) else reply.text
        if not reply.text.startswith(self.text):
            self.text = ""
        if rest:
            self.text += rest
            yield rest
        self.done = True

    def __iter__(self) -> Iterator[str]:
        scope = current_scope()
        if scope is not None:
            scope.add(self.close)
        try:
            # Held until the answer is read, closed, or Stop gives it back.
            with _slot(self.settings, self.model) as self._admission:
                yield from self._iter()
        finally:
            if not self.done:
                self.close()  # abandoned (the consumer stopped reading): hang up rather than let it generate on
            if scope is not None:
                scope.discard(self.close)

    def _iter(self) -> Iterator[str]:
        deadlines = _Deadlines(self.settings)
        deadlines.check()  # the turn's time is already up: nothing is sent
        if recall(self.settings.endpoint, "no_streaming", False):
            yield from self._fallback()
            return
        client = get_client(self.settings)
        params = _params(self.settings, self.model, self.max_tokens, self.temperature,
                         {**self.extra, "stream_options": {"include_usage": True}})
        try:
            try:
                response = retry_concurrent(lambda: client.complete(messages=self.messages, stream=True, **params))
            except Exception as exc:
                _refused(self.settings, self.model, exc)  # a per-minute or daily 429: the meter shows it
                raise
            self.sent = True
            _count_sent(self.settings, self.model, self._admission)  # only requests the server accepted
            # Every chunk, keep-alives included, is checked against the deadlines: past one, StreamDeadline is raised
            # here and `__iter__` hangs up (the server stops generating); nothing incomplete is kept by a cache.
            response._bytes_iterator = _sse_lines(_watched(response._bytes_iterator, deadlines.check))
            with self._lock:
                if self.closed:  # stopped while the request was on its way
                    _hang_up(response)
                    raise Cancelled("stopped")
                self._response = response
            for update in _updates(response):
                if update.get("usage"):
                    self.usage = _usage(update["usage"])
                model = update.get("model")
                self.served_model = model if isinstance(model, str) and model else self.served_model
                for choice in update.get("choices") or ():
                    delta = choice.get("delta") if isinstance(choice, dict) else None
                    delta = delta if isinstance(delta, dict) else {}
                    piece = delta.get("content")
                    piece = piece if isinstance(piece, str) else None
                    if piece or delta.get("tool_calls"):
                        deadlines.progress()
                    if isinstance(choice, dict) and choice.get("finish_reason"):
                        self.finish_reason = _reason(choice["finish_reason"])
                    if piece:
                        self.text += piece
                        yield piece
            _read_to_end(response)
        except ValueError:  # the SDK's "SSE event not supported", or a data line that is not JSON
            if self.closed:
                raise
            remember(self.settings.endpoint, "no_streaming", True, ttl_s=NO_STREAMING_S)
            yield from self._fallback()
            return
        with self._lock:
            self._response = None
        self.done = True


def stream(
    settings: Settings,
    model: str,
    messages: Sequence[dict[str, Any]],
    *,
    max_tokens: int | None = None,
    temperature: float | None = None,
    extra: dict[str, Any] | None = None,
) -> ChatStream:
    """A `ChatStream` for these messages (nothing is sent until it is iterated)."""
    return ChatStream(settings, model, messages, max_tokens=max_tokens, temperature=temperature, extra=extra)


@st.cache_resource(ttl=600, show_spinner=False, max_entries=16)
def _cached_models(url: str, token_fingerprint: str, _token: str | None) -> CatalogResult:
    """One listing per URL and key fingerprint for 10 minutes, shared as it is (a frozen `CatalogResult`: nothing
    can change it, so no copy is made on every use as `st.cache_data` would)."""
    return fetch_models(url, _token)


def get_models(settings: Settings) -> CatalogResult | None:
    """The provider's model listing for these settings (cached 10 minutes), or None when it has none."""
    url = settings.models_url
    if not url:
        return None
    return _cached_models(url=url, token_fingerprint=settings.token_fingerprint, _token=settings.token)


def server_of(settings: Settings, model: str | None) -> str:
    """"vllm" / "llamacpp" when this endpoint's listing says that server software serves `model` ("" otherwise).

    Both render Meta's Llama chat template themselves and offer `/tokenize`."""
    listing = get_models(settings) if model else None
    info = listing.find(model) if listing is not None and listing.available and model else None
    return info.server if info is not None else ""


def _root(endpoint: str) -> str:
    """The server's root: `http://host:8000/v1` → `http://host:8000` (vLLM and llama.cpp serve /tokenize there)."""
    base = endpoint.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def _post_json(settings: Settings, path: str, body: dict[str, Any], timeout_s: float = 5.0) -> Any:
    """POST to the endpoint's own server (same host, the same key, no redirect followed); None on any failure."""
    import urllib.request

    headers = {"Content-Type": "application/json", "User-Agent": "llama-herd-studio"}
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token}"
    request = urllib.request.Request(_root(settings.endpoint) + path, json.dumps(body).encode(), headers)
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            return json.loads(response.read())
    except Exception:  # noqa: BLE001 - a count or a rendering is a bonus: without it the estimate is used
        return None


def token_counter(settings: Settings, model: str | None
                  ) -> Callable[[Sequence[dict[str, Any]], dict[str, Any] | None], int] | None:
    """`count(messages, extra)`: a request's input tokens by the server's own tokenizer and chat template (vLLM's
    `/tokenize`, llama.cpp's `/apply-template` + `/tokenize`; `extra` as sent, e.g. `chat_template_kwargs`), or
    None where the server has no such route. A count that fails falls back to `lib.hosts.budget.estimate_tokens`."""
    kind = server_of(settings, model)
    if not kind or not model:
        return None

    def count(messages: Sequence[dict[str, Any]], extra: dict[str, Any] | None = None) -> int:
        if kind == "vllm":
            body = {"model": model, "messages": list(messages), "add_generation_prompt": True, **(extra or {})}
            answer = _post_json(settings, "/tokenize", body)
            if isinstance(answer, dict) and isinstance(answer.get("count"), int):
                return int(answer["count"])
        else:
            prompt = rendered_prompt(settings, model, messages, extra)
            answer = _post_json(settings, "/tokenize", {"content": prompt}) if prompt is not None else None
            if isinstance(answer, dict) and isinstance(answer.get("tokens"), list):
                return len(answer["tokens"])
        return estimate_tokens(messages)

    return count


def rendered_prompt(settings: Settings, model: str, messages: Sequence[dict[str, Any]],
                    extra: dict[str, Any] | None = None) -> str | None:
    """The prompt exactly as the server renders it from these messages with its chat template (vLLM: `/tokenize`
    then `/detokenize`; llama.cpp: `/apply-template`), or None where the server cannot tell."""
    kind = server_of(settings, model)
    if kind == "vllm":
        body = {"model": model, "messages": list(messages), "add_generation_prompt": True, **(extra or {})}
        tokens = _post_json(settings, "/tokenize", body)
        if isinstance(tokens, dict) and isinstance(tokens.get("tokens"), list):
            text = _post_json(settings, "/detokenize", {"model": model, "tokens": tokens["tokens"]})
            if isinstance(text, dict) and isinstance(text.get("prompt"), str):
                return text["prompt"]
    elif kind == "llamacpp":
        answer = _post_json(settings, "/apply-template", {"messages": list(messages), **(extra or {})})
        if isinstance(answer, dict) and isinstance(answer.get("prompt"), str):
            return answer["prompt"]
    return None


def clear_models_cache() -> None:
    """List the models again on next use ("Test connection")."""
    _cached_models.clear()
