"""Session state that outlives a page switch and a browser reload, kept to the browser it belongs to.

- `keep(key, default)`: Streamlit drops a widget's value when a page without that widget runs (visiting Home).
  Call `keep` before creating the widget with `key=`; its value is mirrored in `_kept` and restored on return.
- `session_id()` / `save()` / `load()`: an id in the URL (`?s=…`) and the server-side `lib.common.session_store.STORE`
  (bounded per session, per client and in total), so a reload brings both conversations back. The id is bound to a
  secret the browser keeps in a cookie (`COOKIE`, set once by `plant_cookie()`); an address opened in another
  browser, or a link with someone else's id, gets a fresh page and a one-line note (`restore_note()`).
- `share()` / `unshare()` / `shared()`: a separate, read-only, revocable link (`?view=…`), made only on request.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from lib.common.session_store import (
    STORE, is_valid_id, is_valid_secret, made_before_restart, owned_by, owner_of,
)

COOKIE = "llama_herd_browser"
COOKIE_DAYS = 30
SHARE_PARAM = "view"
_KEPT = "_kept"
NOTE_FOREIGN = "That address is another browser's conversation, so this is a fresh page (to show one: Share)."
NOTE_RESTARTED = "The server restarted since this tab was open: its earlier conversation couldn't be restored."


def keep(key: str, default: Any = None) -> None:
    """Restore `key` (a widget key) from the mirror if the widget's value was dropped; record it otherwise."""
    ss = st.session_state
    kept: dict[str, Any] = ss.setdefault(_KEPT, {})
    if key not in ss:
        ss[key] = kept.get(key, default)
    kept[key] = ss[key]


def _run_context() -> Any:
    """This run's Streamlit run context (None outside a browser session). Streamlit has no public calls for what
    `fragment_rerun` and `rerun_waiting` read from it."""
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

        return get_script_run_ctx(suppress_warning=True)
    except Exception:  # noqa: BLE001 - a Streamlit without it: as outside a session
        return None


def fragment_rerun() -> bool:
    """Whether this run reruns a fragment alone, not the whole page (False outside a browser session)."""
    return bool(getattr(_run_context(), "fragment_ids_this_run", None))


def rerun_waiting() -> bool:
    """Whether a click has asked for another run while this one runs. A click on a widget of a fragment (the tool
    page's Stop) doesn't interrupt that fragment's run: Streamlit 1.67 queues it
    (`script_requests._fragment_run_should_not_preempt_script`), so a live answer checks this between its pieces
    and ends itself, as a click anywhere else ends it. The run context's pending request is read (False when that
    can't be read)."""
    try:
        from streamlit.runtime.scriptrunner_utils.script_requests import ScriptRequestType
    except Exception:  # noqa: BLE001 - a Streamlit without it: clicks end the run as Streamlit decides
        return False
    requests = getattr(_run_context(), "script_requests", None)
    return getattr(requests, "_state", None) == ScriptRequestType.RERUN


def remember(key: str) -> None:
    """Record a widget's current value in the mirror (call after the widget, so a change this run is kept)."""
    ss = st.session_state
    if key in ss:
        ss.setdefault(_KEPT, {})[key] = ss[key]


def _cookie() -> str | None:
    """The browser's secret as its cookie sent it when this session connected (None outside a browser)."""
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - outside a browser session (AppTest, bare mode)
        return None
    return value if isinstance(value, str) else None


def browser_secret() -> str:
    """This browser's secret: its cookie's, or a new one that `plant_cookie()` hands to the browser."""
    ss = st.session_state
    if "_browser" not in ss:
        cookie = _cookie()
        if is_valid_secret(cookie):
            ss["_browser"] = cookie
        else:
            ss["_browser"], ss["_browser_new"] = STORE.new_secret(), True
    return ss["_browser"]


