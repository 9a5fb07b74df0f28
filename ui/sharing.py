"""Sharing a conversation on purpose: a "Share" popover that makes a read-only, revocable link, and the read-only
view that link opens (`?view=<token>`).

The page address (`?s=…`) is bound to its browser (ui/state.py) and opens a fresh page anywhere else; a share link
is the only way another browser sees a conversation. It shows the conversation as it is now (it follows new turns),
writes nothing, offers no input, and stops working the moment its owner clicks "Stop sharing" (or the conversation
expires from the server's store).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import streamlit as st

from lib.vision import conversation as vs
from lib.common.safe_text import as_text, display_markdown
from lib.answers.transcript import TranscriptError, tool_turns_from_transcript
from ui import state
from ui.tool_views import render_turn

Page = Literal["tools", "vision"]
_URL_PATH = {"tools": "tool_calling", "vision": "vision"}


def share_link(page: Page, token: str) -> str:
    """The absolute read-only link for `token` on `page` (the address the browser shows, without its query)."""
    try:
        url = st.context.url or ""
    except Exception:  # noqa: BLE001 - outside a browser session
        url = ""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return f"/{_URL_PATH[page]}?{state.SHARE_PARAM}={token}"
    path = parts.path.rstrip("/")
    if not path.endswith("/" + _URL_PATH[page]):
        path = f"{path}/{_URL_PATH[page]}" if path else f"/{_URL_PATH[page]}"
    return urlunsplit((parts.scheme, parts.netloc, path, f"{state.SHARE_PARAM}={token}", ""))


def share_controls(page: Page, *, disabled: bool = False) -> None:
    """A "Share" popover: make a read-only link to this conversation, copy it, or stop sharing (revokes it).

    The buttons act in callbacks (before the page is drawn), so the popover stays open and shows the result at once.
    """
    token = state.share_token(page)
    with st.popover("Share", icon=":material/share:", type="tertiary", disabled=disabled, key=f"share_box_{page}",
                    help="Shared: anyone with the link can read this conversation" if token else None):
        if token is None:
            st.caption("Anyone with the link can read this conversation (not change it), as it grows, until you "
                       "stop sharing. The page address itself only works in this browser.")
            st.button("Make a read-only link", key=f"share_make_{page}", icon=":material/link:",
                      on_click=_make, args=(page,))
            if st.session_state.pop(f"share_nothing_{page}", False):
                st.warning("Nothing to share yet: ask something first.")
        else:
            st.caption("Read-only link (copy it with the button on its right):")
            st.code(share_link(page, token), language=None, wrap_lines=True)
            st.button("Stop sharing", key=f"share_stop_{page}", icon=":material/link_off:", on_click=state.unshare,
                      args=(page,), help="The link stops working at once; a new one can be made later.")


def _make(page: Page) -> None:
    if state.share(page) is None:
        st.session_state[f"share_nothing_{page}"] = True


def show_shared_view(page: Page) -> bool:
    """On a `?view=` address: draw the shared conversation read-only and return True (the page then stops)."""
    token = state.shared_view()
    if token is None:
        return False
    found = state.shared(token)
    st.title("Shared conversation" if page == "tools" else "Shared photo conversation")
    if found is None:
        st.info("This link no longer works: its owner stopped sharing, or the conversation expired.", icon="🔒")
        st.page_link(f"pages/{'tool_calling' if page == 'tools' else 'vision'}.py", label="Start your own",
                     icon=":material/arrow_forward:")
        return True
    st.caption("Read-only: you see this conversation as its owner shared it, live. Nothing here can change it.")
    data, blob = found
    if page == "tools":
        _tools(data)
    else:
        _vision(data, blob)
    return True


def _tools(data: dict) -> None:
    try:
        turns = tool_turns_from_transcript(data) if data else []
    except (TranscriptError, KeyError, TypeError, ValueError):
        turns = []
    if not turns:
        st.info("Nothing has been asked in this conversation yet.", icon="💬")
    for i, turn in enumerate(turns):
        render_turn(turn, i, latest=False)


def _vision(data: dict, blob: bytes | None) -> None:
    view: dict = {}
    vs.init_state(view)
    if vs.restore(view, data, blob) is None:
        st.info("Nothing has been asked about a photo here yet.", icon="📷")
        return
    image: vs.CurrentImage | None = view[vs.IMAGE]
    left, right = st.columns([2, 3], gap="large")
    with left:
        if image is not None:
            st.image(image.master.data, width="stretch")
            st.caption(f"{as_text(image.name)} · {image.master.width}×{image.master.height}")
    with right:
        for i, (role, text) in enumerate(view[vs.TURNS]):
            with st.chat_message(role, avatar="🦙" if role == "assistant" else None):
                st.markdown(display_markdown(text) if text else "*No text arrived before it stopped.*")
                if i in view[vs.META]:
                    st.caption(as_text(view[vs.META][i]))
