"""Conversations that survive a browser reload: a bounded, in-memory, thread-safe store, bound to the browser.

A reload starts a new Streamlit session, so the page keeps a session id in the URL (`?s=…`) and saves its
conversation here under it. The address alone opens nothing: an id made for a browser (`new_id(secret)`) carries a
tag derived from a secret only that browser holds (a cookie), and `owned_by(sid, secret)` checks it, so an address
pasted into the workshop chat, or a link with an id chosen by someone else, opens a fresh page elsewhere. A
conversation is shown to others only through `share()`: a separate, read-only token that `unshare()` revokes.

Ids come from URLs, so they are untrusted: they must match `ID_PATTERN` and are only ever dictionary keys, never file
paths. Values are kept as UTF-8 JSON bytes (every `load()` returns a fresh copy; no two sessions share an object) and
an optional binary blob (a prepared photo, kept once, not as base64 text). Memory is counted honestly (the bytes kept
plus a fixed overhead per entry) and bounded three ways: per session, per client (one client filling the store evicts
its own oldest sessions, never everyone else's), and in total. Ids made by another server process (`BOOT`) tell a
page that the server restarted since, so it can say its conversation could not be restored.

With `REDIS_URL` (`lib.common.shared_state.LINK`) every process keeps conversations in Redis instead, with the same
bounds: a reload that lands on another process, or comes after a restart, finds its conversation, and ids carry the
deployment's boot id (kept in Redis) rather than the process's. While Redis is unreachable the store keeps what this
process saves in its own memory, as without Redis.

Example::

    secret = cookie or STORE.new_secret()
    sid = query_sid if owned_by(query_sid, secret) else STORE.new_id(secret)
    STORE.save(sid, "vision", {"turns": turns}, client=ip, blob=photo_bytes)
    STORE.load(sid, "vision"), STORE.load_blob(sid, "vision")
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets as _secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

from lib.common.shared_state import LINK, SharedLink

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
KEY_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{32,64}")
ENTRY_OVERHEAD_BYTES = 512  # Python objects around each kept value: counted, so the totals are honest
BOOT = _secrets.token_urlsafe(6)[:8]
"""This server process: the first 8 characters of every browser-bound id it makes."""
SWEEP_S = 30.0
"""How often the in-process store walks every session for expired entries (a loaded entry is always checked)."""
_NONCE = 16
_TAG = 16


def is_valid_id(session_id: object) -> bool:
    """True for an id `new_id()` could have made (url-safe, 16–64 characters).

    >>> is_valid_id("../../etc/passwd"), is_valid_id(SessionStore.new_id())
    (False, True)
    """
    return isinstance(session_id, str) and ID_PATTERN.fullmatch(session_id) is not None


def is_valid_secret(secret: object) -> bool:
    """True for a browser secret `new_secret()` could have made."""
    return isinstance(secret, str) and SECRET_PATTERN.fullmatch(secret) is not None


def _tag(secret: str, head: str) -> str:
    digest = hmac.new(secret.encode(), head.encode(), hashlib.sha256).hexdigest()
    return digest[:_TAG]


def owned_by(session_id: object, secret: object) -> bool:
    """True when `session_id` was made by `new_id(secret)` (in this or an earlier server process).

    >>> s = SessionStore.new_secret(); sid = SessionStore.new_id(s)
    >>> owned_by(sid, s), owned_by(sid, SessionStore.new_secret()), owned_by(sid, None)
    (True, False, False)
    """
    if not is_valid_id(session_id) or not is_valid_secret(secret):
        return False
    sid = str(session_id)
    if len(sid) != len(BOOT) + _NONCE + _TAG:
        return False
    head, tag = sid[:-_TAG], sid[-_TAG:]
    return hmac.compare_digest(tag, _tag(str(secret), head))


def boot() -> str:
    """The prefix of the ids made now: this process's `BOOT`, or the deployment's while Redis is shared."""
    return LINK.boot_id(BOOT) if LINK.enabled else BOOT


def made_before_restart(session_id: str) -> bool:
    """True for a browser-bound id made by an earlier process of this server (it restarted since)."""
    return (is_valid_id(session_id) and len(session_id) == len(BOOT) + _NONCE + _TAG
            and not session_id.startswith(boot()))


def owner_of(secret: str) -> str:
    """A short, non-reversible name for a browser secret (what the store keeps instead of the secret)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