def plant_cookie() -> None:
    """Give the browser its secret (once, on its first visit): a first-party cookie set by a tiny script, kept for
    30 days, SameSite=Strict (Secure over https). An existing cookie is never replaced: a second tab opened at the
    very first visit keeps the first one's."""
    ss = st.session_state
    if not ss.get("_browser_new"):
        return
    secret = browser_secret()
    assert is_valid_secret(secret)  # url-safe characters only: nothing to escape in the script
    script = (
        "<script>(function(){var n=%s,v=%s;"
        "if(document.cookie.split('; ').some(function(c){return c.indexOf(n+'=')===0;}))return;"
        "document.cookie=n+'='+v+'; path=/; max-age=%d; SameSite=Strict'"
        "+(location.protocol==='https:'?'; Secure':'');})();</script>"
    ) % (json.dumps(COOKIE), json.dumps(secret), COOKIE_DAYS * 86400)
    with st.container(key="browser_cookie", height=1, border=False):
        st.html(script, unsafe_allow_javascript=True)


def session_id() -> str:
    """This tab's id: the URL's when this browser made it, else a new one (bound to this browser) in the URL."""
    ss = st.session_state
    if "_sid" not in ss:
        secret = browser_secret()
        sid = st.query_params.get("s")
        if owned_by(sid, secret):
            if made_before_restart(sid) and not STORE.knows(sid):
                ss["_restore_note"] = NOTE_RESTARTED
        else:
            if is_valid_id(sid):
                ss["_restore_note"] = NOTE_FOREIGN
            sid = STORE.new_id(secret)
        ss["_sid"] = sid
    if st.query_params.get("s") != ss["_sid"]:
        st.query_params["s"] = ss["_sid"]
    return ss["_sid"]


def restore_note() -> str | None:
    """Once per session: why this tab did not get a conversation back (another browser's address, a restart)."""
    session_id()
    return st.session_state.pop("_restore_note", None)


def _client() -> str:
    """Who is saving, for the store's per-client bounds: the visitor's address (behind a reverse proxy, the one the
    proxy appended last to X-Forwarded-For, which the visitor can't choose), else the browser."""
    try:
        ip = st.context.ip_address
        forwarded = st.context.headers.get("X-Forwarded-For")
    except Exception:  # noqa: BLE001 - outside a browser session
        ip, forwarded = None, None
    ip = ip if isinstance(ip, str) else None
    if isinstance(forwarded, str) and forwarded.strip() and (ip is None or ip.startswith("127.") or ip == "::1"):
        ip = forwarded.split(",")[-1].strip()[:64] or ip
    return f"ip:{ip}" if ip else f"browser:{owner_of(browser_secret())}"


def save(name: str, value: dict[str, Any], blob: bytes | None = None) -> bool:
    """Keep `value` (JSON-able) and an optional `blob` (a photo) on the server under this tab's id, for a reload."""
    if shared_view() is not None:
        return False  # a read-only view writes nothing
    try:
        return STORE.save(session_id(), name, value, client=_client(), blob=blob)
    except (TypeError, ValueError):
        return False


def load(name: str) -> dict[str, Any] | None:
    """What `save` kept for this tab, or None."""
    return STORE.load(session_id(), name)


def load_blob(name: str) -> bytes | None:
    """The blob `save` kept with it, or None."""
    return STORE.load_blob(session_id(), name)


def share(name: str) -> str | None:
    """A read-only link's token for this tab's `name` conversation (made on request; the same one until revoked)."""
    return STORE.share(session_id(), name)


def share_token(name: str) -> str | None:
    """This tab's live share token for `name`, if it is shared."""
    return STORE.share_token(session_id(), name)


def unshare(name: str) -> None:
    """Revoke this tab's share link for `name`: whoever has it sees nothing from now on."""
    STORE.unshare(session_id(), name)


def shared_view() -> str | None:
    """The share token in the URL (`?view=…`) when this page is opened as someone's read-only shared conversation."""
    token = st.query_params.get(SHARE_PARAM)
    return token if isinstance(token, str) and is_valid_id(token) else None


def shared(token: str) -> tuple[dict[str, Any], bytes | None] | None:
    """What a share token shows right now, or None (revoked, expired, never made)."""
    return STORE.shared(token)
