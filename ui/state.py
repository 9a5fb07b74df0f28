"""Session state that outlives a page switch and a browser reload.

- `keep(key, default)`: Streamlit drops a widget's value when a page without that widget runs (visiting Home).
  Call `keep` before creating the widget with `key=`; its value is mirrored in `_kept` and restored on return.
- `session_id()` / `save()` / `load()`: a random id in the URL (`?s=…`) and the server-side `lib.session_store.STORE`
  (bounded by sessions, bytes and age), so a reload brings both conversations back.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from lib.session_store import STORE, is_valid_id

_KEPT = "_kept"


def keep(key: str, default: Any = None) -> None:
    """Restore `key` (a widget key) from the mirror if the widget's value was dropped; record it otherwise."""
    ss = st.session_state
    kept: dict[str, Any] = ss.setdefault(_KEPT, {})
    if key not in ss:
        ss[key] = kept.get(key, default)
    kept[key] = ss[key]


def remember(key: str) -> None:
    """Record a widget's current value in the mirror (call after the widget, so a change this run is kept)."""
    ss = st.session_state
    if key in ss:
        ss.setdefault(_KEPT, {})[key] = ss[key]


def session_id() -> str:
    """This browser tab's id: from the URL when it is valid, else a new one written to the URL."""
    ss = st.session_state
    if "_sid" not in ss:
        sid = st.query_params.get("s")
        if not is_valid_id(sid):
            sid = STORE.new_id()
        ss["_sid"] = sid
    if st.query_params.get("s") != ss["_sid"]:
        st.query_params["s"] = ss["_sid"]
    return ss["_sid"]


def save(name: str, value: dict[str, Any]) -> bool:
    """Keep `value` (JSON-able) on the server under this tab's id, for a reload."""
    try:
        return STORE.save(session_id(), name, value)
    except (TypeError, ValueError):
        return False


def load(name: str) -> dict[str, Any] | None:
    """What `save` kept for this tab, or None."""
    return STORE.load(session_id(), name)