@dataclass
class _Session:
    used: float
    client: str
    entries: dict[str, tuple[float, bytes, bytes | None]] = field(default_factory=dict)  # key -> (saved, json, blob)
    bytes: int = 0  # what its entries cost (`_cost`), kept up to date by the store (a save never walks them)


def _cost(entry: tuple[float, bytes, bytes | None] | None) -> int:
    """What one entry counts against the bounds: its JSON, its blob and the fixed overhead (0 for no entry)."""
    return 0 if entry is None else len(entry[1]) + len(entry[2] or b"") + ENTRY_OVERHEAD_BYTES

_MISSING: Any = object()

_DROP_FN = """
local ALL, OWNER, BYTES, TOTAL = S .. 'all', S .. 'owner', S .. 'bytes', S .. 'total'

local function drop(s)
  local hk = S .. s
  for _, f in ipairs(redis.call('HKEYS', hk)) do
    if string.sub(f, 1, 3) == 'sh:' then
      local token = redis.call('HGET', hk, f)
      if token then redis.call('DEL', SHARE .. token) end
    end
  end
  redis.call('DEL', hk)
  redis.call('ZREM', ALL, s)
  local owner = redis.call('HGET', OWNER, s)
  if owner then redis.call('ZREM', S .. 'client:' .. owner, s) end
  redis.call('HDEL', OWNER, s)
  local size = tonumber(redis.call('HGET', BYTES, s)) or 0
  redis.call('HDEL', BYTES, s)
  redis.call('DECRBY', TOTAL, size)
end
"""
"""One session gone from Redis: its hash, share tokens, indexes and counted bytes (needs `S` and `SHARE`, the key
prefixes)."""

_DROP = """
local S, SHARE = ARGV[2], ARGV[3]
""" + _DROP_FN + """
drop(ARGV[1])
return 1
"""

_SAVE = """
local sid, key, data, blob, has_blob, client, now_s = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local now, max_age_ms = tonumber(ARGV[7]), tonumber(ARGV[8])
local per_session, per_client, per_client_bytes = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local max_sessions, max_total, overhead = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
local S, SHARE = ARGV[15], ARGV[16]
""" + _DROP_FN + """
for _, s in ipairs(redis.call('ZRANGEBYSCORE', ALL, '-inf', now - max_age_ms / 1000, 'LIMIT', 0, 50)) do drop(s) end

local hk = S .. sid
local old = redis.call('HMGET', hk, 'size', 'n:' .. key, 'c')
if old[3] then client = old[3] end
local old_size = tonumber(old[1]) or 0
local entry = #data + #blob + overhead
local size = entry + old_size - (tonumber(old[2]) or 0)
if size > per_session then return 0 end

redis.call('HSET', hk, 'v:' .. key, data, 't:' .. key, now_s, 'n:' .. key, entry, 'size', size, 'c', client)
if has_blob == '1' then redis.call('HSET', hk, 'b:' .. key, blob) else redis.call('HDEL', hk, 'b:' .. key) end
redis.call('PEXPIRE', hk, max_age_ms)
local mine_key = S .. 'client:' .. client
redis.call('ZADD', ALL, now_s, sid)
redis.call('ZADD', mine_key, now_s, sid)
redis.call('PEXPIRE', mine_key, max_age_ms)
redis.call('HSET', OWNER, sid, client)
redis.call('HSET', BYTES, sid, size)
redis.call('INCRBY', TOTAL, size - old_size)

-- the client's own oldest first, then everyone's oldest: never the session just saved
local mine = redis.call('ZRANGE', mine_key, 0, -1)
local count, bytes = #mine, 0
for _, s in ipairs(mine) do bytes = bytes + (tonumber(redis.call('HGET', BYTES, s)) or 0) end
for _, s in ipairs(mine) do
  if count <= per_client and bytes <= per_client_bytes then break end
  if s ~= sid then
    bytes = bytes - (tonumber(redis.call('HGET', BYTES, s)) or 0)
    count = count - 1
    drop(s)
  end
end
while redis.call('ZCARD', ALL) > max_sessions or (tonumber(redis.call('GET', TOTAL)) or 0) > max_total do
  local oldest = redis.call('ZRANGE', ALL, 0, 1)
  local victim = oldest[1]
  if victim == sid then victim = oldest[2] end
  if not victim then break end
  drop(victim)
end
return 1
"""
"""`_RedisSessions.save` in one step: expire (at most 50 at a time), check the session's bound, write, then evict as
the in-process store does. Keys are built from the prefixes given (`ARGV[15]`, `ARGV[16]`): a standalone Redis."""


