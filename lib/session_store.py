"""Conversations that survive a browser reload: a bounded, in-memory, thread-safe store keyed by a random id.

A reload starts a new Streamlit session, so the page keeps a random session id in the URL (`st.query_params`) and
saves its conversation here under it. Values are stored as JSON text, so every `load()` returns a fresh copy and no
two sessions ever share a mutable object. Ids come from URLs, so they are untrusted: they must match `ID_PATTERN`
and are only ever dictionary keys, never file paths. Memory is bounded by `max_sessions` × `max_bytes_per_session`.

Example::

    sid = st.query_params.get("s")
    if not is_valid_id(sid):
        sid = STORE.new_id(); st.query_params["s"] = sid
    ss.setdefault("vision_turns", (STORE.load(sid, "vision") or {}).get("turns", []))
    STORE.save(sid, "vision", {"turns": ss["vision_turns"]})
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any, Callable

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
KEY_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def is_valid_id(session_id: object) -> bool:
    """True for an id `new_id()` could have made (url-safe, 16–64 characters).

    >>> is_valid_id("../../etc/passwd"), is_valid_id(SessionStore.new_id())
    (False, True)
    """
    return isinstance(session_id, str) and ID_PATTERN.fullmatch(session_id) is not None


class SessionStore:
    """Per-session JSON values, the oldest sessions evicted beyond `max_sessions`, entries expiring after `max_age_s`.

    >>> store = SessionStore()
    >>> sid = store.new_id()
    >>> store.save(sid, "tools", {"turns": [{"question": "Hi"}]})
    True
    >>> store.load(sid, "tools")
    {'turns': [{'question': 'Hi'}]}
    """

    def __init__(
        self,
        max_sessions: int = 200,
        max_bytes_per_session: int = 2_000_000,
        max_age_s: float = 6 * 3600,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_sessions < 1 or max_bytes_per_session < 1 or max_age_s <= 0:
            raise ValueError("max_sessions, max_bytes_per_session and max_age_s must be positive")
        self.max_sessions = max_sessions
        self.max_bytes_per_session = max_bytes_per_session
        self.max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        # session id -> (last used, {key: (saved at, json text)}); least recently used first
        self._sessions: OrderedDict[str, tuple[float, dict[str, tuple[float, str]]]] = OrderedDict()

    @staticmethod
    def new_id() -> str:
        """A fresh url-safe random id (22 characters, 128 bits)."""
        return secrets.token_urlsafe(16)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def _expire(self, now: float) -> None:
        for sid in list(self._sessions):
            _, entries = self._sessions[sid]
            for key in [k for k, (saved, _) in entries.items() if now - saved > self.max_age_s]:
                del entries[key]
            if not entries:
                del self._sessions[sid]

    def save(self, session_id: str, key: str, value: dict[str, Any]) -> bool:
        """Keep `value` (a JSON-able dict) for this session; False (and nothing kept) for a bad id or key, or when
        the session would exceed `max_bytes_per_session` — then any older value under `key` is dropped too, so
        `load()` never returns an outdated conversation.

        Raises TypeError/ValueError for a value that is not a JSON-able dict (a programming error).
        """
        if not isinstance(value, dict):
            raise TypeError(f"SessionStore.save() needs a dict, not {type(value).__name__}")
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        if not is_valid_id(session_id) or not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            return False
        size = len(text.encode("utf-8", "surrogatepass"))
        with self._lock:
            now = self._clock()
            self._expire(now)
            _, entries = self._sessions.pop(session_id, (now, {}))
            others = sum(len(t.encode("utf-8", "surrogatepass")) for k, (_, t) in entries.items() if k != key)
            if size + others > self.max_bytes_per_session:
                entries.pop(key, None)
                if entries:
                    self._sessions[session_id] = (now, entries)
                return False
            entries[key] = (now, text)
            self._sessions[session_id] = (now, entries)
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
            return True

    def load(self, session_id: str, key: str) -> dict[str, Any] | None:
        """A fresh copy of what was saved, or None (unknown or invalid id, unknown key, or older than max_age_s)."""
        if not is_valid_id(session_id) or not isinstance(key, str):
            return None
        with self._lock:
            now = self._clock()
            self._expire(now)
            held = self._sessions.get(session_id)
            if held is None or key not in held[1]:
                return None
            self._sessions[session_id] = (now, held[1])
            self._sessions.move_to_end(session_id)
            text = held[1][key][1]
        return json.loads(text)

    def delete(self, session_id: str, key: str | None = None) -> None:
        """Forget one value, or the whole session when `key` is None."""
        with self._lock:
            held = self._sessions.get(session_id) if isinstance(session_id, str) else None
            if held is None:
                return
            if key is None:
                del self._sessions[session_id]
            else:
                held[1].pop(key, None)
                if not held[1]:
                    del self._sessions[session_id]

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._sessions.clear()


STORE = SessionStore()
"""Shared by every session of this server process (on purpose: a reload is a new session)."""