class _RedisSessions:
    """The store's twin in Redis: one hash per session (`v:key` JSON, `b:key` blob, `t:key` saved, `n:key` size,
    `sh:key` share token), an index of sessions by last use (all, and per client), their sizes and the total, and
    one key per share token. Every method takes the Redis client; the same bounds as the store's."""

    def __init__(self, store: "SessionStore", link: SharedLink) -> None:
        self.store, self.link = store, link
        self._scripts: dict[str, Any] = {}  # registered Lua scripts by name

    def _k(self, *parts: str) -> str:
        return self.link.key("s", *parts)

    def _script(self, r: Any, name: str, text: str) -> Any:
        """A registered Lua script (redis-py sends its SHA, the text only once)."""
        if name not in self._scripts:
            self._scripts[name] = r.register_script(text)
        return self._scripts[name]

    def _drop(self, r: Any, sid: str) -> None:
        self._script(r, "drop", _DROP)(keys=[], args=[sid, self._k(""), self.link.key("share", "")], client=r)

    def save(self, r: Any, sid: str, key: str, data: bytes, blob: bytes | None, client: str) -> bool:
        """One round trip, atomic across processes (`_SAVE`); False when the session would exceed its bound (then the
        older value under `key` is dropped, so a reload never shows an outdated conversation)."""
        store = self.store
        kept = self._script(r, "save", _SAVE)(keys=[], args=[
            sid, key, data, blob or b"", 0 if blob is None else 1, client, repr(time.time()),
            int(store.max_age_s * 1000), store.max_bytes_per_session, store.max_sessions_per_client,
            store.max_bytes_per_client, store.max_sessions, store.max_total_bytes, ENTRY_OVERHEAD_BYTES,
            self._k(""), self.link.key("share", "")], client=r)
        if not kept:
            self.delete(r, sid, key)
        return bool(kept)

    def _held(self, r: Any, sid: Any, key: Any, blob: bool = False) -> tuple[bytes, bytes | None] | None:
        if not is_valid_id(sid) or not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            return None
        hk = self._k(sid)
        data, saved, kept = r.hmget(hk, f"v:{key}", f"t:{key}", f"b:{key}" if blob else "-")
        now = time.time()
        if data is None or saved is None or now - float(saved) > self.store.max_age_s:
            return None
        pipe = r.pipeline()
        pipe.pexpire(hk, int(self.store.max_age_s * 1000))
        pipe.zadd(self._k("all"), {sid: now}, xx=True)
        pipe.execute()
        return data, (kept if blob else None)

    def load(self, r: Any, sid: str, key: str) -> dict[str, Any] | None:
        held = self._held(r, sid, key)
        return None if held is None else json.loads(held[0])

    def load_blob(self, r: Any, sid: str, key: str) -> bytes | None:
        held = self._held(r, sid, key, blob=True)
        return None if held is None else held[1]

    def knows(self, r: Any, sid: str) -> bool:
        return is_valid_id(sid) and bool(r.exists(self._k(sid)))

    def share(self, r: Any, sid: str, key: str) -> str | None:
        if self._held(r, sid, key) is None:
            return None
        token = self.share_token(r, sid, key) or _secrets.token_urlsafe(18)
        ttl = int(self.store.max_age_s * 1000)
        r.pipeline().set(self.link.key("share", token), f"{sid} {key}", px=ttl).hset(
            self._k(sid), f"sh:{key}", token).execute()
        return token

    def share_token(self, r: Any, sid: str, key: str) -> str | None:
        if not is_valid_id(sid):
            return None
        token = r.hget(self._k(sid), f"sh:{key}")
        if token is None or not r.exists(self.link.key("share", token.decode())):
            return None
        return token.decode()

    def shared(self, r: Any, token: str) -> tuple[dict[str, Any], bytes | None] | None:
        where = r.get(self.link.key("share", token))
        if where is None:
            return None
        sid, _, key = where.decode().partition(" ")
        held = self._held(r, sid, key, blob=True)
        return None if held is None else (json.loads(held[0]), held[1])

    def unshare(self, r: Any, sid: str, key: str | None) -> None:
        if not is_valid_id(sid):
            return
        hk = self._k(sid)
        fields = [f for f in (x.decode() for x in r.hkeys(hk)) if f.startswith("sh:") and key in (None, f[3:])]
        tokens = [t.decode() for t in r.hmget(hk, fields) if t] if fields else []
        pipe = r.pipeline()
        if tokens:
            pipe.delete(*[self.link.key("share", token) for token in tokens])
        if fields:
            pipe.hdel(hk, *fields)
        pipe.execute()

    def delete(self, r: Any, sid: str, key: str | None) -> None:
        if not is_valid_id(sid):
            return
        if key is None:
            self._drop(r, sid)
            return
        self.unshare(r, sid, key)
        hk = self._k(sid)
        entry = int(r.hget(hk, f"n:{key}") or 0)
        r.pipeline().hdel(hk, f"v:{key}", f"b:{key}", f"t:{key}", f"n:{key}").hincrby(hk, "size", -entry).hincrby(
            self._k("bytes"), sid, -entry).decrby(self._k("total"), entry).execute()
        if not any(f.startswith(b"v:") for f in r.hkeys(hk)):
            self._drop(r, sid)

    def clear(self, r: Any) -> None:
        keys = list(r.scan_iter(match=self._k("*"), count=500)) + list(
            r.scan_iter(match=self.link.key("share", "*"), count=500))
        if keys:
            r.delete(*keys)


class SessionStore:
    """Per-session JSON values (and one blob each), bounded per session, per client and in total; entries expire
    after `max_age_s`; beyond a bound the least recently used session goes (the client's own, first).

    >>> store = SessionStore()
    >>> sid = store.new_id()
    >>> store.save(sid, "tools", {"turns": [{"question": "Hi"}]})
    True
    >>> store.load(sid, "tools")
    {'turns': [{'question': 'Hi'}]}
    """

    def __init__(
        self,
        max_sessions: int = 2000,
        max_bytes_per_session: int = 4_000_000,
        max_age_s: float = 6 * 3600,
        *,
        max_sessions_per_client: int = 40,
        max_bytes_per_client: int = 40_000_000,
        max_total_bytes: int = 256_000_000,
        clock: Callable[[], float] = time.monotonic,
        link: SharedLink | None = None,
    ) -> None:
        bounds = (max_sessions, max_bytes_per_session, max_age_s, max_sessions_per_client, max_bytes_per_client,
                  max_total_bytes)
        if any(b <= 0 for b in bounds):
            raise ValueError("every bound of the session store must be positive")
        self.max_sessions = max_sessions
        self.max_bytes_per_session = max_bytes_per_session
        self.max_age_s = max_age_s
        self.max_sessions_per_client = max_sessions_per_client
        self.max_bytes_per_client = max_bytes_per_client
        self.max_total_bytes = max_total_bytes
        self._per_visitor = (max_sessions_per_client, max_bytes_per_client)
        self._swept = float("-inf")  # when `_expire` last walked every session
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, _Session] = OrderedDict()  # least recently used first
        self._total = 0  # bytes of every session kept (the sum of their `bytes`)
        self._clients: dict[str, list[int]] = {}  # client -> [sessions, bytes] kept for it
        self._shares: dict[str, tuple[str, str]] = {}  # token -> (session id, key)
        self._redis = _RedisSessions(self, link) if link is not None else None

    def visitors_per_address(self, visitors: int) -> None:
        """Let this many visitors share one client address (a room behind one NAT): the per-client bounds become
        `visitors` times those given at construction, still within the totals.

        >>> store = SessionStore(max_sessions_per_client=40); store.visitors_per_address(300)
        >>> store.max_sessions_per_client, store.max_sessions
        (2000, 2000)
        """
        if not isinstance(visitors, int) or visitors < 1:
            raise ValueError("visitors per address is a whole number, 1 or more")
        sessions, size = self._per_visitor
        with self._lock:
            self.max_sessions_per_client = min(sessions * visitors, self.max_sessions)
            self.max_bytes_per_client = min(size * visitors, self.max_total_bytes)

    def _shared(self, method: str, *args: Any) -> Any:
        """The Redis twin's answer, or _MISSING when Redis is off or unreachable (then this process's memory)."""
        if self._redis is None or not self._redis.link.enabled:
            return _MISSING
        twin = getattr(self._redis, method)
        return self._redis.link.call(lambda r: twin(r, *args), _MISSING)

    @staticmethod
    def new_id(secret: str | None = None) -> str:
        """A fresh url-safe random id; with a browser `secret`, bound to it (see `owned_by`) and to this process."""
        if secret is None:
            return _secrets.token_urlsafe(16)
        if not is_valid_secret(secret):
            raise ValueError("not a browser secret")
        head = boot()[: len(BOOT)].ljust(len(BOOT), "0") + _secrets.token_urlsafe(12)[:_NONCE]
        return head + _tag(secret, head)

    @staticmethod
    def new_secret() -> str:
        """A fresh browser secret (43 url-safe characters, 256 bits), kept by the browser in a cookie."""
        return _secrets.token_urlsafe(32)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def bytes_used(self) -> int:
        """What every kept value, blob and entry costs, in bytes."""
        with self._lock:
            return self._total

    def _expire(self, now: float) -> None:
        """Drop entries older than `max_age_s`: a sweep over every session at most every `SWEEP_S` seconds (a save
        or load in a room of thousands does not walk them all); `_held` checks the entry it returns itself."""
        if now - self._swept < SWEEP_S:
            return
        self._swept = now
        for sid in list(self._sessions):
            session = self._sessions[sid]
            for key in [k for k, (saved, _, _) in session.entries.items() if now - saved > self.max_age_s]:
                self._put(session, key, None)
            if not session.entries:
                self._drop(sid)

    def _put(self, session: _Session, key: str, entry: tuple[float, bytes, bytes | None] | None) -> None:
        """Set (or, with None, remove) one entry of a kept session, keeping the byte counts in step."""
        delta = _cost(entry) - _cost(session.entries.get(key))
        if entry is None:
            session.entries.pop(key, None)
        else:
            session.entries[key] = entry
        session.bytes += delta
        self._total += delta
        self._clients[session.client][1] += delta

    def _keep(self, sid: str, session: _Session) -> None:
        """Keep a new, empty session as the most recently used."""
        self._sessions[sid] = session
        self._clients.setdefault(session.client, [0, 0])[0] += 1

    def _drop(self, sid: str) -> None:
        session = self._sessions.pop(sid, None)
        if session is not None:
            self._total -= session.bytes
            counts = self._clients[session.client]
            counts[0] -= 1
            counts[1] -= session.bytes
            if not counts[0]:
                del self._clients[session.client]
        for token in [t for t, (s, _) in self._shares.items() if s == sid]:
            del self._shares[token]

    def _evict(self, keep: str, client: str) -> None:
        """Enforce the per-client bounds (the client's own oldest first), then the totals (oldest first)."""
        def oldest(pred: Callable[[str, _Session], bool]) -> str | None:
            return next((sid for sid, s in self._sessions.items() if sid != keep and pred(sid, s)), None)

        mine = self._clients.get(client, [0, 0])  # kept up to date by `_drop`
        while mine[0] > self.max_sessions_per_client or mine[1] > self.max_bytes_per_client:
            victim = oldest(lambda _sid, s: s.client == client)
            if victim is None:
                break
            self._drop(victim)
        while len(self._sessions) > self.max_sessions or self._total > self.max_total_bytes:
            victim = oldest(lambda _sid, _s: True)
            if victim is None:
                break
            self._drop(victim)

    def save(self, session_id: str, key: str, value: dict[str, Any], *, client: str = "",
             blob: bytes | None = None) -> bool:
        """Keep `value` (a JSON-able dict) and an optional `blob` for this session; `client` names who saved it (a
        browser's owner name or address) for the per-client bounds. False (and nothing kept) for a bad id or key, or
        when the session would exceed `max_bytes_per_session` — then any older value under `key` is dropped too, so
        `load()` never returns an outdated conversation.

        Raises TypeError/ValueError for a value that is not a JSON-able dict (a programming error).
        """
        if not isinstance(value, dict):
            raise TypeError(f"SessionStore.save() needs a dict, not {type(value).__name__}")
        if blob is not None and not isinstance(blob, (bytes, bytearray)):
            raise TypeError("a blob is bytes")
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        if not is_valid_id(session_id) or not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            return False
        data = text.encode("utf-8", "surrogatepass")
        kept = None if blob is None else bytes(blob)
        shared = self._shared("save", session_id, key, data, kept, str(client)[:128])
        if shared is not _MISSING:
            return shared
        with self._lock:
            now = self._clock()
            self._expire(now)
            session = self._sessions.get(session_id)
            if session is None:
                session = _Session(now, str(client)[:128])
                self._keep(session_id, session)
            else:
                self._sessions.move_to_end(session_id)
            session.used = now
            entry = (now, data, kept)
            if session.bytes - _cost(session.entries.get(key)) + _cost(entry) > self.max_bytes_per_session:
                self._put(session, key, None)
                if not session.entries:
                    self._drop(session_id)
                return False
            self._put(session, key, entry)
            self._evict(session_id, session.client)
            return True

    def _held(self, session_id: Any, key: Any) -> tuple[float, bytes, bytes | None] | None:
        if not is_valid_id(session_id) or not isinstance(key, str):
            return None
        now = self._clock()
        self._expire(now)
        session = self._sessions.get(session_id)
        if session is None or key not in session.entries or now - session.entries[key][0] > self.max_age_s:
            return None
        session.used = now
        self._sessions.move_to_end(session_id)
        return session.entries[key]

    def load(self, session_id: str, key: str) -> dict[str, Any] | None:
        """A fresh copy of what was saved, or None (unknown or invalid id, unknown key, or older than max_age_s)."""
        shared = self._shared("load", session_id, key)
        if shared is not _MISSING:
            return shared
        with self._lock:
            held = self._held(session_id, key)
        return None if held is None else json.loads(held[1])

    def load_blob(self, session_id: str, key: str) -> bytes | None:
        """The blob saved with the value, or None."""
        shared = self._shared("load_blob", session_id, key)
        if shared is not _MISSING:
            return shared
        with self._lock:
            held = self._held(session_id, key)
        return None if held is None else held[2]

    def knows(self, session_id: str) -> bool:
        """True while anything is kept for this session."""
        shared = self._shared("knows", session_id)
        if shared is not _MISSING:
            return shared
        with self._lock:
            return isinstance(session_id, str) and session_id in self._sessions

    def share(self, session_id: str, key: str) -> str | None:
        """A read-only token for this session's `key` (the same one while it lasts); None if nothing is saved."""
        shared = self._shared("share", session_id, key)
        if shared is not _MISSING:
            return shared
        with self._lock:
            if self._held(session_id, key) is None:
                return None
            for token, (sid, k) in self._shares.items():
                if sid == session_id and k == key:
                    return token
            token = _secrets.token_urlsafe(18)
            self._shares[token] = (session_id, key)
            return token

    def share_token(self, session_id: str, key: str) -> str | None:
        """The live share token of this session's `key`, if it is shared."""
        shared = self._shared("share_token", session_id, key)
        if shared is not _MISSING:
            return shared
        with self._lock:
            return next((t for t, (s, k) in self._shares.items() if s == session_id and k == key), None)

    def shared(self, token: object) -> tuple[dict[str, Any], bytes | None] | None:
        """What a share token shows right now (value and blob), or None once revoked, expired or unknown."""
        if not isinstance(token, str) or not ID_PATTERN.fullmatch(token):
            return None
        shared = self._shared("shared", token)
        if shared is not _MISSING:
            return shared
        with self._lock:
            where = self._shares.get(token)
            held = None if where is None else self._held(*where)
        return None if held is None else (json.loads(held[1]), held[2])

    def unshare(self, session_id: str, key: str | None = None) -> None:
        """Revoke this session's share links (of one `key`, or all)."""
        self._shared("unshare", session_id, key)
        with self._lock:
            for token in [t for t, (s, k) in self._shares.items() if s == session_id and key in (None, k)]:
                del self._shares[token]

    def delete(self, session_id: str, key: str | None = None) -> None:
        """Forget one value, or the whole session when `key` is None (its share links go with it)."""
        self._shared("delete", session_id, key)
        with self._lock:
            session = self._sessions.get(session_id) if isinstance(session_id, str) else None
            if session is None:
                return
            if key is None:
                self._drop(session_id)
            else:
                self._put(session, key, None)
                for token in [t for t, (s, k) in self._shares.items() if s == session_id and k == key]:
                    del self._shares[token]
                if not session.entries:
                    self._drop(session_id)

    def clear(self) -> None:
        """Forget everything (tests; with Redis, this app's sessions there too)."""
        self._shared("clear")
        with self._lock:
            self._sessions.clear()
            self._shares.clear()
            self._total = 0
            self._clients.clear()


STORE = SessionStore(link=LINK)
"""Shared by every session of this server process (on purpose: a reload is a new session)."""
